"""Task kinds behind one interface, as strategies are: what a task's data looks like and how it is prepared,
its processor (tokenizer or image preprocessing), model, loss, metrics, FLOPs per batch, which strategies apply
(and why not), and the words the app uses for it. `text-classification`, `causal-lm` and
`image-classification` live here; the one training loop and the service layer ask `task_kind(cfg.task)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from training.config import ModelConfig
from training.errors import ConfigError

PRIMARY_METRIC = {"text-classification": ("accuracy", True), "causal-lm": ("perplexity", False),
                  "image-classification": ("accuracy", True)}
"""The headline eval metric of each task kind and whether higher is better."""
CLASSIFICATION = ("text-classification", "image-classification")
"""Task kinds scored by cross-entropy over classes, accuracy and macro-F1."""


class TaskKind:
    """One kind of task; subclasses override what differs (see the module docstring)."""

    name: ClassVar[str]
    title: ClassVar[str]
    """What people call it."""
    unit: ClassVar[str]
    """What a training-set size counts."""
    classification: ClassVar[bool] = True
    """Scored by accuracy and macro-F1 over classes (False: loss and perplexity)."""
    refused: ClassVar[dict[str, str]] = {}
    """Strategies that do not apply, with the reason a user is told."""
    default_base: ClassVar[str]
    """The offline built-in model the app offers first."""
    probe_default: ClassVar[str]
    """What the `auto` forgetting probe measures for this task."""

    @property
    def primary(self) -> tuple[str, bool]:
        """The headline metric and whether higher is better."""
        return PRIMARY_METRIC[self.name]

    def refusal(self, strategy: str) -> str | None:
        return self.refused.get(strategy)

    # -- model side --------------------------------------------------------------------------------
    def resolve_base(self, base: str) -> Path:
        from training.core.models import resolve_base

        return resolve_base(base)

    def load_processor(self, base_dir: Path, cfg: ModelConfig):
        """The tokenizer (text) or image preprocessing the model wants."""
        from training.core.models import load_tokenizer

        return load_tokenizer(base_dir)

    def check_model(self, cfg: ModelConfig, base_dir: Path, label: str) -> None:
        """Refuse settings the model cannot take, before anything runs."""
        from training.core.models import check_max_length

        check_max_length(cfg.max_length, label, base_dir)

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.core.models import build_task_model

        return build_task_model(self.name, base_dir, pretrained=pretrained, num_labels=num_labels, cfg=cfg, seed=seed,
                                load_kwargs=load_kwargs)

    # -- training ----------------------------------------------------------------------------------
    def loss(self, logits, batch):
        from training.core.evaluate import task_loss

        return task_loss(self.name, logits, batch)

    def evaluate(self, model, batches, n_classes: int, autocast) -> dict[str, float]:
        from training.core.evaluate import evaluate

        return evaluate(model, self.name, batches, n_classes, autocast)

    def batch_flops(self, counter, micro, data, cached: bool) -> float:
        """Training FLOPs of one micro-batch (see `training.core.accounting`)."""
        if cached:  # only the head runs per step
            return counter.training_flops(0, 0, len(micro), units=slice(-1, None))
        lengths = np.fromiter((len(data.ids[i]) for i in micro), dtype=np.int64, count=len(micro))
        return counter.training_flops(int(lengths.sum()), int((lengths ** 2).sum()), len(micro))

    def encode_flops(self, counter, data) -> float:
        """Forward FLOPs of encoding `data` once with the frozen encoder (head-only training's cached features)."""
        lengths = data.lengths
        return counter.forward_flops(int(lengths.sum()), int((lengths ** 2).sum()), len(lengths), units=slice(None, -1))

    def example_flops(self, counter, data, cached: bool) -> float:
        """Training FLOPs of one example of mean size (planning's budgets)."""
        if cached:
            return counter.training_flops(0, 0, 1, units=slice(-1, None))
        lengths = np.array([len(x) for x in data.train.ids], dtype=np.float64)
        return counter.training_flops(float(lengths.mean()), float((lengths ** 2).mean()), 1)

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "unit": self.unit, "classification": self.classification,
                "metric": self.primary[0], "refused": dict(self.refused), "default_base": self.default_base,
                "probe": self.probe_default}


class TextClassification(TaskKind):
    name = "text-classification"
    title = "Text classification"
    unit = "training examples"
    default_base = "builtin:minilm-l6"
    probe_default = "summary→body retrieval on NumPy/pandas docstrings (the encoder's sentence-embedding skill)"


class CausalLM(TaskKind):
    name = "causal-lm"
    title = "Language modelling (causal LM)"
    unit = "training blocks"
    classification = False
    refused = {
        "head": "a language model's output layer predicts the next token over the whole vocabulary; training it alone "
                "on frozen features is not a linear probe of a new task",
        "lp-ft": "its first phase is head-only training, which does not apply to a language model",
    }
    default_base = "pretrain"
    probe_default = "perplexity on held-out text of the pretraining domain"


class ImageClassification(TaskKind):
    name = "image-classification"
    title = "Image classification"
    unit = "training images"
    refused = {
        "qlora": "4-bit quantisation (bitsandbytes) covers linear layers only; an image model's weights are mostly "
                 "convolutions, so use lora",
    }
    default_base = "builtin:efficientnet-lite0"
    probe_default = ("5-NN accuracy of the image features on 100 faces vs 100 non-faces (scikit-image), which no "
                     "preset trains on: the base model's general visual skill")

    def resolve_base(self, base: str) -> Path:
        from training.core.vision import resolve_image_base

        return resolve_image_base(base)

    def load_processor(self, base_dir: Path, cfg: ModelConfig):
        from training.core.vision import load_image_preprocessing

        return load_image_preprocessing(base_dir, cfg)

    def check_model(self, cfg: ModelConfig, base_dir: Path, label: str) -> None:
        """Image models take any square size the config allows (checked in ModelConfig)."""

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.core.vision import build_image_model, load_image_preprocessing

        size = load_image_preprocessing(base_dir, cfg).size
        return build_image_model(base_dir, pretrained=pretrained, num_labels=num_labels, cfg=cfg, seed=seed,
                                 image_size=size)

    def batch_flops(self, counter, micro, data, cached: bool) -> float:
        return counter.training_flops(0, 0, len(micro), units=slice(-1, None) if cached else slice(None))

    def encode_flops(self, counter, data) -> float:
        return counter.forward_flops(0, 0, len(data), units=slice(None, -1))

    def example_flops(self, counter, data, cached: bool) -> float:
        return counter.training_flops(0, 0, 1, units=slice(-1, None) if cached else slice(None))


TASKS: dict[str, TaskKind] = {k.name: k() for k in (TextClassification, CausalLM, ImageClassification)}


def task_kind(name: str) -> TaskKind:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]
