"""lora: low-rank adapters (PEFT) on every linear layer of the blocks; the base stays frozen.

Biderman et al. (2024) found LoRA "learns less and forgets less" than full fine-tuning and that it
wants a ~10× higher learning rate; alpha = 2·r and targeting all linear layers work best there.
"""
from dataclasses import dataclass

from training.core.strategies.base import Options, Strategy, number
from training.errors import ConfigError


@dataclass
class LoRAOptions(Options):
    r: int = 16
    """adapter rank (1–4096): more capacity, more trainable parameters"""
    alpha: float | None = None
    """scaling numerator (default 2·r, as Biderman et al. 2024 recommend)"""
    dropout: float = 0.05
    """dropout on the adapter input, in [0, 1)"""
    targets: str | list[str] = "all-linear"
    """module names to adapt, or all-linear (every linear layer of the blocks; for images, every linear layer and
    dense convolution)"""

    def check(self, strategy: str) -> None:
        if not isinstance(self.r, int) or isinstance(self.r, bool) or not 1 <= self.r <= 4096:
            raise ConfigError(f"{strategy}: r must be a whole number from 1 to 4096, got {self.r!r}")
        if self.alpha is not None and (not number(self.alpha) or self.alpha <= 0):
            raise ConfigError(f"{strategy}: alpha must be a positive number (or null for 2·r), got {self.alpha!r}")
        if not number(self.dropout) or not 0 <= self.dropout < 1:
            raise ConfigError(f"{strategy}: dropout must be a number in [0, 1), got {self.dropout!r}")
        names = isinstance(self.targets, list) and self.targets and all(isinstance(t, str) for t in self.targets)
        if self.targets != "all-linear" and not names:
            raise ConfigError(f"{strategy}: targets must be all-linear or a list of module names, got {self.targets!r}")


class LoRA(Strategy):
    name = "lora"
    summary = ("Base frozen; small low-rank adapters on every linear layer (and dense convolution, for images) and the "
               "classifier head train.")
    when = "Most of full fine-tuning's gain for a fraction of the trainable parameters and optimizer memory; forgets less."
    default_lr = 1e-3  # bench/RESULTS.md: LR sweep on the docstrings preset
    options_class = LoRAOptions

    def lora_config(self, backbone=None):
        from peft import LoraConfig

        o = self.options
        targets = o.targets
        if backbone is not None:  # the task kind knows what its layers are (a CNN's weights are convolutions)
            targets = self.kind.lora_targets(backbone, targets)
        return LoraConfig(r=o.r, lora_alpha=o.alpha or 2 * o.r, lora_dropout=o.dropout, target_modules=targets,
                          bias="none")

    def prepare(self, model) -> None:
        from peft import get_peft_model

        for p in model.parameters():
            p.requires_grad_(False)
        model.backbone = get_peft_model(model.backbone, self.lora_config(model.backbone))
        if not self.kind.language_model:  # a new task needs a new head, trained in full; an LM keeps its own
            for p in model.head.parameters():
                p.requires_grad_(True)

