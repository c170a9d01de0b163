"""lp-ft: linear probe first, then full fine-tuning (Kumar et al., ICLR 2022).

Training the head on frozen features first means the full fine-tuning phase starts from a sensible
head, so its gradients distort the pretrained features less than a random head would.
"""
from dataclasses import dataclass

from training.core.strategies.base import Options, Phase, Strategy, freeze_all_but, number
from training.core.strategies.head import Head
from training.errors import ConfigError


@dataclass
class LPFTOptions(Options):
    probe_fraction: float = 0.3
    """share of the steps spent on the linear-probe phase, between 0 and 1"""
    probe_lr: float | None = None
    """learning rate of the linear-probe phase (default: head's for the task)"""

    def check(self, strategy: str) -> None:
        if not number(self.probe_fraction) or not 0 < self.probe_fraction < 1:
            raise ConfigError(f"{strategy}: probe_fraction must be between 0 and 1, got {self.probe_fraction!r}")
        if self.probe_lr is not None and (not number(self.probe_lr) or self.probe_lr <= 0):
            raise ConfigError(f"{strategy}: probe_lr must be a positive number, got {self.probe_lr!r}")


class LinearProbeThenFinetune(Strategy):
    name = "lp-ft"
    summary = "Head-only training first (a share of the steps), then every parameter trains."
    when = "Full fine-tuning that keeps more of the pretrained features; good under distribution shift."
    default_lr = 1e-4  # bench/RESULTS.md: LR sweep on the docstrings preset
    options_class = LPFTOptions

    def phases(self, total_steps: int) -> list[Phase]:
        cut = min(max(1, round(total_steps * self.options.probe_fraction)), total_steps - 1)
        probe_lr = self.options.probe_lr if self.options.probe_lr is not None else Head.lr_for(self.kind)
        return [Phase("linear-probe", 0, cut, float(probe_lr)),
                Phase("fine-tune", cut, total_steps, self.lr)]

    def prepare(self, model) -> None:
        freeze_all_but(model, [model.head])

    def enter_phase(self, model, phase: Phase) -> None:
        if phase.name == "linear-probe":
            freeze_all_but(model, [model.head])
        else:
            for p in model.parameters():
                p.requires_grad_(True)
