"""What every task kind declares and answers, as every strategy does in `training.core.strategies.base`.

A kind (one folder under `training/tasks/`, registered in `training.tasks`) says what its data looks like and how it is
read and checked (`data.py`), its processor and model (`model.py`), its loss and metrics (here, from the metric
families of `training.core.evaluate`), its classical references (`references.py`), its forgetting probe
(`probe.py`), the words pages and reports use for it (`words.py`), which strategies it refuses and why, what the
New experiment page shows for it (`Form`), and how one run's data is cut from the task's. The loop, planning,
execution, analysis and pages ask the kind; none of them tests a task's name.

The defaults below are those of a transformers model over token sequences (text classification and causal LM);
other kinds override what differs. Everything here is torch-free at import: the app lists kinds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from training.config import ModelConfig


@dataclass(frozen=True)
class Column:
    """One column picker of the New experiment page: the config field it sets, the control's label, the column
    it suggests by default (a key of `suggest_columns`' answer, or a column name), and whether it may be left out."""

    field: str
    label: str
    default: str
    optional: bool = False


@dataclass(frozen=True)
class Form:
    """What the New experiment page shows for a kind; the page renders this and never tests a task's name."""

    upload_label: str = "CSV, TSV, JSONL or Parquet"
    zip_folders: bool = False
    """Uploads may be a zip of class folders (images)."""
    pickers: str = "columns"
    """How the data's columns are chosen: `columns` (one picker per `columns` entry), `conversations` (a messages column, or a
    prompt and a response column), `table` (a target and the feature columns)."""
    columns: tuple[Column, ...] = ()
    builtin_columns: tuple[str, ...] = ()
    """The columns every built-in dataset of this kind has (offered as picker options when a built-in is chosen)."""
    check_columns: bool = False
    """Check the chosen text (and label) columns of an upload before anything runs (`check_mapping`)."""
    labelled: bool = False
    """The data has a label column (text classification)."""
    column_note: str = ""
    hub_placeholder: str = "stanfordnlp/imdb or nyu-mll/glue:sst2"
    controls: dict[str, str] = field(default_factory=dict)
    """Config fields → the page's control names, for messages in the user's words."""
    builtin_model: str = "Built-in MiniLM-L6"
    builtin_base: str | None = None
    """The base the built-in choice trains (None: the kind's `default_base`)."""
    builtin_model_note: str = ""
    builtin_model_warning: str = ""
    own_models: bool = True
    """Offers a Hugging Face id or a local directory besides the built-in model."""
    model_placeholder: str = "distilbert/distilbert-base-uncased"
    model_files: str = "tokenizer"
    """What a local model directory holds besides config.json and weights."""
    max_length: int | None = 128
    """The max length (tokens) the page offers first; None: not offered (images, tables)."""
    image_size: bool = False
    """Offers the image size (pixels)."""
    mlp: bool = False
    """Offers the MLP's width and depth (no pretrained model exists)."""
    mlp_note: str = ""
    default_strategies: tuple[str, ...] = ("scratch", "own", "full", "lora", "head")


@dataclass(frozen=True)
class Words:
    """The words pages and reports use for a kind (see `training.analysis.figures.note`)."""

    band: str = ""
    """How the data-needs chart's band is made."""
    references: str | None = None
    """The data-needs chart's grey reference lines, or None where no reference runs."""
    literature: str = ""
    """What the literature finds, for this kind."""
    read: str | None = None
    """The data-needs chart's 'how to read this', where the general one does not fit."""
    network: str = "neural run"
    """What a trained model is called beside the references."""
    notes: dict[str, str] = field(default_factory=dict)
    """Notes other than data needs that read differently for this kind."""
    trivial: str = "the majority class"
    """The reference a run that learned nothing scores."""
    live_references: str = ""
    """The Live page's name for the references that run beside the grid."""


class TaskKind:
    """One kind of task; subclasses override what differs (see the module docstring)."""

    name: ClassVar[str]
    title: ClassVar[str]
    """What people call it."""
    help: ClassVar[str] = ""
    """One sentence for the New experiment page's task picker."""
    unit: ClassVar[str]
    """What a training-set size counts."""
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    classification: ClassVar[bool] = True
    """Scored by accuracy and macro-F1 over classes (False: loss and perplexity, or RMSE)."""
    language_model: ClassVar[bool] = False
    """The model predicts the next token: its output layer spans the vocabulary and is kept, not replaced."""
    hybrid: ClassVar[bool] = False
    """Offers the hybrid path (pre-train the base on corpus A first)."""
    generations: ClassVar[bool] = False
    """Runs answer held-out prompts, shown side by side (chat)."""
    refused: ClassVar[dict[str, str]] = {}
    """Strategies that do not apply, with the reason a user is told."""
    classical_references: ClassVar[int] = 1
    """How many classical models (beside the trivial baseline) `reference_rows` scores at each size: each is a
    candidate in the decision, so the precision planner counts them among a size's comparisons."""
    own_model: ClassVar[str] = ""
    """What the practitioner's scratch (`own`) builds for this kind, in words (its `own_base`); empty where it does not
    apply."""
    strategy_words: ClassVar[dict[str, tuple[str, str]]] = {}
    """Per strategy, (what trains, when to pick it) in this kind's words where the general ones (written for a
    pretrained base) do not fit: a table's scratch is an MLP, not "the base's architecture and tokenizer"."""
    default_lrs: ClassVar[dict[str, float]] = {}
    """Per strategy, a default learning rate measured on this kind's built-in (the search's centre); strategies
    not named use their own default."""
    default_base: ClassVar[str]
    """The offline built-in model the app offers first."""
    probe_default: ClassVar[str]
    """What the `auto` forgetting probe measures for this task."""
    references: ClassVar[bool] = True
    """Trivial and classical references are scored beside the neural runs (`references.py`)."""
    reference_seconds_per_example: ClassVar[float] = 2e-3
    """CPU seconds per training example of fitting the references (measured 2026-12-02 on 2 cores: TF-IDF + logistic
    regression 1.6–7.9 ms, pixels + logistic regression 2.4 ms, a table's linear model and boosted trees 0.15 ms)."""
    builtins: ClassVar[dict[str, str]] = {}
    """The built-in datasets of this kind, with what each is."""
    form: ClassVar[Form] = Form()
    words: ClassVar[Words] = Words()

    @property
    def primary(self) -> tuple[str, bool]:
        """The headline metric and whether higher is better."""
        return self.metric, self.higher_is_better

    def refusal(self, strategy: str) -> str | None:
        if strategy == "own" and not self.own_model and strategy not in self.refused:
            return (f"no practitioner's model is built for {self.title.lower()} yet (text and images have one); scratch "
                    "is the model trained from random weights here")
        return self.refused.get(strategy)

    def default_lr(self, strategy: str, fallback: float) -> float:
        return self.default_lrs.get(strategy, fallback)

    def note(self, key: str, config) -> str:
        """Words added to the figure note `key` for this experiment (its config as a dict); none by default."""
        return ""

    def check_config(self, cfg) -> None:
        """Refuse settings of an experiment config this kind cannot take (raise ConfigError naming the fix)."""

    # -- data --------------------------------------------------------------------------------------
    def prepare_data(self, cfg, processor, max_length: int, cache_dir: Path | None):
        """The task's data (`training.core.data.task.TaskData`), read, checked, split and prepared by `processor`."""
        raise NotImplementedError

    def run_parts(self, data, cfg, n: int, seed: int):
        """One run's (training subset, validation, eval, model inputs) — the default: the size-n subset, and the
        task's validation and eval sets as prepared. Tables refit their preprocessing on the subset; chat packs it."""
        return data.subset(cfg.data, n, seed), data.validation, data.eval, {}

    def sizing_inputs(self, data) -> dict:
        """Model inputs for sizing a model before any run (planning's footprint)."""
        return {}

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
        raise NotImplementedError

    def own_model_config(self, base_dir: Path, cfg: ModelConfig) -> ModelConfig:
        """The model config a practitioner's run trains and answers with, given the base it built (`own_base`): the
        experiment's, unless the base reads more of each example (text: a bag of words reads whole texts)."""
        return cfg

    def own_base(self, data, cfg, n: int, seed: int, options: dict, folder: Path) -> Path:
        """The practitioner's base for the run at size n and this seed (`own`): a folder like a base model's — its
        processor fitted on the run's own training examples, its architecture sized to them by the kind's stated rule,
        no weights — that `load_processor` and `build_model(pretrained=False)` take. Written once into `folder` (a
        resumed or rebuilt run finds it there); `options`: the strategy's (width, layers, … overriding the rule)."""
        raise NotImplementedError(f"{self.title} has no practitioner's model")

    def predict(self, model, processor, inputs: list, cfg, label_names: list[str]) -> list[dict]:
        """A trained run's answers to new inputs, one dict per input: {"label", "scores"} (classification),
        {"value"} (regression) or {"answer"} (generation)."""
        from training.errors import HeadStartError

        raise HeadStartError(f"answering new inputs is not built yet for {self.title.lower()} runs "
                             "(text classification and tables have it)")

    exports: ClassVar[bool] = False
    """Whether `predict`, `export` and `load_exported` are built for this kind (pages offer them where they are)."""
    input_form: ClassVar[str] = "text"
    """What one input to `predict` is: "text" (a string), "row" (a table row: a mapping of column → value), "image"
    (an image file's path) or "messages" (a conversation: a string, or a list of turns)."""
    refits_per_run: ClassVar[bool] = False
    """Each run fits its own preprocessing on its training rows (tables): a delivered model needs `run_processor`."""

    def run_processor(self, data, cfg, n: int, seed: int) -> tuple[object, dict]:
        """(processor, `build_model`'s extra arguments) of the run at size n and this seed, where `refits_per_run`."""
        raise NotImplementedError

    def export(self, model, processor, out: Path, label_names: list[str], cfg) -> dict:
        """Write a trained run's model as a folder the user's own libraries load; returns its headstart.json."""
        from training.errors import HeadStartError

        raise HeadStartError(f"exporting is not built yet for {self.title.lower()} runs (text classification and tables "
                             "have it)")

    def card_snippet(self, folder: Path, meta: dict) -> str:
        """Python that loads an exported folder with the user's own libraries and answers one input (the model card
        shows it; a test runs it). Empty where the kind has none."""
        return ""

    def load_exported(self, folder: Path):
        """(model, processor, headstart.json) of a folder `export` wrote."""
        from training.errors import HeadStartError

        raise HeadStartError(f"loading an exported {self.title.lower()} model is not built yet")

    def lora_targets(self, backbone, targets):
        """The modules LoRA wraps for `targets` (the option's value); the default takes it as PEFT does."""
        return targets

    # -- training ----------------------------------------------------------------------------------
    def loss(self, logits, batch):
        """Mean loss of a batch, computed in float32."""
        from training.core.evaluate import classification_loss, lm_loss

        if self.classification:
            return classification_loss(logits, batch["labels"])
        return lm_loss(logits, batch["input_ids"], batch["attention_mask"])

    def evaluate(self, model, batches, n_classes: int, autocast, items: dict | None = None) -> dict[str, float]:
        """Eval metrics; `items` (when given) is filled with the per-example outcomes, in batch order."""
        from training.core.evaluate import evaluate_classifier, evaluate_lm

        if self.classification:
            return evaluate_classifier(model, batches, n_classes, autocast, items)
        return evaluate_lm(model, batches, autocast, items)

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

    # -- beside the grid ---------------------------------------------------------------------------
    def probes(self, cfg, processor, cache_dir: Path | None, held_out=None) -> list:
        """The configured forgetting probes (`training.core.probes.Probe`), prepared for this processor.
        `held_out`: the hybrid's corpus-A eval blocks."""
        return []

    def reference_seconds(self, pool: int, sizes: list[int], seeds: int) -> float:
        """A rough estimate of the references run's seconds: half a second per fit plus the kind's cost per example."""
        return seeds * sum(0.5 + self.reference_seconds_per_example * min(n, pool) for n in sizes)

    def reference_rows(self, data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
        """One row per (reference, size, seed) on the grid's own subsets and eval set (`references.py`)."""
        return []

    def eval_inputs(self, data) -> list[str] | None:
        """What each eval example is, in words a person reads (its text, image name or table row), in the eval set's
        order — the rows of Compare's "where they disagree" table. None where the kind shows none."""
        return None

    def samples(self, cfg, data, processor) -> dict:
        """Held-out prompts the runs answer (chat); none by default."""
        return {}
