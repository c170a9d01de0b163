"""full: start from the pretrained weights and train every parameter."""
from training.core.strategies.base import Strategy


class Full(Strategy):
    name = "full"
    summary = "Pretrained weights; every parameter trains."
    when = "Usually the strongest on the new task; costs the most memory and forgets the most."
    default_lr = 1e-4  # bench/RESULTS.md: LR sweep on the docstrings preset
