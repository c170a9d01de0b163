"""Task data: a source read, split into a training pool, a validation set and an eval set, tokenised (cached).

Three disjoint parts, all by group when groups exist:
  eval        what every reported number is measured on — a split of `data.source`, or every row of
              `data.eval_source` (the user's own test set). No choice the app makes looks at it.
  validation  held out of the training side for model selection: the learning-rate search, early stopping
              and the best checkpoint. Never trained on, never reported.
  train pool  the rest; a run's training subset of size N is a prefix of one stratified order (nested).

Text classification: one example per row, labels encoded in sorted order of the training labels.
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
    unit = "training examples" if task == "text-classification" else "training blocks"
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


def prepare_task_data(cfg: DataConfig, task: str, tokenizer, max_length: int, cache_dir: Path | None,
                      table: Table | None = None) -> TaskData:
    table = table or read_table(cfg, task)
    where = describe_source(cfg.source)
    classify = task == "text-classification"
    labels = table.labels if classify else None
    eval_table = read_eval_table(cfg, task) if cfg.eval_source else None
    if eval_table is None:
        side_idx, eval_idx = train_eval_split(len(table), labels, table.groups, cfg.eval_fraction,
                                              cfg.eval_max if classify else None, cfg.split_seed)
    else:
        side_idx, eval_idx = np.arange(len(table)), np.arange(len(eval_table))
    if len(side_idx) == 0 or len(eval_idx) == 0:
        raise DataError(f"{where} is too small to split into train and eval ({len(table)} rows"
                        f"{', ' + str(len(set(table.groups))) + ' groups' if table.groups else ''}); "
                        "give more rows or more groups")
    # Validation: held out of the training side, by group, with its own seed stream.
    pool_rel, val_rel = train_eval_split(
        len(side_idx), [labels[i] for i in side_idx] if classify else None,
        [table.groups[i] for i in side_idx] if table.groups else None, cfg.validation_fraction,
        cfg.validation_max if classify else None, cfg.split_seed + 1)
    train_idx, val_idx = side_idx[pool_rel], side_idx[val_rel]
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DataError(f"{where} is too small to hold out a validation set for model selection ({len(side_idx)} "
                        "rows on the training side); give more rows or more groups")
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
