"""Task data: a source read, split into a training pool, a validation set and an eval set, tokenised (cached).

Three disjoint parts, all by group when groups exist:
  eval        what every reported number is measured on — a split of `data.source`, or every row of
              `data.eval_source` (the user's own test set). No choice the app makes looks at it.
  validation  held out of the training side for model selection: the learning-rate search, early stopping
              and the best checkpoint. Never trained on, never reported.
  train pool  the rest; a run's training subset of size N is a prefix of one stratified order (nested).

Text classification: one example per row, labels encoded in sorted order of the training labels.
Image classification: one example per image, decoded once into a uint8 square (see `images`).
Causal LM: each document (row) stays in one part; each part is joined and cut into blocks of
`model.max_length` tokens, and one *example* is one block — training-set sizes count blocks.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.config import DataConfig
from training.core.data.sources import Table, describe_source, load_table
from training.core.data.split import nested_subset_order, train_eval_split
from training.core.data.tokenize import Examples, encode_blocks, encode_texts
from training.errors import DataError


@dataclass
class TaskData:
    task: str
    train: Examples
    """The training pool; run subsets are prefixes of `subset_order`."""
    eval: Examples
    label_names: list[str]
    fingerprint: str
    info: dict = field(default_factory=dict)
    train_labels: list[str] | None = None
    validation: Examples | None = None
    """Held out of the training side for model selection (see the module docstring)."""
    texts: dict[str, list[str]] = field(default_factory=dict)
    """Raw texts of `train`, `validation` and `eval` (text classification: the classical baselines use them)."""
    extra: dict = field(default_factory=dict)
    """What a task kind keeps beside the examples: chat, the `conversations` of each part (generation prompts);
    tables, the `table` and the row `indices` of (train pool, validation, eval) — each run refits its preprocessing."""

    def subset_order(self, cfg: DataConfig, seed: int) -> np.ndarray:
        return nested_subset_order(self.train_labels, len(self.train), cfg.split_seed, seed, cfg.subset_policy)

    def subset_indices(self, cfg: DataConfig, n: int, seed: int) -> np.ndarray:
        """Pool positions of the size-n training subset of a run with this seed (sorted)."""
        if n > len(self.train):
            raise DataError(too_many_message(n, len(self.train), self.task))
        return np.sort(self.subset_order(cfg, seed)[:n])

    def subset(self, cfg: DataConfig, n: int, seed: int) -> Examples:
        return self.train.subset(self.subset_indices(cfg, n, seed))


def too_many_message(n: int, pool: int, task: str) -> str:
    from training.core.tasks import task_kind

    unit = task_kind(task).unit
    return (f"training-set size {n:,} is larger than the {pool:,} {unit} available after the eval and validation splits; "
            f"use sizes up to {pool:,}, or 'all'")


def read_table(cfg: DataConfig, task: str) -> Table:
    group_column = cfg.group_column
    if cfg.source.startswith("builtin:") and group_column is None:
        group_column = "group"  # built-ins carry their documents/modules as groups
    return load_table(cfg.source, task, text_column=cfg.text_column, label_column=cfg.label_column,
                      group_column=group_column, hf_split=cfg.hf_split, max_rows=cfg.max_rows)


def read_eval_table(cfg: DataConfig, task: str) -> Table:
    """The user's own test set: every usable row of `data.eval_source`, with the same column mapping."""
    return load_table(cfg.eval_source, task, text_column=cfg.text_column, label_column=cfg.label_column,
                      group_column=None, hf_split=cfg.eval_hf_split, min_classes=1)


def split_indices(cfg: DataConfig, n_rows: int, labels, groups, eval_rows: int | None, where: str,
                  stratify_caps: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train pool, validation, eval) row positions: eval a split of the source (or every row of the user's own
    eval file, `eval_rows` of them), validation held out of the training side, both by group when groups exist."""
    if eval_rows is None:
        side_idx, eval_idx = train_eval_split(n_rows, labels, groups, cfg.eval_fraction,
                                              cfg.eval_max if stratify_caps else None, cfg.split_seed)
    else:
        side_idx, eval_idx = np.arange(n_rows), np.arange(eval_rows)
    if len(side_idx) == 0 or len(eval_idx) == 0:
        raise DataError(f"{where} is too small to split into train and eval ({n_rows} rows"
                        f"{', ' + str(len(set(groups))) + ' groups' if groups else ''}); "
                        "give more rows or more groups")
    # Validation: held out of the training side, by group, with its own seed stream.
    pool_rel, val_rel = train_eval_split(
        len(side_idx), [labels[i] for i in side_idx] if labels is not None else None,
        [groups[i] for i in side_idx] if groups else None, cfg.validation_fraction,
        cfg.validation_max if stratify_caps else None, cfg.split_seed + 1)
    train_idx, val_idx = side_idx[pool_rel], side_idx[val_rel]
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DataError(f"{where} is too small to hold out a validation set for model selection ({len(side_idx)} "
                        "rows on the training side); give more rows or more groups")
    return train_idx, val_idx, eval_idx


def prepare_task_data(cfg: DataConfig, task: str, tokenizer, max_length: int, cache_dir: Path | None,
                      table: Table | None = None) -> TaskData:
    """The task's data, prepared by its processor: a tokenizer (text, causal LM) or an `ImagePreprocessing`."""
    if task == "image-classification":
        return prepare_image_data(cfg, tokenizer, cache_dir)
    if task == "chat":
        return prepare_chat_data(cfg, tokenizer, max_length, cache_dir)
    if task in ("tabular-classification", "tabular-regression"):
        return prepare_tabular_data(cfg, task)
    table = table or read_table(cfg, task)
    where = describe_source(cfg.source)
    classify = task == "text-classification"
    labels = table.labels if classify else None
    eval_table = read_eval_table(cfg, task) if cfg.eval_source else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table), labels, table.groups,
                                                 None if eval_table is None else len(eval_table), where, classify)
    fingerprint = table.fingerprint if eval_table is None else hashlib.sha256(
        f"{table.fingerprint}|{eval_table.fingerprint}".encode()).hexdigest()
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": table.fingerprint,
            "rows": len(table), "dropped_rows": table.dropped_rows,
            "train_rows": int(len(train_idx)), "validation_rows": int(len(val_idx)), "eval_rows": int(len(eval_idx))}
    if eval_table is not None:
        info.update(eval_file_rows=len(eval_table), eval_dropped_rows=eval_table.dropped_rows)
    eval_texts = (table.texts if eval_table is None else eval_table.texts)
    if classify:
        names = table.label_names
        code = {name: i for i, name in enumerate(names)}
        ids = encode_texts(tokenizer, table.texts, max_length, cache_dir=cache_dir, fingerprint=table.fingerprint)
        y = np.array([code[v] for v in table.labels], dtype=np.int64)
        missing = sorted(set(names) - {table.labels[i] for i in train_idx})
        if missing:
            raise DataError(f"class {missing[0]!r} has no training examples after the eval and validation splits; "
                            "add examples of it or lower data.eval_fraction")
        train = Examples([ids[i] for i in train_idx], y[train_idx])
        validation = Examples([ids[i] for i in val_idx], y[val_idx])
        if eval_table is None:
            evals = Examples([ids[i] for i in eval_idx], y[eval_idx])
        else:
            unknown = sorted(set(eval_table.labels) - set(names))
            if unknown:
                raise DataError(f"the eval set {describe_source(cfg.eval_source)} has label {unknown[0]!r}, which "
                                f"{where} never has; its labels are: {', '.join(names)}")
            eval_ids = encode_texts(tokenizer, eval_table.texts, max_length, cache_dir=cache_dir,
                                    fingerprint=eval_table.fingerprint)
            evals = Examples(eval_ids, np.array([code[v] for v in eval_table.labels], dtype=np.int64))
        texts = {"train": [table.texts[i] for i in train_idx], "validation": [table.texts[i] for i in val_idx],
                 "eval": [eval_texts[i] for i in eval_idx]}
        return TaskData(task, train, evals, names, fingerprint, info, [table.labels[i] for i in train_idx],
                        validation, texts)
    split_key = f"{fingerprint}:{cfg.split_seed}:{cfg.eval_fraction}:{cfg.validation_fraction}"

    def blocks(texts: list[str], part: str) -> np.ndarray:
        return encode_blocks(tokenizer, texts, max_length, cache_dir=cache_dir, fingerprint=f"{split_key}:{part}")

    train_blocks = blocks([table.texts[i] for i in train_idx], "train")
    val_blocks = blocks([table.texts[i] for i in val_idx], "validation")
    eval_blocks = blocks([eval_texts[i] for i in eval_idx], "eval")
    if len(train_blocks) == 0 or len(eval_blocks) == 0 or len(val_blocks) == 0:
        raise DataError(f"{where} has too little text for blocks of {max_length} tokens in the training, validation "
                        "and eval parts; give more text or lower model.max_length")
    rng = np.random.default_rng(cfg.split_seed)
    if eval_table is None and cfg.eval_max is not None and len(eval_blocks) > cfg.eval_max:
        eval_blocks = eval_blocks[np.sort(rng.permutation(len(eval_blocks))[: cfg.eval_max])]
    if cfg.validation_max is not None and len(val_blocks) > cfg.validation_max:
        val_blocks = val_blocks[np.sort(rng.permutation(len(val_blocks))[: cfg.validation_max])]
    info.update(train_blocks=int(len(train_blocks)), validation_blocks=int(len(val_blocks)),
                eval_blocks=int(len(eval_blocks)))
    return TaskData(task, Examples(list(train_blocks)), Examples(list(eval_blocks)), [], fingerprint, info,
                    validation=Examples(list(val_blocks)))


def read_image_table(cfg: DataConfig, source: str | None = None, hf_split: str | None = None, min_classes: int = 2):
    from training.core.data.images import load_image_table

    return load_image_table(source or cfg.source, image_column=cfg.image_column, label_column=cfg.label_column,
                            hf_split=hf_split or cfg.hf_split, max_rows=None if source else cfg.max_rows,
                            min_classes=min_classes)


def prepare_image_data(cfg: DataConfig, prep, cache_dir: Path | None) -> TaskData:
    """Image classification: one example per image, decoded and resized once to the model's square (cached);
    split like text classification (stratified; every image its own group)."""
    from training.core.data.images import ImageExamples, decode_table, modes_note

    table = read_image_table(cfg)
    eval_table = read_image_table(cfg, cfg.eval_source, cfg.eval_hf_split, min_classes=1) if cfg.eval_source else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table), table.labels, None,
                                                 None if eval_table is None else len(eval_table), table.where, True)
    names = table.label_names
    missing = sorted(set(names) - {table.labels[i] for i in train_idx})
    if missing:
        raise DataError(f"class {missing[0]!r} of {table.where} has no training images after the eval and validation "
                        "splits; add images of it or lower data.eval_fraction")
    code = {name: i for i, name in enumerate(names)}
    pixels, modes = decode_table(table, prep, cache_dir)
    y = np.array([code[v] for v in table.labels], dtype=np.int64)

    def part(idx, px=pixels, labels=y) -> ImageExamples:
        return ImageExamples(px[idx], labels[idx], prep.mean, prep.std)

    if eval_table is None:
        evals = part(eval_idx)
        fingerprint = table.fingerprint
    else:
        unknown = sorted(set(eval_table.labels) - set(names))
        if unknown:
            raise DataError(f"the eval set {eval_table.where} has label {unknown[0]!r}, which {table.where} never has; "
                            f"its labels are: {', '.join(names)}")
        eval_pixels, eval_modes = decode_table(eval_table, prep, cache_dir)
        evals = ImageExamples(eval_pixels, np.array([code[v] for v in eval_table.labels], dtype=np.int64),
                              prep.mean, prep.std)
        modes = {m: modes.get(m, 0) + eval_modes.get(m, 0) for m in {*modes, *eval_modes}}
        fingerprint = hashlib.sha256(f"{table.fingerprint}|{eval_table.fingerprint}".encode()).hexdigest()
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": table.fingerprint,
            "rows": len(table), "dropped_rows": table.dropped_rows, "train_rows": int(len(train_idx)),
            "validation_rows": int(len(val_idx)), "eval_rows": int(len(evals)), "image_size": prep.size,
            "modes": modes, "preprocessing": prep.source}
    if note := modes_note(modes):
        info["note"] = note
    return TaskData("image-classification", part(train_idx), evals, names, fingerprint, info,
                    [table.labels[i] for i in train_idx], part(val_idx), {})


def prepare_chat_data(cfg: DataConfig, tokenizer, max_length: int, cache_dir: Path | None) -> TaskData:
    """Chat: one example per conversation, rendered with the model's chat template, the loss on the assistant's
    turns only; split by conversation (the training subset is packed per run, see `TaskKind.run_parts`)."""
    from training.core.data.chat import ChatExamples, encode_chat_table, load_chat_table

    def read(source: str, split: str, max_rows: int | None):
        return load_chat_table(source, messages_column=cfg.messages_column, prompt_column=cfg.prompt_column,
                               response_column=cfg.response_column, hf_split=split, max_rows=max_rows)

    table = read(cfg.source, cfg.hf_split, cfg.max_rows)
    eval_table = read(cfg.eval_source, cfg.eval_hf_split, None) if cfg.eval_source else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table.conversations), None, None,
                                                 None if eval_table is None else len(eval_table.conversations),
                                                 table.where, True)

    def encode(t, idx: np.ndarray, part: str) -> tuple[ChatExamples, list[list[dict]], int]:
        convs = [t.conversations[i] for i in idx]
        examples, dropped = encode_chat_table(tokenizer, convs, max_length, cache_dir=cache_dir,
                                              fingerprint=f"{t.fingerprint}:{cfg.split_seed}:{part}:{len(idx)}")
        return examples, convs, dropped

    train, train_convs, dropped_train = encode(table, train_idx, "train")
    validation, val_convs, dropped_val = encode(table, val_idx, "validation")
    evals, eval_convs, dropped_eval = (encode(table, eval_idx, "eval") if eval_table is None
                                       else encode(eval_table, eval_idx, "eval"))
    if min(len(train), len(validation), len(evals)) == 0:
        raise DataError(f"{table.where} has no conversation whose assistant turn fits in {max_length} tokens in one of "
                        "the training, validation and eval parts; raise model.max_length or give more conversations")
    fingerprint = table.fingerprint if eval_table is None else hashlib.sha256(
        f"{table.fingerprint}|{eval_table.fingerprint}".encode()).hexdigest()
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": table.fingerprint,
            "rows": len(table.conversations), "dropped_rows": table.dropped_rows, "train_rows": len(train),
            "validation_rows": len(validation), "eval_rows": len(evals),
            "truncated_away": dropped_train + dropped_val + dropped_eval,
            "assistant_tokens": int(sum(int(m.sum()) for m in train.masks))}
    return TaskData("chat", train, evals, [], fingerprint, info, None, validation,
                    extra={"conversations": {"train": train_convs, "validation": val_convs, "eval": eval_convs}})


def prepare_tabular_data(cfg: DataConfig, task: str) -> TaskData:
    """Tables: one example per row, split like text classification (stratified for classes). Each run refits the
    preprocessing on its own training rows (`TaskKind.run_parts`); the parts here are fitted on the whole training
    pool, for sizing only."""
    from training.core.data.tabular import load_tabular_table, prepare_run_parts

    def read(source: str, split: str, max_rows: int | None):
        return load_tabular_table(source, task, label_column=cfg.label_column, feature_columns=cfg.feature_columns,
                                  hf_split=split, max_rows=max_rows)

    if cfg.eval_source:
        raise DataError("a separate test file is not supported for tables yet: leave data.eval_source out, and a "
                        "held-out split of your table is the eval set")
    table = read(cfg.source, cfg.hf_split, cfg.max_rows)
    classify = task == "tabular-classification"
    labels = [str(v) for v in table.target] if classify else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table.target), labels, None, None, table.where, True)
    names = sorted(set(labels)) if classify else []
    if classify:
        missing = sorted(set(names) - {labels[i] for i in train_idx})
        if missing:
            raise DataError(f"class {missing[0]!r} of {table.where} has no training rows after the eval and validation "
                            "splits; add rows of it or lower data.eval_fraction")
    train, validation, evals, fitted = prepare_run_parts(table, train_idx, val_idx, eval_idx, names, task)
    info = {"source": cfg.source, "eval_source": None, "source_fingerprint": table.fingerprint, "rows": len(table.target),
            "dropped_rows": table.dropped_rows, "train_rows": int(len(train_idx)), "validation_rows": int(len(val_idx)),
            "eval_rows": int(len(eval_idx)), "numeric": table.numeric, "categorical": table.categorical,
            "n_features": fitted["n_features"]}
    if table.notes:
        info["note"] = " ".join(table.notes)
    return TaskData(task, train, evals, names, table.fingerprint, info,
                    [labels[i] for i in train_idx] if classify else None, validation,
                    extra={"table": table, "indices": (train_idx, val_idx, eval_idx)})
