"""The tabular task model: a plain MLP trained from scratch on the preprocessed columns (see
`training.tasks.tabular.data`).

[Linear → LayerNorm → ReLU → Dropout] × depth, then a linear head — the "MLP" baseline of Gorishniy et al. 2021,
"Revisiting Deep Learning Models for Tabular Data", with a LayerNorm in each block (measured against BatchNorm and
no norm in bench/tabular_lr_scan.py: see bench/RESULTS.md). LayerNorm rather than BatchNorm also keeps a row's
output independent of the other rows in its batch, so a batch of one and eval-mode switching behave the same.
"""
from __future__ import annotations

import torch
from torch import nn

DEFAULT_WIDTH = 256
DEFAULT_DEPTH = 3
DEFAULT_DROPOUT = 0.1


class MLPBlock(nn.Module):
    """One hidden layer: Linear → LayerNorm → ReLU → Dropout."""

    def __init__(self, n_in: int, width: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(n_in, width)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.relu(self.norm(self.linear(x))))


class MLPBackbone(nn.Module):
    """The hidden stack; `blocks` is the ModuleList `find_blocks` returns (bottom to top)."""

    def __init__(self, n_features: int, width: int, depth: int, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(MLPBlock(n_features if i == 0 else width, width, dropout) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class TabularMLP(nn.Module):
    """Preprocessed features → class logits [n, n_outputs], or (regression, n_outputs == 1) the standardised
    prediction [n]. Buffers `target_mean` and `target_scale` (regression; 0 and 1 for classification) turn a
    standardised prediction back into the target's units: y = mean + scale · output."""

    def __init__(self, n_features: int, n_outputs: int, width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH,
                 dropout: float = DEFAULT_DROPOUT, target_mean: float = 0.0, target_scale: float = 1.0):
        super().__init__()
        self.n_outputs = n_outputs
        self.backbone = MLPBackbone(n_features, width, depth, dropout)
        self.head = nn.Linear(width, n_outputs)
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_scale", torch.tensor(float(target_scale)))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden vector of each row (what the head sees)."""
        return self.backbone(features)


    def flop_structure(self):
        """Every layer runs once per row; activations: each layer's output a few times (fp32 output, norm, activation
        and dropout mask)."""
        from training.core.models import Structure, find_blocks

        linears = [m for m in self.modules() if isinstance(m, nn.Linear)]
        act = sum(4 * m.out_features for m in linears) * 4
        return Structure(find_blocks(self.backbone), self.head, False, 0, {id(m): 1 for m in linears}, act,
                         self.backbone)

    def forward(self, features=None, input_ids=None, attention_mask=None) -> torch.Tensor:
        out = self.head(self.embed(features))
        return out.squeeze(-1) if self.n_outputs == 1 else out


def build_tabular_model(n_features: int, n_outputs: int, *, seed: int, width: int = DEFAULT_WIDTH,
                        depth: int = DEFAULT_DEPTH, dropout: float | None = None, init: str = "default",
                        target_mean: float = 0.0, target_scale: float = 1.0) -> TabularMLP:
    """A freshly initialised MLP; its weights depend on `seed` only. `n_outputs`: the number of classes, or 1 for
    regression. `init`: `default` (PyTorch's Linear init), `xavier` or `he` (see `models.reinitialise`)."""
    from training.core.models import reinitialise

    torch.manual_seed(seed)
    model = TabularMLP(n_features, n_outputs, width, depth, DEFAULT_DROPOUT if dropout is None else dropout,
                       target_mean, target_scale)
    reinitialise(model, init)
    return model
