"""lp-ft: linear probe first, then full fine-tuning (Kumar et al., ICLR 2022).

Training the head on frozen features first means the full fine-tuning phase starts from a sensible
head, so its gradients distort the pretrained features less than a random head would.
"""
from ..errors import ConfigError
from .base import Phase, Strategy, freeze_all_but
from .head import Head


class LinearProbeThenFinetune(Strategy):
    name = "lp-ft"
    summary = "Head-only training first (a share of the steps), then every parameter trains."
    when = "Full fine-tuning that keeps more of the pretrained features; good under distribution shift."
    default_lr = 1e-4  # bench/RESULTS.md: LR sweep on the docstrings preset
    task_kinds = ("text-classification",)
    option_defaults = {"probe_fraction": 0.3, "probe_lr": Head.default_lr}
    option_docs = {"probe_fraction": "share of the steps spent on the linear-probe phase",
                   "probe_lr": "learning rate of the linear-probe phase"}

    def validate_options(self) -> None:
        f = self.options["probe_fraction"]
        if not isinstance(f, (int, float)) or not 0 < f < 1:
            raise ConfigError(f"lp-ft: probe_fraction must be between 0 and 1, got {f!r}")
        if not isinstance(self.options["probe_lr"], (int, float)) or self.options["probe_lr"] <= 0:
            raise ConfigError("lp-ft: probe_lr must be positive")

    def phases(self, total_steps: int) -> list[Phase]:
        cut = min(max(1, round(total_steps * self.options["probe_fraction"])), total_steps - 1)
        return [Phase("linear-probe", 0, cut, float(self.options["probe_lr"])),
                Phase("fine-tune", cut, total_steps, self.lr)]

    def prepare(self, model) -> None:
        freeze_all_but(model, [model.head])

    def enter_phase(self, model, phase: Phase) -> None:
        if phase.name == "linear-probe":
            freeze_all_but(model, [model.head])
        else:
            for p in model.parameters():
                p.requires_grad_(True)
