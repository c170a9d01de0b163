"""Task kinds behind one interface, as strategies are: what a task's data looks like and how it is prepared,
its processor (tokenizer or image preprocessing), model, loss, metrics, FLOPs per batch, which strategies apply
(and why not), how one run's data is cut from the task's (a subset; packed for chat, preprocessing refitted for
tables), and the words the app uses for it. `text-classification`, `causal-lm`, `image-classification`, `chat`,
`tabular-classification` and `tabular-regression` live here; the one training loop and the service layer ask
`task_kind(cfg.task)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from training.config import ModelConfig
from training.core.kinds import CLASSIFICATION, LANGUAGE_MODELS, MLP_BASE, PRIMARY_METRIC, TABULAR  # noqa: F401
from training.errors import ConfigError


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
    references: ClassVar[bool] = True
    """Trivial and classical references are scored beside the neural runs (see `training.core.references`)."""

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

    def evaluate(self, model, batches, n_classes: int, autocast, items: dict | None = None) -> dict[str, float]:
        """Eval metrics; `items` (when given) is filled with the per-example outcomes, in batch order."""
        from training.core.evaluate import evaluate

        return evaluate(model, self.name, batches, n_classes, autocast, items)

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

    def run_parts(self, data, cfg, n: int, seed: int):
        """One run's (training subset, validation, eval, model inputs) — the default: the size-n subset, and the
        task's validation and eval sets as prepared. Tables refit their preprocessing on the subset; chat packs it."""
        return data.subset(cfg.data, n, seed), data.validation, data.eval, {}

    def sizing_inputs(self, data) -> dict:
        """Model inputs for sizing a model before any run (planning's footprint)."""
        return {}

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
    references = False
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


class Chat(TaskKind):
    """A chat model tuned on conversations: the loss is on the assistant's turns only (the tokenizer's own chat
    template marks them); training conversations are packed into rows; every evaluation also answers held-out
    prompts, scored by ROUGE-L against the reference answer and shown side by side."""

    name = "chat"
    title = "Chat (instruction tuning)"
    unit = "training conversations"
    classification = False
    references = False
    refused = {
        "head": "a chat model's output layer predicts the next token over the whole vocabulary; training it alone on "
                "frozen features is not a linear probe of a new task",
        "lp-ft": "its first phase is head-only training, which does not apply to a chat model",
    }
    default_base = "builtin:smollm2-135m-instruct"
    probe_default = ("perplexity of the answers in general conversations (chatterbot's 18 non-technical English topics) and "
                     "answers to general prompts, before, during and after: the base model's general chat skill")

    def resolve_base(self, base: str) -> Path:
        from training.core.chat_model import resolve_chat_base

        return resolve_chat_base(base)

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.core.models import build_task_model

        return build_task_model("causal-lm", base_dir, pretrained=pretrained, num_labels=num_labels, cfg=cfg,
                                seed=seed, load_kwargs=load_kwargs)

    def loss(self, logits, batch):
        from training.core.evaluate import chat_loss

        return chat_loss(logits, batch["labels"])

    def run_parts(self, data, cfg, n: int, seed: int):
        from training.core.data.chat import PackedChatExamples

        train = data.subset(cfg.data, n, seed)
        if cfg.train.packing:  # each step's conversations share rows (see PackedChatExamples)
            train = PackedChatExamples(train.ids, train.masks, cfg.model.max_length)
        return train, data.validation, data.eval, {}


class _Tabular(TaskKind):
    """A table's own columns: no pretrained model exists, so the question is whether a neural network trained from
    scratch is worth it next to gradient-boosted trees. Preprocessing is fitted on each run's training rows only."""

    unit = "training rows"
    refused = {name: "no pretrained model exists for your table's own columns, so there is nothing to fine-tune: "
                     "the comparison is an MLP from scratch against gradient-boosted trees (the references)"
               for name in ("full", "lora", "qlora", "head", "freeze", "discriminative", "lp-ft")}
    default_base = MLP_BASE
    probe_default = "none: a model trained from scratch has no earlier skill to forget"

    def resolve_base(self, base: str) -> Path:
        if base != MLP_BASE:
            raise ConfigError(f"model.base {base!r} does not apply to a table: tabular tasks train {MLP_BASE} (an MLP "
                              "from scratch; set its size with model.mlp_width and model.mlp_depth)")
        return Path(MLP_BASE)  # a name, not a folder: the MLP is built from the config

    def load_processor(self, base_dir: Path, cfg: ModelConfig):
        return TableProcessor()

    def check_model(self, cfg: ModelConfig, base_dir: Path, label: str) -> None:
        """The MLP takes any width and depth the config allows (checked in ModelConfig)."""

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None, n_features: int = 1, target_mean: float = 0.0,
                    target_scale: float = 1.0):
        from training.core.tabular_model import build_tabular_model

        outputs = num_labels if self.classification else 1
        return build_tabular_model(n_features, outputs, seed=seed, width=cfg.mlp_width, depth=cfg.mlp_depth,
                                   dropout=cfg.dropout, init=cfg.init, target_mean=target_mean,
                                   target_scale=target_scale)

    def run_parts(self, data, cfg, n: int, seed: int):
        from training.core.data.tabular import prepare_run_parts

        table, (pool, val, evals) = data.extra["table"], data.extra["indices"]
        train_idx = pool[data.subset_indices(cfg.data, n, seed)]
        train, validation, evaluation, info = prepare_run_parts(table, train_idx, val, evals, data.label_names,
                                                                self.name)
        return train, validation, evaluation, _model_inputs(info)

    def sizing_inputs(self, data) -> dict:
        return {"n_features": int(data.train.features.shape[1])}

    def batch_flops(self, counter, micro, data, cached: bool) -> float:
        return counter.training_flops(0, 0, len(micro))

    def encode_flops(self, counter, data) -> float:
        return counter.forward_flops(0, 0, len(data), units=slice(None, -1))

    def example_flops(self, counter, data, cached: bool) -> float:
        return counter.training_flops(0, 0, 1)


def _model_inputs(info: dict) -> dict:
    keys = ("n_features", "target_mean", "target_scale")
    return {k: info[k] for k in keys if info.get(k) is not None}


class TableProcessor:
    """A table's 'processor': preprocessing is fitted per run (see `training.core.data.tabular`); batches are dense,
    so there is nothing to pad."""

    pad_token_id = 0


class TabularClassification(_Tabular):
    name = "tabular-classification"
    title = "Tabular classification (a table's columns → a class)"


class TabularRegression(_Tabular):
    name = "tabular-regression"
    title = "Tabular regression (a table's columns → a number)"
    classification = False

    def loss(self, logits, batch):
        from training.core.evaluate import regression_loss

        return regression_loss(logits, batch["labels"])

    def evaluate(self, model, batches, n_classes: int, autocast, items: dict | None = None) -> dict[str, float]:
        from training.core.evaluate import evaluate_regression

        return evaluate_regression(model, batches, autocast, items)


TASKS: dict[str, TaskKind] = {k.name: k() for k in (TextClassification, CausalLM, ImageClassification, Chat,
                                                    TabularClassification, TabularRegression)}


def task_kind(name: str) -> TaskKind:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]
