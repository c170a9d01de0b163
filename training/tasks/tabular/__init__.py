"""Tables (classification and regression share this folder): a table's own columns have no pretrained model, so the
question is whether a neural network trained from scratch is worth it next to gradient-boosted trees. An MLP trains
from scratch; preprocessing is fitted on each run's training rows only; references are the majority class or the
training mean, a linear model and gradient-boosted trees; no forgetting probe applies."""
from __future__ import annotations

from pathlib import Path

from training.config import ModelConfig
from training.errors import ConfigError
from training.tasks.base import Form, TaskKind
from training.tasks.tabular.words import CLASSIFICATION, REGRESSION

MLP_BASE = "builtin:mlp"
TABLE_FORM = Form(pickers="table", controls={"data.label_column": "Target column", "data.feature_columns": "Feature columns"},
                  column_note="Numeric columns are standardised and text columns one-hot encoded, missing values "
                              "imputed — all fitted on each run's own training rows, never on validation or eval rows. "
                              "ID-like, constant and target-copying columns are left out and named under the feature "
                              "picker; rows that repeat another exactly are counted and kept on one side of the split.",
                  builtin_model="Built-in MLP (from scratch)", own_models=False, max_length=None, mlp=True,
                  mlp_note="No pretrained model exists for a table's own columns: the MLP trains from scratch, and "
                           "gradient-boosted trees and a linear model run beside it at every size.")


class TableProcessor:
    """A table's 'processor': preprocessing is fitted per run (see `training.tasks.tabular.data`); batches are dense,
    so there is nothing to pad."""

    pad_token_id = 0


class _Tabular(TaskKind):
    classical_references = 2
    unit = "training rows"
    refused = {name: "no pretrained model exists for your table's own columns, so there is nothing to fine-tune: "
                     "the comparison is an MLP from scratch against gradient-boosted trees (the references)"
               for name in ("full", "lora", "qlora", "head", "freeze", "discriminative", "lp-ft")} | {
        "own": "a table's scratch already is the model an engineer would build: an MLP on your own columns, its "
               "preprocessing fitted on each run's rows"}
    strategy_words = {"scratch": ("An MLP on your table's columns, from random weights; every parameter trains.",
                                  "The network for a table: it is worth it where it beats the gradient-boosted trees "
                                  "and the linear model that run beside it, at the sizes you have.")}
    default_lrs = {"scratch": 1e-3}  # the MLP: diamonds scan (1e-3–3e-3 best), checked on mpg and penguins (bench/RESULTS.md)
    default_base = MLP_BASE
    probe_default = "none: a model trained from scratch has no earlier skill to forget"
    form = TABLE_FORM

    @property
    def builtins(self) -> dict[str, str]:
        from training.tasks.tabular.data import BUILTIN_TABLES

        return {n: f"predict {entry[1]}" for n, entry in BUILTIN_TABLES.items() if entry[0] == self.name}

    def builtin_target(self, name: str) -> str:
        """The target column of a built-in table."""
        from training.tasks.tabular.data import BUILTIN_TABLES

        return BUILTIN_TABLES[name][1]

    def prepare_data(self, cfg, processor, max_length: int, cache_dir: Path | None):
        from training.tasks.tabular.data import prepare

        return prepare(cfg, self.name, self.unit)

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
        from training.tasks.tabular.model import build_tabular_model

        outputs = num_labels if self.classification else 1
        return build_tabular_model(n_features, outputs, seed=seed, width=cfg.mlp_width, depth=cfg.mlp_depth,
                                   dropout=cfg.dropout, init=cfg.init, target_mean=target_mean,
                                   target_scale=target_scale)

    def run_parts(self, data, cfg, n: int, seed: int):
        from training.tasks.tabular.data import prepare_run_parts

        table, (pool, val, evals) = data.extra["table"], data.extra["indices"]
        train_idx = pool[data.subset_indices(cfg.data, n, seed)]
        train, validation, evaluation, info = prepare_run_parts(table, train_idx, val, evals, data.label_names,
                                                                self.name)
        keys = ("n_features", "target_mean", "target_scale")
        return train, validation, evaluation, {k: info[k] for k in keys if info.get(k) is not None}

    exports = True
    input_form = "row"
    refits_per_run = True

    def run_processor(self, data, cfg, n: int, seed: int) -> tuple[object, dict]:
        from training.tasks.tabular.data import fit_preprocessor, model_inputs

        table, (pool, _, _) = data.extra["table"], data.extra["indices"]
        prep = fit_preprocessor(table, pool[data.subset_indices(cfg.data, n, seed)], data.label_names, self.name)
        first = table.frame.iloc[int(data.extra["indices"][2][0])]  # an eval row: the model card's example
        prep.example = {c: (None if v is None or (isinstance(v, float) and v != v) else v.item() if hasattr(v, "item")
                            else v) for c, v in first.items()}
        return prep, model_inputs(prep)

    def predict(self, model, processor, inputs: list, cfg, label_names: list[str]) -> list[dict]:
        from training.tasks.tabular.model import predict_rows

        return predict_rows(model, processor, inputs, label_names)

    def export(self, model, processor, out: Path, label_names: list[str], cfg) -> dict:
        from training.tasks.tabular.model import export_tabular

        return export_tabular(model, processor, out, label_names)

    def load_exported(self, folder: Path):
        from training.tasks.tabular.model import load_exported_tabular

        return load_exported_tabular(folder)

    def card_snippet(self, folder: Path, meta: dict) -> str:
        from training.tasks.tabular.model import CARD_SNIPPET

        example = meta.get("example") or {c: None for c in meta.get("numeric", []) + meta.get("categorical", [])}
        return CARD_SNIPPET.format(folder=str(folder).replace("\\", "/"), example=repr(example))

    def sizing_inputs(self, data) -> dict:
        return {"n_features": int(data.train.features.shape[1])}

    def batch_flops(self, counter, micro, data, cached: bool) -> float:
        return counter.training_flops(0, 0, len(micro))

    def encode_flops(self, counter, data) -> float:
        return counter.forward_flops(0, 0, len(data), units=slice(None, -1))

    def example_flops(self, counter, data, cached: bool) -> float:
        return counter.training_flops(0, 0, 1)

    def probes(self, cfg, processor, cache_dir: Path | None, held_out=None) -> list:
        from training.tasks.tabular.probe import build

        return build(cfg)

    reference_seconds_per_example = 2e-4

    def eval_inputs(self, data) -> list[str] | None:
        """Each eval row as "column = value" pairs, in file order (missing values as "—")."""
        import pandas as pd

        table, (_, _, eval_idx) = data.extra["table"], data.extra["indices"]
        rows = table.frame.iloc[eval_idx]

        def cell(v) -> str:
            return "—" if pd.isna(v) else (f"{v:.6g}" if isinstance(v, float) else str(v))

        return ["; ".join(f"{c} = {cell(v)}" for c, v in zip(rows.columns, row, strict=True))
                for row in rows.itertuples(index=False)]

    def reference_rows(self, data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
        from training.tasks.tabular.references import rows

        return rows(data, cfg, sizes, seeds)


class TabularClassification(_Tabular):
    name = "tabular-classification"
    title = "Tabular classification (a table's columns → a class)"
    help = ("an MLP trained from scratch on a table's columns against gradient-boosted trees (no pretrained model "
            "exists for your columns), scored by accuracy and macro-F1")
    words = CLASSIFICATION


class TabularRegression(_Tabular):
    name = "tabular-regression"
    title = "Tabular regression (a table's columns → a number)"
    help = ("the same for a number, scored by RMSE")
    metric, higher_is_better = "rmse", False
    classification = False
    words = REGRESSION

    def loss(self, logits, batch):
        from training.core.evaluate import regression_loss

        return regression_loss(logits, batch["labels"])

    def evaluate(self, model, batches, n_classes: int, autocast, items: dict | None = None) -> dict[str, float]:
        from training.core.evaluate import evaluate_regression

        return evaluate_regression(model, batches, autocast, items)


KINDS = (TabularClassification(), TabularRegression())
