"""lora: low-rank adapters (PEFT) on every linear layer of the blocks; the base stays frozen.

Biderman et al. (2024) found LoRA "learns less and forgets less" than full fine-tuning and that it
wants a ~10× higher learning rate; alpha = 2·r and targeting all linear layers work best there.
"""
from ..errors import ConfigError
from .base import Strategy


class LoRA(Strategy):
    name = "lora"
    summary = "Base frozen; small low-rank adapters on every linear layer (and the classifier head) train."
    when = "Most of full fine-tuning's gain for a fraction of the trainable parameters and optimizer memory; forgets less."
    default_lr = 1e-3  # bench/RESULTS.md: LR sweep on the docstrings preset
    option_defaults = {"r": 16, "alpha": None, "dropout": 0.05, "targets": "all-linear"}
    option_docs = {"r": "adapter rank", "alpha": "scaling numerator (default 2·r)",
                   "dropout": "dropout on the adapter input",
                   "targets": "module names to adapt, or all-linear"}

    def validate_options(self) -> None:
        r, alpha, dropout, targets = (self.options[k] for k in ("r", "alpha", "dropout", "targets"))
        if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= 4096:
            raise ConfigError(f"{self.name}: r must be a whole number from 1 to 4096, got {r!r}")
        if alpha is not None and (not _number(alpha) or alpha <= 0):
            raise ConfigError(f"{self.name}: alpha must be a positive number (or null for 2·r), got {alpha!r}")
        if not _number(dropout) or not 0 <= dropout < 1:
            raise ConfigError(f"{self.name}: dropout must be a number in [0, 1), got {dropout!r}")
        if not (targets == "all-linear" or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets))):
            raise ConfigError(f"{self.name}: targets must be all-linear or a list of module names, got {targets!r}")

    def lora_config(self):
        from peft import LoraConfig

        r = self.options["r"]
        return LoraConfig(r=r, lora_alpha=self.options["alpha"] or 2 * r, lora_dropout=self.options["dropout"],
                          target_modules=self.options["targets"], bias="none")

    def prepare(self, model) -> None:
        from peft import get_peft_model

        for p in model.parameters():
            p.requires_grad_(False)
        model.backbone = get_peft_model(model.backbone, self.lora_config())
        if self.task == "text-classification":  # a new task needs a new head, trained in full
            for p in model.head.parameters():
                p.requires_grad_(True)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")
