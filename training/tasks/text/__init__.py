"""Text classification: an encoder (MiniLM by default) with a linear head on pooled token states, scored by accuracy
and macro-F1; references are the majority class and TF-IDF + logistic regression; the forgetting probe is the
encoder's sentence-embedding skill."""
from __future__ import annotations

from pathlib import Path

from training.config import ModelConfig
from training.errors import ConfigError
from training.tasks.base import Column, Form, TaskKind
from training.tasks.text.words import BUILTINS, WORDS


class TextClassification(TaskKind):
    name = "text-classification"
    title = "Text classification"
    help = "an encoder with a linear head, scored by accuracy and macro-F1"
    unit = "training examples"
    default_base = "builtin:minilm-l6"
    probe_default = "summary→body retrieval on NumPy/pandas docstrings (the encoder's sentence-embedding skill)"
    builtins = BUILTINS
    words = WORDS
    exports = True
    own_model = ("a tokenizer fitted on the run's training texts and a model sized to them (below 50,000 examples a "
                 "bag of word embeddings, as fastText; above, a small transformer encoder), from random weights")
    form = Form(columns=(Column("text_column", "Text column", "text"), Column("label_column", "Label column", "label"),
                         Column("group_column", "Group column (optional)", "group", optional=True)),
                builtin_columns=("text", "label", "group"), check_columns=True, labelled=True,
                column_note="Rows sharing a group (a document, a customer, a module) stay on one side of the "
                            "train/eval split.")

    def check_config(self, cfg) -> None:
        if cfg.data.text_column == cfg.data.label_column:  # the page refuses it; the CLI accepted it (issue 28)
            raise ConfigError(f"data.text_column and data.label_column are both {cfg.data.text_column!r}: the model "
                              "would be given the answer. Set data.label_column to the column that holds the classes")

    def prepare_data(self, cfg, processor, max_length: int, cache_dir: Path | None):
        from training.tasks.text.data import prepare

        return prepare(cfg, processor, max_length, cache_dir, self.unit)

    def eval_inputs(self, data) -> list[str] | None:
        return data.texts.get("eval")

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.tasks.text.model import build_classifier

        return build_classifier(base_dir, pretrained=pretrained, num_labels=num_labels, cfg=cfg, seed=seed,
                                load_kwargs=load_kwargs)

    def own_base(self, data, cfg, n: int, seed: int, options: dict, folder: Path) -> Path:
        from training.tasks.text.own import write_base

        texts = [data.texts["train"][i] for i in data.subset_indices(cfg.data, n, seed)]
        return write_base(texts, n, options, cfg.model.max_length, folder)

    def own_model_config(self, base_dir: Path, cfg: ModelConfig) -> ModelConfig:
        import dataclasses

        from training.tasks.text.own import max_length_of

        return dataclasses.replace(cfg, max_length=max_length_of(base_dir, cfg.max_length))

    def predict(self, model, processor, inputs: list, cfg, label_names: list[str]) -> list[dict]:
        from training.tasks.text.model import predict_texts

        return predict_texts(model, processor, [str(x) for x in inputs], cfg.model.max_length, label_names)

    def export(self, model, processor, out: Path, label_names: list[str], cfg) -> dict:
        from training.tasks.text.model import export_classifier

        return export_classifier(model, processor, out, label_names, cfg.model.max_length)

    def card_snippet(self, folder: Path, meta: dict) -> str:
        from training.tasks.text.model import BAG_CARD_SNIPPET, BAG_FORMAT, CARD_SNIPPET

        snippet = BAG_CARD_SNIPPET if meta.get("format") == BAG_FORMAT else CARD_SNIPPET
        return snippet.format(folder=str(folder).replace("\\", "/"), example="a text to classify")

    def load_exported(self, folder: Path):
        from training.tasks.text.model import load_exported

        return load_exported(folder)

    def probes(self, cfg, processor, cache_dir: Path | None, held_out=None) -> list:
        from training.tasks.text.probe import build

        return build(cfg, processor, cache_dir)

    def reference_rows(self, data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
        from training.tasks.text.references import rows

        return rows(data, cfg, sizes, seeds)


KINDS = (TextClassification(),)
