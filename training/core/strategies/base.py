"""The strategy interface: what trains, in which parameter groups, at what learning rate.

A strategy never contains a training loop. The one loop (`training.core.loop`) asks it to `prepare` the
model (freeze, add adapters), for its `phases` (LP-FT has two) and, per phase, for optimizer parameter
groups. Defaults are class attributes so the app can show them without importing torch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from training.config import StrategyConfig, field_docs
from training.errors import ConfigError


@dataclass
class Options:
    """A strategy's options, declared as a dataclass (one documented field each, as PEFT's LoraConfig does);
    `check` validates the values and names the fix. This base has none."""

    def check(self, strategy: str) -> None:
        """Raise ConfigError naming the fix when a value is out of range or of the wrong type."""


def number(x) -> bool:
    """A real, finite number (not a bool, not a string that looks like one)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


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
    """Peak LR chosen by measurement on the built-in presets (see LOG.md). A task kind may measure its own instead
    (`TaskKind.default_lrs`: image networks with batch norm want higher rates than transformers); the learning-rate
    search is centred on it."""
    pretrained: ClassVar[bool] = True
    """Starts from the base model's weights (False: same architecture, random weights)."""
    needs_cuda: ClassVar[bool] = False
    cache_features: ClassVar[bool] = False
    """The encoder is frozen for the whole run: encode the data once, train only the head."""
    plateau_default: ClassVar[bool] = False
    """Trains until its validation loss plateaus by default (see `StrategyConfig.until_plateau`)."""
    options_class: ClassVar[type[Options]] = Options
    """The strategy's options dataclass; `StrategyConfig.options` fills it."""
    own_model: ClassVar[bool] = False
    """The run's model and processor are built from its own training data by the task kind (`TaskKind.own_base`): a
    tokenizer fitted on its texts and an architecture sized to them, instead of the base model's."""
    searched: ClassVar[dict[str, tuple]] = {}
    """Options the learning-rate search tries with each rate (a regularisation), where the user set none."""

    def __init__(self, cfg: StrategyConfig, kind):
        """`kind`: the task kind (`training.tasks.TaskKind`), which says whether the strategy applies (and why not),
        its default learning rate there, and what LoRA wraps."""
        why = kind.refusal(self.name)
        if why:
            raise ConfigError(f"strategy {self.name!r} does not apply to task {kind.name!r}: {why}")
        names = [f.name for f in dataclasses.fields(self.options_class)]
        unknown = sorted(set(cfg.options) - set(names))
        if unknown:
            raise ConfigError(f"strategy {self.name!r} has no option {unknown[0]!r}; its options are: "
                              f"{', '.join(names) or 'none'}")
        self.cfg = cfg
        self.kind = kind
        self.task = kind.name
        self.options = self.options_class(**cfg.options)
        self.options.check(self.name)
        self.default_lr = self.lr_for(kind)
        self.lr = cfg.lr if cfg.lr is not None else self.default_lr
        self.until_plateau = cfg.until_plateau if cfg.until_plateau is not None else self.plateau_default

    def search_options(self) -> list[dict]:
        """The option settings the learning-rate search tries with each rate: every combination of `searched` values
        for the options the user left unset ([{}]: the rate alone)."""
        grid: list[dict] = [{}]
        for name, values in self.searched.items():
            if self.cfg.options.get(name) is None:
                grid = [{**g, name: v} for g in grid for v in values]
        return grid

    def model_config(self, cfg):
        """The model config a run of this strategy builds with (`training.config.ModelConfig`): the experiment's, unless
        the strategy's options set part of it (own's dropout)."""
        return cfg

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
    def lr_for(cls, kind) -> float:
        """The default (search-centre) learning rate for a task kind."""
        return kind.default_lr(cls.name, cls.default_lr)

    @classmethod
    def describe(cls) -> dict:
        return {"name": cls.name, "summary": cls.summary, "when": cls.when, "default_lr": cls.default_lr,
                "options": dataclasses.asdict(cls.options_class()),
                "until_plateau": cls.plateau_default, "option_docs": option_docs(cls.options_class),
                "needs_cuda": cls.needs_cuda}


def option_docs(options_class: type) -> dict[str, str]:
    """The docstring under each field of an options dataclass (its own fields and those it inherits)."""
    docs = {}
    for klass in reversed(options_class.__mro__):
        if dataclasses.is_dataclass(klass) and klass is not Options:
            docs.update(field_docs(klass))
    return docs


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
