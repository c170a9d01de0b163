"""Text classification's model: an encoder (a transformers model), a pooling of its token states, dropout and a linear
head."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.config import ModelConfig
from training.core.models import load_transformer


class SequenceClassifier(nn.Module):
    """An encoder, a pooling of its token states, dropout and a linear head."""

    head_per_token = False

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str, dropout: float):
        super().__init__()
        self.backbone = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled sentence vectors (what the head sees and the embedding probes score)."""
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return states[:, 0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids=None, attention_mask=None, features=None) -> torch.Tensor:
        if features is None:
            features = self.embed(input_ids, attention_mask)
        return self.head(self.dropout(features))


def build_classifier(base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                     load_kwargs: dict | None = None) -> SequenceClassifier:
    """The model a run trains: the encoder's pretrained weights from base_dir, or the same architecture from scratch,
    and a new head (its initial weights depend on the run seed only)."""
    from transformers import AutoModel

    net, dropout = load_transformer(base_dir, AutoModel, pretrained=pretrained, cfg=cfg, seed=seed,
                                    load_kwargs=load_kwargs, extra={"add_pooling_layer": False})
    return SequenceClassifier(net, num_labels, cfg.pooling, dropout)
