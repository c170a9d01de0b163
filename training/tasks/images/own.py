"""The practitioner's image model (`own`): what an engineer who "trains our own" builds — a small residual
convolutional network sized to the input and to the number of training images, with the pixels normalised by the run's
own training images — written as a base folder (`config.json` of a transformers ResNet, `preprocessor_config.json`, no
weights) that the image kind loads like any hub image model and builds from random weights.

The rule (`rule`), stated here, on the page and in the report:
- **input**: the experiment's image size (the base model's, or `model.image_size`) — the same pixels every strategy
  sees; normalised by the mean and standard deviation of each colour channel over the run's training images.
- **stages**: after the stem (÷4), one stage per halving down to about 4×4 pixels — 2 stages below 64 px, 3 below
  128 px, 4 from there (ResNet's layout).
- **width** (the first stage's channels, doubled at every stage): 16 below 1,000 images, 32 below 10,000, 64 from there;
  **blocks per stage**: 1 below 10,000 images, 2 from there (ResNet's basic block).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.core.models import build_own_base

WIDTH = ((1_000, 16), (10_000, 32), (None, 64))
DEPTH = ((10_000, 1), (None, 2))


def rule(n: int, size: int, options: dict) -> dict:
    """The architecture for a run of n training images of size×size pixels (`options` override width and depth)."""
    def pick(table) -> int:
        return next(v for below, v in table if below is None or n < below)

    if options.get("layers") == 0:
        from training.errors import ConfigError

        raise ConfigError("own: layers is the residual blocks per stage for images, at least 1 (0 is text's bag of "
                          "words); leave it out for the sizing rule")
    stages = 2 if size < 64 else 3 if size < 128 else 4
    width = int(options.get("width") or pick(WIDTH))
    depth = int(options.get("layers") or pick(DEPTH))
    return {"stages": stages, "width": width, "depth": depth,
            "hidden_sizes": [width * 2 ** i for i in range(stages)], "depths": [depth] * stages}


def channel_stats(pixels: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (0–1 scale) of uint8 NHWC images, in chunks (no float copy of all)."""
    total = np.zeros(3)
    square = np.zeros(3)
    count = 0
    for start in range(0, len(pixels), 256):
        x = pixels[start:start + 256].reshape(-1, 3).astype(np.float64) / 255.0
        total += x.sum(0)
        square += (x ** 2).sum(0)
        count += len(x)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(square / max(count, 1) - mean ** 2, 1e-8))
    return [float(v) for v in mean], [float(max(v, 1e-3)) for v in std]


def write_base(pixels: np.ndarray, n: int, size: int, crop_pct: float, options: dict, folder: Path) -> Path:
    """The run's own base folder: a ResNet config sized by `rule` and the preprocessing of its training images (the
    size and crop every strategy's images have, its own normalisation)."""
    from transformers import ResNetConfig

    arch = rule(n, size, options)
    mean, std = channel_stats(pixels)
    want = {"n": n, "size": size, "crop_pct": crop_pct, **arch, "mean": [round(v, 6) for v in mean],
            "std": [round(v, 6) for v in std]}

    def write(tmp: Path) -> str:
        ResNetConfig(num_channels=3, embedding_size=arch["width"], hidden_sizes=arch["hidden_sizes"],
                     depths=arch["depths"], layer_type="basic", hidden_act="relu",
                     downsample_in_first_stage=False).save_pretrained(str(tmp))
        (tmp / "preprocessor_config.json").write_text(json.dumps({
            "size": size, "crop_pct": crop_pct, "image_mean": want["mean"], "image_std": want["std"]}, indent=2),
            encoding="utf-8")
        return (f"a ResNet of {arch['stages']} stages ({', '.join(map(str, arch['hidden_sizes']))} channels, "
                f"{arch['depth']} block{'s' if arch['depth'] > 1 else ''} each) for {size}×{size} pixels, normalised by "
                f"the run's {n:,} training images, from random weights")

    return build_own_base(folder, want, write)
