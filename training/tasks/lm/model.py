"""A language model: a transformers decoder with its own output layer (over the whole vocabulary), which every
strategy keeps. Chat builds the same model from its chat base."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.config import ModelConfig
from training.core.models import load_transformer, unwrap


class CausalLM(nn.Module):
    """A decoder with its language-model head; `head` is the output projection."""

    head_per_token = True

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.backbone = lm

    @property
    def head(self) -> nn.Module:
        return unwrap(self.backbone).get_output_embeddings()

    def forward(self, input_ids=None, attention_mask=None, features=None) -> torch.Tensor:
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).logits


def build_lm(base_dir: Path, *, pretrained: bool, cfg: ModelConfig, seed: int, load_kwargs: dict | None = None,
             **_) -> CausalLM:
    """The model a run trains: pretrained weights from base_dir, or the same architecture from scratch."""
    from transformers import AutoModelForCausalLM

    net, _ = load_transformer(base_dir, AutoModelForCausalLM, pretrained=pretrained, cfg=cfg, seed=seed,
                              load_kwargs=load_kwargs)
    return CausalLM(net)
