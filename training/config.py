"""The experiment config: typed dataclasses, validated once, saved as JSON/YAML next to every run.

One `ExperimentConfig` describes a matched grid — every strategy × training-set size × seed — that
shares data splits, eval set, probes and budget policy. The CLI, the app and the tests all build one
of these; nothing else configures training. This module imports neither torch nor streamlit.

Each field's docstring (the string under it) is its documentation; `field_docs(cls)` reads them so
the app and the CLI show the same text.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from training.errors import ConfigError

OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop", "adagrad")
BUDGET_POLICIES = ("epochs", "steps", "flops")
SUBSET_POLICIES = ("fixed", "per-seed")
PROBE_KINDS = ("auto", "retrieval", "perplexity", "knn", "none")


@dataclass
class DataConfig:
    source: str = "builtin:stdlib-docstrings"
    """Where the examples come from: `builtin:NAME`, `hf:DATASET[:CONFIG]` (Hugging Face hub, via the
    `datasets` library), or a path to a .csv, .tsv, .jsonl or .parquet file."""
    text_column: str = "text"
    """Column holding the input text."""
    label_column: str = "label"
    """Column holding the class label (classification only); any values, encoded in sorted order."""
    image_column: str = "image"
    """Image classification from a table: the column holding each image — a path relative to the file, the
    image's bytes, or a Hugging Face `{bytes, path}` record. A folder (or zip) of class sub-folders needs none."""
    messages_column: str = "messages"
    """Chat: the column holding each conversation as a list of `{role, content}` turns (the common chat-messages
    form; ShareGPT's `{from, value}` also reads). Without it, `prompt_column` and `response_column` give one turn each."""
    prompt_column: str = "prompt"
    """Chat, when there is no messages column: the user's turn."""
    response_column: str = "response"
    """Chat, when there is no messages column: the assistant's answer (the loss is on it alone)."""
    feature_columns: list[str] | None = None
    """Tabular: the feature columns (None: every column but the target, `label_column`). Numeric columns are
    standardised, text columns one-hot encoded, missing values imputed — fitted on each run's training rows only."""
    group_column: str | None = None
    """Optional column: rows with the same value stay on one side of the train/eval split (e.g. the
    document or module a sentence comes from), so eval never sees a training document."""
    hf_split: str = "train"
    """Split of a Hugging Face dataset to read; Head Start makes its own train/eval split from it."""
    eval_fraction: float = 0.2
    """Share of the examples (by group when groups exist) held out for evaluation."""
    eval_max: int | None = 1000
    """Cap on the number of eval examples (a stratified sample); smaller evals are faster but noisier."""
    split_seed: int = 0
    """Seed of the train/eval split. Fixed for the whole experiment so every run sees the same eval set."""
    subset_policy: str = "fixed"
    """How nested training subsets depend on the run seed. `fixed`: one stratified ordering of the train
    pool for all seeds, so seeds vary only initialisation and batch order. `per-seed`: each seed draws
    its own ordering. Either way the N=100 subset lies inside the N=1000 one for the same seed."""
    max_rows: int | None = None
    """Read at most this many rows of the source (first rows, before splitting); None reads all."""
    stray_labels: str = "stop"
    """Rows whose label does not fit the others (a few non-numbers among numbers, a class of one or two rows among
    large ones — often a row shifted by a separator in a text): `stop` refuses to start and names them, `drop` leaves
    those rows out, `keep` keeps them as classes of their own."""
    eval_source: str | None = None
    """Your own test set: a second file (same columns) or `hf:DATASET[:CONFIG]` whose every row is the eval
    set, instead of a split of `source` (`eval_fraction` and `eval_max` then do not apply)."""
    eval_hf_split: str = "test"
    """Split of a Hugging Face `eval_source` to read."""
    validation_fraction: float = 0.1
    """Share of the training side (by group when groups exist) held out for model selection — the
    learning-rate search, early stopping and the best checkpoint. Never trained on and never reported, so
    the eval set stays untouched by every choice the app makes."""
    validation_max: int | None = 500
    """Cap on the number of validation examples (a stratified sample); it is evaluated several times per run."""

    def __post_init__(self) -> None:
        _check(bool(self.source and self.source.strip()), "data.source is empty; give builtin:NAME, "
               "hf:DATASET[:CONFIG] or a path to a .csv/.tsv/.jsonl/.parquet file")
        _check(self.eval_source is None or bool(self.eval_source.strip()),
               "data.eval_source is empty; give a file or hf:DATASET, or leave it out to split data.source")
        _check(self.eval_source is None or not _same_source(self.source, self.eval_source)
               or (self.source.startswith("hf:") and self.hf_split != self.eval_hf_split),  # a hub dataset's test split
               f"data.eval_source is data.source ({self.source}): every eval example would also be a training example. "
               "Give a separate test file, or leave eval_source out to hold out part of data.source")
        _check(0.0 < self.validation_fraction < 1.0,
               f"data.validation_fraction must be between 0 and 1, got {self.validation_fraction}")
        _check(self.validation_max is None or self.validation_max >= 2,
               "data.validation_max must be at least 2 (or null for no cap)")
        _check(self.stray_labels in ("stop", "drop", "keep"),
               f"data.stray_labels must be stop, drop or keep, got {self.stray_labels!r}")
        _check(0.0 < self.eval_fraction < 1.0, f"data.eval_fraction must be between 0 and 1, got {self.eval_fraction}")
        _check(self.eval_max is None or self.eval_max >= 2, "data.eval_max must be at least 2 (or null for no cap)")
        _check(self.subset_policy in SUBSET_POLICIES,
               f"data.subset_policy must be one of {', '.join(SUBSET_POLICIES)}, got {self.subset_policy!r}")
        _check(self.max_rows is None or self.max_rows > 0, "data.max_rows must be positive (or null)")
        _check(self.feature_columns is None or (bool(self.feature_columns) and all(
            isinstance(c, str) and c for c in self.feature_columns)),
               "data.feature_columns must be a non-empty list of column names (or null for every column but the target)")
        _check(0 <= self.split_seed < 2 ** 32, "data.split_seed must be between 0 and 4294967295")


@dataclass
class ModelConfig:
    base: str = "builtin:minilm-l6"
    """Base model: `builtin:minilm-l6` (offline all-MiniLM-L6-v2), `builtin:efficientnet-lite0` (offline
    ImageNet EfficientNet-Lite0, for images), `hf:ORG/NAME` (Hugging Face hub), a
    local directory with config.json, or `pretrain` for the hybrid path (the base is the experiment's own
    pretraining run). Remote code is never run."""
    max_length: int = 128
    """Tokens per example (text-classification: truncation length; causal-lm: block length). Cost grows
    at least linearly with it."""
    pooling: str = "mean"
    """How an encoder turns token states into one vector for the head and the embedding probes: `mean`
    (what sentence encoders such as MiniLM are trained for) or `cls` (the first token)."""
    dropout: float | None = None
    """Override the model's hidden and attention dropout (None keeps the base config's value)."""
    image_size: int | None = None
    """Image classification: the side of the square images are resized and centre-cropped to, in pixels.
    None uses the model's own preprocessing size (224 for the built-in EfficientNet-Lite0). Cost grows with
    its square."""
    mlp_width: int = 256
    """Tabular (`builtin:mlp`): units in each hidden layer of the MLP."""
    mlp_depth: int = 3
    """Tabular (`builtin:mlp`): hidden layers of the MLP."""
    init: str = "default"
    """Initialisation of from-scratch weights: `default` (the architecture's own, e.g. N(0, 0.02) for
    BERT), `xavier` (Glorot uniform) or `he` (Kaiming normal, fan-in). Recorded with every run."""

    def __post_init__(self) -> None:
        _check(bool(self.base and self.base.strip()),
               "model.base is empty; use builtin:minilm-l6, hf:ORG/NAME or a local directory")
        _check(4 <= self.max_length <= 8192, f"model.max_length must be between 4 and 8192, got {self.max_length}")
        _check(self.image_size is None or (isinstance(self.image_size, int) and 16 <= self.image_size <= 1024),
               f"model.image_size must be a whole number of pixels from 16 to 1024 (or null), got {self.image_size!r}")
        _check(self.pooling in ("mean", "cls"), f"model.pooling must be 'mean' or 'cls', got {self.pooling!r}")
        _check(self.dropout is None or 0.0 <= self.dropout < 1.0, "model.dropout must be in [0, 1)")
        _check(isinstance(self.mlp_width, int) and 4 <= self.mlp_width <= 8192,
               f"model.mlp_width must be a whole number from 4 to 8192, got {self.mlp_width!r}")
        _check(isinstance(self.mlp_depth, int) and 1 <= self.mlp_depth <= 16,
               f"model.mlp_depth must be a whole number from 1 to 16, got {self.mlp_depth!r}")
        _check(self.init in ("default", "xavier", "he"), f"model.init must be default, xavier or he, got {self.init!r}")


@dataclass
class StrategyConfig:
    name: str
    """Strategy: scratch, own, full, lora, qlora, head, freeze, discriminative or lp-ft."""
    lr: float | None = None
    """Peak learning rate; None uses the strategy's measured default (scratch's is higher)."""
    weight_decay: float | None = None
    """Override the optimizer's weight decay for this strategy."""
    budget_multiplier: float = 1.0
    """Train this strategy k× the steps the budget policy gives (e.g. 3 for "scratch trains longer")."""
    until_plateau: bool | None = None
    """Train until neither the validation metric nor the validation loss improves for `budget.patience`
    evaluations, then anneal the learning rate to 0 and stop — at most `budget.plateau_cap` × the policy's
    steps — instead of for exactly the policy's steps. None: the strategy's default, on for scratch, which
    needs far more steps than fine-tuning to converge."""
    options: dict[str, Any] = field(default_factory=dict)
    """Strategy-specific options, e.g. lora: {r: 16, alpha: 32}; freeze: {layers: 3};
    discriminative: {decay: 2.6}; lp-ft: {probe_fraction: 0.3}. See `python -m training presets`."""

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and bool(self.name), "every strategy needs a name")
        _check(self.lr is None or (_finite(self.lr) and 0 < self.lr <= MAX_LR),
               f"strategy {self.name}: lr must be a positive number up to {MAX_LR:g}, got {self.lr}")
        _check(self.weight_decay is None or (_finite(self.weight_decay) and 0 <= self.weight_decay <= MAX_WEIGHT_DECAY),
               f"strategy {self.name}: weight_decay must be a number from 0 to {MAX_WEIGHT_DECAY:g}, got {self.weight_decay}")
        _check(_finite(self.budget_multiplier) and 0 < self.budget_multiplier <= MAX_MULTIPLIER,
               f"strategy {self.name}: budget_multiplier must be a positive number up to {MAX_MULTIPLIER:g}, got "
               f"{self.budget_multiplier}")
        _check(isinstance(self.options, dict), f"strategy {self.name}: options must be a mapping")

    @property
    def label(self) -> str:
        """The name a run is shown under (the name, plus ×k when it trains longer)."""
        return self.name if self.budget_multiplier == 1.0 else f"{self.name}×{self.budget_multiplier:g}"


@dataclass
class BudgetConfig:
    policy: str = "epochs"
    """How much each run trains. `epochs`: the same passes over its own N (small N → few steps, raised to
    `min_steps`). `steps`: every run the same optimizer steps. `flops`: every run at a given N gets the
    training FLOPs that `flops_reference` spends in `epochs` epochs, so cheaper strategies take more steps."""
    epochs: float = 3.0
    """Passes over the training subset (policy `epochs`, and the reference of policy `flops`)."""
    steps: int = 200
    """Optimizer steps per run (policy `steps`)."""
    min_steps: int = 30
    """Floor on optimizer steps, so tiny subsets still train (policies `epochs` and `flops`)."""
    max_steps: int | None = None
    """Cap on optimizer steps per run (None: no cap)."""
    flops_reference: str = "full"
    """Strategy whose epochs-budget FLOPs set the budget under policy `flops`."""
    patience: int = 3
    """Runs that train until a plateau anneal and stop after this many evaluations in a row with neither a new
    best validation metric nor a new lowest validation loss. Every run is also scored at its best checkpoint
    (best validation metric: accuracy for classification, perplexity for language models); its final model is
    its last weights unless validation shows the best checkpoint clearly better (`analysis.frames.keeps_best`)."""
    plateau_cap: float = 4.0
    """A run that trains until a plateau stops at the latest after this many times the steps the policy
    gives it (the cap is also its learning-rate schedule's length)."""

    def __post_init__(self) -> None:
        _check(self.patience >= 1, "budget.patience must be at least 1 evaluation")
        _check(_finite(self.plateau_cap) and self.plateau_cap >= 1, "budget.plateau_cap must be a number ≥ 1")
        _check(self.policy in BUDGET_POLICIES, f"budget.policy must be one of {', '.join(BUDGET_POLICIES)}, got {self.policy!r}")
        _check(_finite(self.epochs) and self.epochs > 0, f"budget.epochs must be a positive number, got {self.epochs}")
        _check(0 < self.steps <= MAX_STEPS, f"budget.steps must be from 1 to {MAX_STEPS:,}, got {self.steps}")
        _check(_finite(self.epochs) and self.epochs <= 10_000, "budget.epochs must be at most 10,000")
        _check(1 <= self.min_steps <= MAX_STEPS, f"budget.min_steps must be from 1 to {MAX_STEPS:,}")
        _check(self.max_steps is None or self.max_steps <= MAX_STEPS, f"budget.max_steps must be at most {MAX_STEPS:,}")
        _check(_finite(self.plateau_cap) and self.plateau_cap <= 100, "budget.plateau_cap must be at most 100")
        _check(self.max_steps is None or self.max_steps >= self.min_steps, "budget.max_steps must be ≥ budget.min_steps")


@dataclass
class OptimConfig:
    name: str = "adamw"
    """Optimizer: adamw (default; fused on CUDA), adam, sgd (with momentum), rmsprop or adagrad."""
    weight_decay: float = 0.01
    """Decoupled weight decay (adamw) or L2 penalty (others); never applied to biases and norms."""
    momentum: float = 0.9
    """Momentum for sgd and rmsprop."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam/AdamW betas."""
    warmup_fraction: float = 0.1
    """Share of the steps spent warming the learning rate up linearly from 0."""
    schedule: str = "linear"
    """Decay after warmup: `linear` to 0, `cosine` to 0, or `constant`."""
    grad_clip: float | None = 1.0
    """Clip the global gradient norm to this value (None: no clipping)."""

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        _check(self.name in OPTIMIZERS, f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")
        _check(_finite(self.weight_decay) and 0 <= self.weight_decay <= MAX_WEIGHT_DECAY,
               f"optim.weight_decay must be a number from 0 to {MAX_WEIGHT_DECAY:g}, got {self.weight_decay}")
        _check(0 <= self.momentum < 1, "optim.momentum must be in [0, 1)")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optim.betas must be two numbers in [0, 1)")
        _check(0 <= self.warmup_fraction < 1, "optim.warmup_fraction must be in [0, 1)")
        _check(self.schedule in ("linear", "cosine", "constant"),
               f"optim.schedule must be linear, cosine or constant, got {self.schedule!r}")
        _check(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip must be positive (or null)")


@dataclass
class TrainConfig:
    batch_size: int = 32
    """Examples per optimizer step (the effective batch)."""
    micro_batch_size: int | None = None
    """Examples per forward/backward; batch_size/micro_batch_size steps of gradient accumulation. None
    means no accumulation. Smaller saves memory, costs speed."""
    eval_every: int | None = None
    """Evaluate every k optimizer steps; None picks about `evals_per_run` evaluations per run."""
    evals_per_run: int = 5
    """Evaluations per run when `eval_every` is None (plus one before training and one at the end); 1 to
    `MAX_EVALS` (each one scores the whole validation set)."""
    eval_at_start: bool = True
    """Evaluate before the first step too, so curves start at the untrained model (one more eval per run)."""
    probe_every_eval: bool = False
    """Run forgetting probes at every evaluation (a curve) instead of only before and after training."""
    checkpoint_every: int | None = None
    """Checkpoint every k steps (for resume); None checkpoints at every evaluation. Always at the end."""
    keep_checkpoint: bool = True
    """Keep the final checkpoint on disk (weights or adapter) after the run finishes."""
    packing: bool = True
    """Chat: pack each step's whole conversations into rows of up to `model.max_length` tokens (fewer padded tokens,
    so faster; a packed conversation can attend to the ones before it in its row, as TRL's default packing does). A
    step still takes `batch_size` conversations. Validation and eval are never packed."""
    generations: int = 4
    """Chat: held-out prompts each run answers at every evaluation (validation prompts, shown on Live), at the end
    (eval prompts: side-by-side on Compare and in the report, with ROUGE-L) and on general prompts (forgetting).
    Greedy decoding; 0 turns generation off."""
    generation_tokens: int = 48
    """Chat: the most new tokens per generated answer."""

    def __post_init__(self) -> None:
        _check(1 <= self.batch_size <= MAX_BATCH, f"train.batch_size must be from 1 to {MAX_BATCH:,}, got {self.batch_size}")
        if self.micro_batch_size is not None:
            _check(1 <= self.micro_batch_size <= self.batch_size and self.batch_size % self.micro_batch_size == 0,
                   f"train.micro_batch_size ({self.micro_batch_size}) must divide train.batch_size ({self.batch_size})")
        _check(self.eval_every is None or self.eval_every >= 1, "train.eval_every must be ≥ 1 (or null)")
        _check(isinstance(self.evals_per_run, int) and 1 <= self.evals_per_run <= MAX_EVALS,
               f"train.evals_per_run must be a whole number from 1 to {MAX_EVALS:,}, got {self.evals_per_run!r}")
        _check(self.checkpoint_every is None or self.checkpoint_every >= 1, "train.checkpoint_every must be ≥ 1 (or null)")
        _check(isinstance(self.generations, int) and 0 <= self.generations <= 64,
               "train.generations must be a whole number from 0 to 64")
        _check(isinstance(self.generation_tokens, int) and 1 <= self.generation_tokens <= 1024,
               "train.generation_tokens must be a whole number from 1 to 1024")


@dataclass
class ProbeConfig:
    kind: str = "auto"
    """`auto` (retrieval for encoders, perplexity on held-out source text for causal LMs), `retrieval`
    (summary→body recall@1 of the embeddings on reference docstrings), `perplexity` (on `source` text),
    `knn` (k-nearest-neighbour accuracy of the embeddings on a labelled "old task" `source`), or `none`."""
    source: str | None = None
    """Data for perplexity/knn probes (same forms as data.source); retrieval uses built-in reference text."""
    text_column: str = "text"
    """Text column of `source`."""
    label_column: str = "label"
    """Label column of `source` (knn)."""
    max_examples: int = 400
    """Examples (or pairs) the probe evaluates; more is steadier and slower."""

    def __post_init__(self) -> None:
        _check(self.kind in PROBE_KINDS, f"probe kind must be one of {', '.join(PROBE_KINDS)}, got {self.kind!r}")
        _check(self.kind not in ("knn",) or bool(self.source), "a knn probe needs a labelled `source` (the old task's data)")
        _check(self.max_examples >= 10, "probe max_examples must be at least 10")


@dataclass
class SpeedConfig:
    device: str = "auto"
    """`auto` (first CUDA GPU, else CPU), `cpu`, or `cuda`/`cuda:N`."""
    bf16: bool | None = None
    """bf16 autocast: None = on for CUDA, off on CPU. Halves activation memory and speeds up matmuls on
    recent GPUs; off on CPU, where bf16 matmuls are usually slower."""
    compile: bool | None = None
    """torch.compile the model: None = on for CUDA (batches are padded to multiples of 16 so a few static
    shapes cover every batch), off on CPU. Faster steps after a compile warm-up of tens of seconds;
    rarely worth it for short CPU runs."""
    num_threads: int | None = None
    """CPU threads for torch (None: torch's default). Fix it for bit-identical CPU reruns across machines."""

    def __post_init__(self) -> None:
        _check(isinstance(self.device, str) and re.fullmatch(r"auto|cpu|cuda(:\d{1,3})?", self.device) is not None,
               f"speed.device must be auto, cpu, cuda or cuda:N (N a GPU's number), got {self.device!r}")
        _check(self.num_threads is None or 1 <= self.num_threads <= MAX_THREADS,
               f"speed.num_threads must be from 1 to {MAX_THREADS}, got {self.num_threads}")


@dataclass
class PretrainConfig:
    """The hybrid path: pre-train a small GPT-2-style model from scratch on corpus A, then use it as the
    base for the experiment's strategies on corpus B. Its cost is stored as a run of its own."""
    data: DataConfig = field(default_factory=lambda: DataConfig(source="builtin:python-stdlib"))
    """Corpus A."""
    vocab_size: int = 4096
    """Byte-level BPE vocabulary trained on corpus A (cached); B is tokenised with the same one."""
    n_layer: int = 4
    """Transformer blocks."""
    n_embd: int = 256
    """Hidden size."""
    n_head: int = 4
    """Attention heads."""
    steps: int = 1500
    """Optimizer steps of pretraining."""
    lr: float = 1e-3
    """Peak learning rate of pretraining."""
    seed: int = 0
    """Seed of the pretraining run."""

    def __post_init__(self) -> None:
        _check(256 <= self.vocab_size <= 65536, "pretrain.vocab_size must be between 256 and 65536")
        _check(self.n_layer >= 1 and self.n_embd >= 8 and self.n_head >= 1, "pretrain model sizes must be positive")
        _check(self.n_embd % self.n_head == 0, f"pretrain.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        _check(self.steps >= 1 and _finite(self.lr) and 0 < self.lr <= MAX_LR,
               f"pretrain.steps must be positive and pretrain.lr a positive number up to {MAX_LR:g}")
        _check(0 <= self.seed < 2 ** 32, "pretrain.seed must be between 0 and 4294967295")


Size = Union[int, str]


@dataclass
class LRSweepConfig:
    """The learning-rate search, on by default: each strategy without a fixed `lr` starts its grid run at the search
    size at a few learning rates; at the rung (a share of its steps) the rate whose best validation value of the
    task's primary metric so far is best (validation loss breaks ties) wins and its run continues as the grid run, the
    others stop, and the strategy's other grid runs train at that rate. Scratch and fine-tuning want very different rates, and a
    rate tuned on one dataset can diverge on another, so one shared or built-in rate would make the comparison unfair.
    A finished search is reused by any later experiment of this store with the same data, model, strategy
    and search settings (and the built-in presets ship theirs)."""
    factors: list[float] = field(default_factory=lambda: [1 / 3, 1.0, 3.0])
    """Multiples of each strategy's default learning rate to try: distinct positive numbers (one rate tried twice
    would only spend the budget twice)."""
    lrs: dict[str, list[float]] = field(default_factory=dict)
    """Explicit grids by strategy name (replace `factors` for that strategy), e.g. {full: [3e-5, 1e-4]}."""
    size: Size = 1000
    """The search runs at the largest grid size not above this (`all`: the largest size; if every size is above it,
    the smallest), so the winner's run is a run of the grid."""
    seed: int | None = None
    """Seed of the search runs (None: the experiment's first seed, so the winner's run is a run of the grid)."""
    budget: float = 0.25
    """The search may spend at most this share (in (0, 1]) of the grid's planned training FLOPs on runs the grid does not
    keep (the losing rates up to the rung); the rung is placed as late as that allows, between 0.2 and 1 times the
    policy's steps at the search size."""
    rung: float | None = None
    """Fix the rung instead, as a share of the policy's steps at the search size (1: compare after the whole budget)."""
    reuse: bool = True
    """Reuse a finished search with the same data, model, strategy and settings instead of running it again."""

    def __post_init__(self) -> None:
        _check(bool(self.factors) and all(_finite(f) and 0 < f <= MAX_MULTIPLIER for f in self.factors),
               f"lr_sweep.factors must be positive numbers up to {MAX_MULTIPLIER:g}")
        _check(len(set(self.factors)) == len(self.factors),
               f"lr_sweep.factors lists a factor twice ({self.factors}); give distinct multiples, e.g. [0.33, 1, 3]")
        _check(all(len(set(v)) == len(v) for v in self.lrs.values() if isinstance(v, list)),
               "lr_sweep.lrs lists a learning rate twice for a strategy; give distinct rates")
        _check(all(isinstance(v, list) and v and all(_finite(x) and 0 < x <= MAX_LR for x in v) for v in self.lrs.values()),
               f"lr_sweep.lrs must map strategy names to non-empty lists of positive learning rates up to {MAX_LR:g}")
        _check(self.size == "all" or (isinstance(self.size, int) and self.size > 0),
               "lr_sweep.size must be a positive integer or 'all'")
        _check(self.seed is None or 0 <= self.seed < 2 ** 32, "lr_sweep.seed must be between 0 and 4294967295")
        _check(_finite(self.budget) and 0 < self.budget <= 1,
               f"lr_sweep.budget must be a share of the grid's FLOPs in (0, 1] (0.25: a quarter), got {self.budget}")
        _check(self.rung is None or (_finite(self.rung) and 0 < self.rung <= 1),
               "lr_sweep.rung must be a share of the steps in (0, 1]")


@dataclass
class ExperimentConfig:
    name: str
    """A name for people; experiments are identified by id."""
    task: str = "text-classification"
    """Task kind: `text-classification` (encoder; accuracy and macro-F1), `causal-lm` (decoder; loss and
    perplexity), `image-classification` (an image classifier; accuracy and macro-F1), `chat` (a chat model tuned
    on conversations; perplexity of the answers, ROUGE-L and side-by-side generations), `tabular-classification`
    or `tabular-regression` (an MLP from scratch on a table's columns against gradient-boosted trees; accuracy and
    macro-F1, or RMSE and R²)."""
    data: DataConfig = field(default_factory=DataConfig)
    """Training/eval data and column mapping."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Base model and architecture-level settings."""
    strategies: list[StrategyConfig] = field(default_factory=lambda: [StrategyConfig("scratch"), StrategyConfig("full")])
    """Strategies to compare; each may override lr, weight decay, budget and its own options."""
    sizes: list[Size] = field(default_factory=lambda: [100, 1000])
    """Training-set sizes: positive integers and/or `all`. Subsets are nested."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Seeds: each (strategy, size) runs once per seed."""
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    """How long each run trains (equal epochs, steps or FLOPs)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and learning-rate schedule."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Batching, evaluation and checkpoint cadence."""
    probes: list[ProbeConfig] = field(default_factory=lambda: [ProbeConfig()])
    """Forgetting probes, measured on the untouched base, during training and at the end."""
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    """Device and speed switches."""
    pretrain: PretrainConfig | None = None
    """Hybrid path only: pre-train the base on corpus A first (set model.base to `pretrain`)."""
    references: bool = True
    """Score trivial and classical references at every training-set size on the same subsets and eval set: the
    majority class and TF-IDF (text) or pixels (images) + logistic regression; for tables the majority class or
    training mean, a linear model and gradient-boosted trees (scikit-learn) — what a team would use instead. Seconds
    of CPU that show at once whether a neural run is even above trivial."""
    lr_sweep: LRSweepConfig | None = field(default_factory=LRSweepConfig)
    """The learning-rate search per strategy (on by default); null turns it off, and then every strategy
    without a fixed `lr` trains at its built-in default — which the app flags as untuned."""

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and bool(self.name.strip()), "the experiment needs a name")
        _check(self.name.isprintable() and len(self.name) <= 200,
               "the experiment's name must be printable text of at most 200 characters (no control characters)")
        _check(isinstance(self.task, str) and bool(self.task), "the experiment needs a task (its kind: see `training.tasks`)")
        _check(bool(self.strategies), "choose at least one strategy")
        labels = [s.label for s in self.strategies]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        _check(not dupes, f"strategy listed twice: {', '.join(dupes)}; give repeats a different budget_multiplier or drop them")
        _check(bool(self.sizes), "give at least one training-set size (a positive integer or 'all')")
        for n in self.sizes:
            if isinstance(n, str):
                _check(n == "all", f"training-set size {n!r} is not a number; use positive integers or 'all'")
            else:
                _check(isinstance(n, int) and not isinstance(n, bool) and n > 0,
                       f"training-set size {n!r} must be a positive integer (or 'all')")
        _check(len(set(map(str, self.sizes))) == len(self.sizes), "a training-set size is listed twice")
        _check(bool(self.seeds) and all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds),
               "seeds must be a non-empty list of integers")
        _check(all(0 <= s < 2 ** 32 for s in self.seeds), "seeds must be between 0 and 4294967295 (2**32 − 1)")
        _check(len(set(self.seeds)) == len(self.seeds), "a seed is listed twice")
        _check((self.model.base == "pretrain") == (self.pretrain is not None),
               "the hybrid path needs both model.base: pretrain and a pretrain: section (or neither)")
        if self.budget.policy == "flops":
            _check(self.budget.flops_reference in [s.name for s in self.strategies],
                   f"budget.flops_reference {self.budget.flops_reference!r} is not among the strategies")
        if self.lr_sweep is not None:
            unknown = sorted(set(self.lr_sweep.lrs) - {s.name for s in self.strategies} - set(labels))
            _check(not unknown, f"lr_sweep.lrs names {', '.join(unknown)}, which is not among the strategies "
                                f"({', '.join(labels)}); its rates would be ignored")

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        return _from_plain(cls, d, "config")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.write_text(self.to_yaml() if path.suffix in (".yaml", ".yml") else self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "ExperimentConfig":
        path = Path(path)
        try:
            if path.exists() and not path.is_dir() and not path.is_file():
                raise ConfigError(f"{path} is not a regular file (a device or a pipe); give a config file (YAML or JSON)")
            with path.open("rb") as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path} is over {MAX_CONFIG_BYTES // 1_000_000} MB, too large to be a config")
            text = raw.decode("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path} is a folder; give the config file (YAML or JSON) inside it") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text (a binary file, or saved as UTF-16?); save the config as UTF-8 "
                              "YAML or JSON") from None
        except OSError as e:
            raise ConfigError(f"{path} cannot be read: {e.strerror or e}") from None
        return cls.from_text(text, str(path), json_=path.suffix == ".json")

    @classmethod
    def from_text(cls, text: str, where: str = "the config", json_: bool = False) -> "ExperimentConfig":
        """A config from YAML (or JSON) text; errors name `where` and refuse keys given twice (YAML would keep the
        last silently) and nesting too deep to be a config."""
        kind = "JSON" if json_ else "YAML"
        try:
            d = json.loads(text, object_pairs_hook=_unique_keys) if json_ else yaml.load(text, Loader=_UniqueKeyLoader)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{where} is not valid {kind}: {e}") from None
        except RecursionError:
            raise ConfigError(f"{where} is nested too deeply to be a config") from None
        except ValueError as e:  # a key given twice
            raise ConfigError(f"{where}: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{where} must hold a mapping of config fields at the top level")
        try:
            return cls.from_dict(d)
        except RecursionError:
            raise ConfigError(f"{where} is nested too deeply to be a config") from None

    def resolved_sizes(self, pool_size: int) -> list[int]:
        """Sizes as integers, 'all' → pool_size, sorted and de-duplicated."""
        return sorted({pool_size if n == "all" else int(n) for n in self.sizes})


def pool_estimate(rows: int, data: "DataConfig") -> int:
    """About how many of `rows` examples end up in the training pool once eval and validation take their share (the
    split's own arithmetic, before grouping or stratification moves a few rows)."""
    n_eval = 0 if data.eval_source else min(round(rows * data.eval_fraction), data.eval_max or rows)
    side = rows - n_eval
    return max(0, side - min(round(side * data.validation_fraction), data.validation_max or side))


def suggested_sizes(rows: int, data: "DataConfig") -> list:
    """Training-set sizes a file of `rows` examples can hold: 100, 1,000 and 10,000 where each is at most a third of the
    pool, then "all" (two or three sizes: enough for a data-needs curve); a small pool gets a quarter of itself and
    "all"; a tiny one "all" alone."""
    pool = pool_estimate(rows, data)
    fixed = [n for n in (100, 1000, 10_000) if 3 * n <= pool][-2:]
    if fixed:
        return fixed + ["all"]
    return [max(2, pool // 4), "all"] if pool >= 40 else ["all"]


def _unique_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"key {', '.join(map(repr, twice))} is given twice; keep one")
    return dict(pairs)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that gives a key twice."""

    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)  # YAML merge keys (`<<: *defaults`) first, as the safe loader does
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ValueError(f"key {key!r} is given twice (line {key_node.start_mark.line + 1}); keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


MAX_STEPS = 10_000_000
MAX_EVALS = 1000
"""The most evaluations per run (`train.evals_per_run`)."""
MAX_BATCH = 1_000_000
MAX_THREADS = 1024
MAX_WEIGHT_DECAY = 10.0
MAX_LR = 100.0
MAX_MULTIPLIER = 1000.0
MAX_CONFIG_BYTES = 5_000_000
"""Bounds on numbers a config may hold: far beyond any sensible run, and inside what a worker can allocate and the
store can record (a batch of 10¹⁸ overflowed SQLite's integers; 10⁹ threads made a worker allocate 216 GB)."""


def _same_source(a: str, b: str) -> bool:
    """The same data: the same spec, or two paths to one file."""
    if a.strip() == b.strip():
        return True
    if ":" in a.split("/")[0] or ":" in b.split("/")[0]:  # builtin:…, hf:…
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except (OSError, RuntimeError):
        return False


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


def _from_plain(tp: Any, value: Any, where: str) -> Any:
    """Build `tp` from plain JSON/YAML data, naming the field path in every error."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if tp is StrategyConfig and isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
        hints = get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError(f"unknown field {unknown[0]!r} in {where}; fields are: {', '.join(names)}")
        kwargs = {k: _from_plain(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        try:
            return tp(**kwargs)
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _from_plain(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} has the wrong type")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}")
        (item_tp, *_) = get_args(tp) or (Any,)
        items = [_from_plain(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping")
        return dict(value)
    if origin is Literal:
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads 1e-4 as a string
        except ValueError:
            pass
    if isinstance(tp, type) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be {tp.__name__}, got {value!r}")
    return value


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass, as one line of text."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs
