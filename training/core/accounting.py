"""Analytic training FLOPs, peak memory and MFU.

FLOPs follow Kaplan et al. (2020): a matmul weight costs 2 FLOPs per token forward and 4 backward
(2 for the gradient of its input, 2 for its own gradient). So, per unit (a transformer block, or the
head) with N matmul parameters of which T are trainable:

* below the lowest trainable unit, only the forward runs:                          2N
* a frozen unit that gradients must pass through (something below it trains):    4N
* a trained unit:                                                                 4N + 2T  (= 6N when all train)
* LoRA: the frozen base passes gradients and the adapters train:                  4N_base + 6N_adapter

The attention score and value matmuls (no weights) cost 4·d·L per token forward for a sequence of
length L, and twice that backward when gradients pass — PaLM's 6N + 12·L·d·T per token in total for
full training. N counts only matmul weights (nn.Linear and GPT-2's Conv1D): embedding lookups are
free. Token counts are real (unpadded) tokens, and attention uses each sequence's real length.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.core.hardware import peak_flops_for
from training.core.models import Structure, params_below_blocks


def _is_matmul(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def _matmul_params(module: nn.Module | list[nn.Module], positions: dict[int, int] | None = None) -> tuple[int, int]:
    """(all, trainable) parameters of the matmul modules inside `module`, shared tensors once. Image models
    (`positions` given): convolutions and linear layers, each weighted by its output positions per image."""
    total = trainable = 0
    seen = set()
    modules = [m for part in (module if isinstance(module, list) else [module]) for m in part.modules()]
    for m in modules:
        if positions is not None:
            if id(m) not in positions:
                continue
            weight = positions[id(m)]
        elif not _is_matmul(m):
            continue
        else:
            weight = 1
        for p in m.parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel() * weight
            trainable += p.numel() * weight if p.requires_grad else 0
    return total, trainable


@dataclass
class Unit:
    name: str
    n: int            # matmul parameters
    trainable: int    # of which trainable
    passes: bool      # gradients flow through it (it or something below it trains)
    attention: bool   # has the attention score/value matmuls
    per_token: bool   # runs on every token (False: once per sequence, e.g. a pooled classifier head)


class FlopCounter:
    """Per-batch training FLOPs for a model in its current trainable state (rebuild after it changes)."""

    def __init__(self, model: nn.Module, st: Structure):
        if st.positions is not None:
            self._image_units(st)
            return
        # the embeddings train (a model without blocks — a bag of embeddings — is embeddings and a head)
        below = any(p.requires_grad for p in (params_below_blocks(model, st.blocks) if st.blocks else model.parameters()))
        self.units: list[Unit] = []
        for i, block in enumerate(st.blocks):
            n, t = _matmul_params(block)
            below = below or any(p.requires_grad for p in block.parameters())
            self.units.append(Unit(f"block{i}", n, t, below, True, True))
        n, t = _matmul_params(st.head)
        below = below or any(p.requires_grad for p in st.head.parameters())
        self.units.append(Unit("head", n, t, below, False, st.head_per_token))
        self.attn_dim = st.attn_dim

    def _image_units(self, st: Structure) -> None:
        """Image models, per image: the stem (layers before the first block), each block, the neck (layers after
        the last block, e.g. a final 1×1 convolution) and the head — convolution FLOPs counted at their output
        positions (the same 2N forward / 4N frozen-but-passing / 4N + 2T trained rule, N weighted by positions)."""
        in_blocks = {id(m) for b in st.blocks for m in b.modules()}
        in_head = {id(m) for m in st.head.modules()}
        stem, neck, seen_block = [], [], False
        for m in st.backbone.modules():
            if id(m) in in_blocks:
                seen_block = True
            elif id(m) not in in_head and id(m) in st.positions:
                (neck if seen_block else stem).append(m)
        self.units, self.attn_dim = [], 0
        below = False
        parts = [("stem", stem)] + [(f"block{i}", [b]) for i, b in enumerate(st.blocks)] + [("neck", neck), ("head", [st.head])]
        for name, modules in parts:
            leaves = [m for part in modules for m in part.modules() if id(m) in st.positions]
            n, t = _matmul_params(leaves, st.positions)
            below = below or any(p.requires_grad for part in modules for p in part.parameters())
            self.units.append(Unit(name, n, t, below, False, False))

    def training_flops(self, tokens: int, sum_sq_len: int, sequences: int, units: slice = slice(None)) -> float:
        """FLOPs of one forward+backward over a batch with `tokens` real tokens in `sequences` sequences
        whose squared lengths sum to `sum_sq_len` (of the selected units; default all)."""
        total = 0.0
        for u in self.units[units]:
            count = tokens if u.per_token else sequences
            mult = 4 if u.passes else 2
            total += (mult * u.n + 2 * u.trainable) * count
            if u.attention:
                total += (3 if u.passes else 1) * 4 * self.attn_dim * sum_sq_len
        return total

    def forward_flops(self, tokens: int, sum_sq_len: int, sequences: int, units: slice = slice(None)) -> float:
        """Forward-only FLOPs of the selected units (e.g. encoding features once for a cached probe)."""
        total = 0.0
        for u in self.units[units]:
            total += 2 * u.n * (tokens if u.per_token else sequences)
            if u.attention:
                total += 4 * self.attn_dim * sum_sq_len
        return total


def device_peak_flops(device: torch.device) -> float | None:
    """bf16 dense peak of the device, or None when unknown (CPU): then MFU is not reported."""
    if device.type != "cuda":
        return None
    return peak_flops_for(torch.cuda.get_device_name(device))


def estimate_memory(*, total_params: int, trainable_params: int, optimizer: str, micro_batch: int, seq_len: int,
                    hidden: int, heads: int, layers_with_activations: int, vocab: int, bf16: bool,
                    quantized: bool = False, cached_features: bool = False,
                    activation_bytes: int | None = None) -> dict[str, int]:
    """Peak training memory in bytes, by part — a preflight estimate, not a measurement.

    weights fp32 (≈ 0.55 bytes/param when 4-bit quantised); gradients fp32 for trainable parameters;
    optimizer state (Adam/AdamW two fp32 moments, SGD/RMSprop/Adagrad one); activations saved for
    backward in every block gradients pass through, after Korthikanti et al. (2022):
    s·b·h·(34 + 5·a·s/h) bytes per block in 16-bit (twice that in fp32); LM logits b·s·V in fp32. Image models
    pass `activation_bytes` instead: every layer's output for the micro-batch, measured by one forward.
    """
    weights = int(total_params * (0.55 if quantized else 4))
    gradients = trainable_params * 4
    moments = {"adamw": 2, "adam": 2, "sgd": 1, "rmsprop": 1, "adagrad": 1}[optimizer]
    optimizer_state = trainable_params * 4 * moments
    if cached_features:
        activations = 0
    elif activation_bytes is not None:
        activations = activation_bytes
    else:
        per_block = seq_len * micro_batch * hidden * (34 + 5 * heads * seq_len / max(hidden, 1))
        activations = int(layers_with_activations * per_block * (1 if bf16 else 2))
    logits = micro_batch * seq_len * vocab * 4 * 2  # logits and their gradient
    total = weights + gradients + optimizer_state + activations + logits
    return {"weights": weights, "gradients": gradients, "optimizer": optimizer_state,
            "activations": activations + logits, "total": total}
