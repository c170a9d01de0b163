"""own: the model an engineer would build to "train our own" — random weights, but not the pretrained model's
tokenizer or size. Its processor is fitted on the run's own training data and its architecture sized to it by a stated
rule (text: a WordPiece tokenizer fitted on the run's training texts and a small encoder; images: a small convolutional
network for the input's size) — the task kind builds it (`TaskKind.own_base`). Beside the controlled `scratch` (same
architecture and tokenizer as the base: what the pretrained *weights* are worth), this is what training your own
would really give. Its regularisation (dropout) is searched with its learning rate.
"""
from dataclasses import dataclass
from typing import ClassVar

from training.core.strategies.base import Options, Strategy, number
from training.errors import ConfigError

MAX_WIDTH = 4096


@dataclass
class OwnOptions(Options):
    dropout: float | None = None
    """dropout of the network, in [0, 1); null: searched with the learning rate (0.1 and 0.3)"""
    width: int | None = None
    """override the sizing rule's width (text: embedding/hidden size; images: the first stage's channels)"""
    layers: int | None = None
    """override the sizing rule's depth (text: transformer layers above the embeddings, 0 = a bag of token
    embeddings; images: residual blocks per stage)"""
    vocab_size: int | None = None
    """text: the most word pieces the fitted tokenizer keeps (default 30,000; it keeps fewer when the texts have fewer
    pieces seen twice)"""

    def check(self, strategy: str) -> None:
        if self.dropout is not None and (not number(self.dropout) or not 0 <= self.dropout < 1):
            raise ConfigError(f"{strategy}: dropout must be a number in [0, 1) or null (searched), got {self.dropout!r}")
        for name, low, high in (("width", 8, MAX_WIDTH), ("layers", 0, 48), ("vocab_size", 100, 1_000_000)):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high):
                raise ConfigError(f"{strategy}: {name} must be a whole number from {low:,} to {high:,} or null (the "
                                  f"sizing rule), got {v!r}")


class Own(Strategy):
    name = "own"
    summary = ("Our own model, as an engineer would build it: random weights, a tokenizer fitted on your training texts "
               "and a network sized to your data (images: a small convolutional network); every parameter trains.")
    when = ("What \"train our own\" would really give on this data — the fair opponent of fine-tuning. The controlled "
            "scratch (the pretrained model's architecture and tokenizer) measures what the pretrained weights are worth.")
    default_lr = 3e-3  # centre of its search (1e-3, 3e-3, 9e-3): LOG.md 2026-12-07, review sentences and tweets
    pretrained = False
    plateau_default = True  # from random weights, like scratch: train until validation stops improving
    own_model = True
    options_class = OwnOptions
    searched: ClassVar[dict[str, tuple]] = {"dropout": (0.1, 0.3)}
    """Options the learning-rate search tries with each rate where the user set none (the regularisation)."""

    def model_config(self, cfg):
        import dataclasses

        return cfg if self.options.dropout is None else dataclasses.replace(cfg, dropout=self.options.dropout)
