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


@torch.no_grad()
def predict_texts(model: SequenceClassifier, tokenizer, texts: list[str], max_length: int, label_names: list[str],
                  batch_size: int = 64) -> list[dict]:
    """Each text's predicted label and class probabilities, tokenised and padded as the run's eval set was (the same
    truncation, padding and length-sorted batches), so a run answers its own eval texts as it scored them."""
    import numpy as np

    from training.core.data.tokenize import Examples, encode_texts, length_sorted_batches
    from training.core.evaluate import eval_mode

    device = next(model.parameters()).device
    examples = Examples(encode_texts(tokenizer, texts, max_length, cache_dir=None, fingerprint=""))
    out: list[dict] = [{}] * len(texts)
    with eval_mode(model):
        for idx in length_sorted_batches(examples, batch_size):
            batch = examples.collate(idx, tokenizer.pad_token_id, device)
            probs = torch.softmax(model(**batch).float(), dim=-1)[:, : len(label_names)].cpu().numpy()
            for row, i in zip(probs, idx, strict=True):
                out[int(i)] = {"label": label_names[int(np.argmax(row))],
                               "scores": {name: float(p) for name, p in zip(label_names, row, strict=True)}}
    return out
