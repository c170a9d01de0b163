"""head: a linear probe — the pretrained encoder is frozen, only the classifier head trains."""
from training.core.strategies.base import Strategy, freeze_all_but


class Head(Strategy):
    name = "head"
    summary = "Pretrained encoder frozen; only the linear classifier head trains (a linear probe)."
    when = "Cheapest by far and forgets nothing; strong when the pretrained features already separate the classes."
    default_lr = 3e-2  # bench/RESULTS.md: LR sweep on the docstrings preset
    # images: the same centre (LOG.md 2026-11-24: digits-8x8 and MNIST at 48 px chose 1e-2 to 3e-2)
    cache_features = True

    def prepare(self, model) -> None:
        freeze_all_but(model, [model.head])
