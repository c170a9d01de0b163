"""Optimizers and the learning-rate schedule (linear warmup, then linear or cosine decay, or constant)."""
from __future__ import annotations

import math

import torch

from .config import OptimConfig


def make_optimizer(groups: list[dict], cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    """The configured optimizer over parameter groups that already carry lr and weight_decay."""
    lr = groups[0]["lr"]
    if cfg.name == "adamw":
        # Fused AdamW is one kernel per step on CUDA; on CPU foreach is the fast path.
        kwargs = {"fused": True} if device.type == "cuda" else {"foreach": True}
        return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, **kwargs)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=cfg.betas)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=cfg.momentum)
    return torch.optim.Adagrad(groups, lr=lr)


def lr_multiplier(step: int, total: int, warmup_fraction: float, schedule: str) -> float:
    """Multiplier of the peak LR at optimizer step `step` (0-based) of a phase of `total` steps."""
    warmup = int(round(warmup_fraction * total))
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


def make_scheduler(optimizer: torch.optim.Optimizer, total: int, cfg: OptimConfig):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, total, cfg.warmup_fraction, cfg.schedule))
