"""The strategy interface: what trains, in which parameter groups, at what learning rate.

A strategy never contains a training loop. The one loop (`training.loop`) asks it to `prepare` the
model (freeze, add adapters), for its `phases` (LP-FT has two) and, per phase, for optimizer parameter
groups. Defaults are class attributes so the app can show them without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..config import StrategyConfig
from ..errors import ConfigError

TASKS_ALL = ("text-classification", "causal-lm")


@dataclass
class Phase:
    name: str
    start: int
    """First optimizer step of the phase (inclusive)."""
    end: int
    """Step after the last one (exclusive)."""
    lr: float


class Strategy:
    name: ClassVar[str]
    summary: ClassVar[str]
    """What trains."""
    when: ClassVar[str]
    """When to pick it."""
    default_lr: ClassVar[float]
    """Peak LR chosen by measurement on the built-in presets (see LOG.md)."""
    task_kinds: ClassVar[tuple[str, ...]] = TASKS_ALL
    pretrained: ClassVar[bool] = True
    """Starts from the base model's weights (False: same architecture, random weights)."""
    needs_cuda: ClassVar[bool] = False
    cache_features: ClassVar[bool] = False
    """The encoder is frozen for the whole run: encode the data once, train only the head."""
    plateau_default: ClassVar[bool] = False
    """Trains until its validation loss plateaus by default (see `StrategyConfig.until_plateau`)."""
    option_docs: ClassVar[dict[str, str]] = {}
    option_defaults: ClassVar[dict] = {}

    def __init__(self, cfg: StrategyConfig, task: str):
        if task not in self.task_kinds:
            raise ConfigError(f"strategy {self.name!r} does not apply to task {task!r}; it works for: "
                              f"{', '.join(self.task_kinds)}")
        unknown = sorted(set(cfg.options) - set(self.option_defaults))
        if unknown:
            known = ", ".join(self.option_defaults) or "none"
            raise ConfigError(f"strategy {self.name!r} has no option {unknown[0]!r}; its options are: {known}")
        self.cfg = cfg
        self.task = task
        self.options = {**self.option_defaults, **cfg.options}
        self.lr = cfg.lr if cfg.lr is not None else self.default_lr
        self.until_plateau = cfg.until_plateau if cfg.until_plateau is not None else self.plateau_default
        self.validate_options()

    def validate_options(self) -> None:
        """Check option values (raise ConfigError naming the fix)."""

    def check_available(self, device_type: str) -> None:
        """Raise DeviceError when this machine cannot run the strategy (QLoRA without CUDA). Default: anything runs."""

    def load_kwargs(self) -> dict:
        """Extra keyword arguments for from_pretrained (QLoRA's 4-bit quantisation)."""
        return {}

    def prepare(self, model) -> None:
        """Set requires_grad (and add adapters) on the model, in place. Default: everything trains."""
        for p in model.parameters():
            p.requires_grad_(True)

    def phases(self, total_steps: int) -> list[Phase]:
        return [Phase("train", 0, total_steps, self.lr)]

    def enter_phase(self, model, phase: Phase) -> None:
        """Change what trains at a phase boundary (LP-FT)."""

    def param_groups(self, model, phase: Phase, weight_decay: float) -> list[dict]:
        """Optimizer parameter groups for the phase; default one LR, decay only on matrices."""
        return decay_groups([p for p in model.parameters() if p.requires_grad], phase.lr, weight_decay)

    @classmethod
    def describe(cls) -> dict:
        return {"name": cls.name, "summary": cls.summary, "when": cls.when, "default_lr": cls.default_lr,
                "task_kinds": list(cls.task_kinds), "options": dict(cls.option_defaults),
                "until_plateau": cls.plateau_default,
                "option_docs": dict(cls.option_docs), "needs_cuda": cls.needs_cuda}


def decay_groups(params, lr: float, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only: biases, norms and 1-d parameters are not decayed."""
    params = _unique(params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = []
    if decay:
        groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    return groups


def _unique(params) -> list:
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def freeze_all_but(model, trainable_modules) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    for m in trainable_modules:
        for p in m.parameters():
            p.requires_grad_(True)
