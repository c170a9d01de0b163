"""freeze: the embeddings and the bottom k blocks are frozen; the blocks above and the head train."""
from dataclasses import dataclass

from training.core.strategies.base import Options, Strategy
from training.errors import ConfigError


@dataclass
class FreezeOptions(Options):
    layers: int | None = None
    """blocks frozen from the bottom (default: half of them, rounded down)"""

    def check(self, strategy: str) -> None:
        k = self.layers
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
            raise ConfigError(f"{strategy}: layers must be a non-negative integer, got {k!r}")


class Freeze(Strategy):
    name = "freeze"
    summary = "Embeddings (a CNN's stem) and the bottom k blocks frozen; everything above them trains."
    when = "Keeps general low-level features, saves memory and compute below the first trained block."
    default_lr = 3e-4  # bench/RESULTS.md: LR sweep on the docstrings preset
    options_class = FreezeOptions

    def prepare(self, model) -> None:
        from training.core.models import find_blocks, params_below_blocks  # torch-free at import: the app lists strategies

        blocks = find_blocks(model.backbone)
        k = self.options.layers
        k = len(blocks) // 2 if k is None else k
        if k >= len(blocks):
            raise ConfigError(f"freeze: layers={k} would freeze all {len(blocks)} blocks; use head for that, "
                              f"or choose layers < {len(blocks)}")
        frozen = {id(p) for p in params_below_blocks(model, blocks)}
        frozen |= {id(p) for b in blocks[:k] for p in b.parameters()}
        for p in model.parameters():  # a head tied to the input embeddings stays frozen with them
            p.requires_grad_(id(p) not in frozen)
