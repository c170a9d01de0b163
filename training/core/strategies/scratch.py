"""scratch: the base's architecture, config and tokenizer with random weights; everything trains."""
from training.core.strategies.base import Strategy


class Scratch(Strategy):
    name = "scratch"
    summary = "Same architecture (and tokenizer, for text) as the base, random initial weights; every parameter trains."
    when = "The baseline fine-tuning must beat; worth it only with a lot of in-domain data or a domain the base never saw."
    default_lr = 3e-4  # centre of its search (1e-4, 3e-4, 9e-4): LOG.md 2026-11-24, tweets and docstrings
    pretrained = False
    plateau_default = True  # random weights need many more steps than fine-tuning; train until val loss stops improving
