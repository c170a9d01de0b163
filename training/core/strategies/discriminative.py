"""discriminative: full fine-tuning with layer-wise learning-rate decay (ULMFiT, Howard & Ruder 2018).

The head, the top block and anything above it (a final norm, a CNN's last 1×1 convolution) train at lr; each block
below at the rate of the block above divided by `decay` (ULMFiT's 2.6), the embeddings (a CNN's stem) one step
lower still — lower layers hold more general features.
"""
from dataclasses import dataclass

from training.core.strategies.base import Options, Phase, Strategy, decay_groups, number
from training.errors import ConfigError


@dataclass
class DiscriminativeOptions(Options):
    decay: float = 2.6
    """learning-rate ratio between a block and the one below it (ULMFiT: 2.6), at least 1"""

    def check(self, strategy: str) -> None:
        if not number(self.decay) or self.decay < 1:
            raise ConfigError(f"{strategy}: decay must be a number ≥ 1, got {self.decay!r}")


class Discriminative(Strategy):
    name = "discriminative"
    summary = "Every parameter trains; learning rate divided by 2.6 per block going down (ULMFiT)."
    when = "Full fine-tuning that disturbs the general lower layers less; often forgets less than full."
    default_lr = 1e-3  # bench/RESULTS.md: LR sweep on the docstrings preset
    options_class = DiscriminativeOptions

    def param_groups(self, model, phase: Phase, weight_decay: float) -> list[dict]:
        from training.core.models import find_blocks  # torch-free at import time: the app lists strategies

        blocks = find_blocks(model.backbone)
        decay = float(self.options.decay)
        top = len(blocks) - 1
        assigned, groups = set(), []
        for i, block in enumerate(blocks):
            params = [p for p in block.parameters() if p.requires_grad]
            assigned.update(id(p) for p in params)
            groups += decay_groups(params, phase.lr / decay ** (top - i), weight_decay)
        head = [p for p in model.head.parameters() if p.requires_grad and id(p) not in assigned]
        assigned.update(id(p) for p in head)
        # What sits above the last block (a CNN's final 1×1 convolution and its norm, a decoder's last layer norm)
        # trains with the head; what sits below the first block (embeddings, a CNN's stem) one step below block 0.
        last = {id(p) for p in blocks[-1].parameters()}
        order = list(model.parameters())
        end = max((i for i, p in enumerate(order) if id(p) in last), default=len(order))
        above = [p for p in order[end + 1:] if p.requires_grad and id(p) not in assigned]
        assigned.update(id(p) for p in above)
        groups += decay_groups(head + above, phase.lr, weight_decay)
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in assigned]
        groups += decay_groups(rest, phase.lr / decay ** len(blocks), weight_decay)  # embeddings and stem
        return groups
