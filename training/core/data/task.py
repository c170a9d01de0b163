"""Task data: a source read, split into a training pool, a validation set and an eval set, tokenised (cached).

Three disjoint parts, all by group when groups exist:
  eval        what every reported number is measured on — a split of `data.source`, or every row of
              `data.eval_source` (the user's own test set). No choice the app makes looks at it.
  validation  held out of the training side for model selection: the learning-rate search, early stopping
              and the best checkpoint. Never trained on, never reported.
  train pool  the rest; a run's training subset of size N is a prefix of one stratified order (nested).

What one example is, and how a source is read and checked, is each task kind's (`training/tasks/<kind>/data.py`);
what they share is here.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from training.config import DataConfig
from training.core.data.sources import BUILTINS, Table, describe_source, load_table
from training.core.data.split import nested_subset_order, train_eval_split
from training.errors import DataError

if TYPE_CHECKING:  # the examples' classes (torch) are the kinds'; the app imports this module without torch
    from training.core.data.tokenize import Examples


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
    unit: str = "training examples"
    """What a training-set size counts (the kind's unit), for messages."""

    def subset_order(self, cfg: DataConfig, seed: int) -> np.ndarray:
        return nested_subset_order(self.train_labels, len(self.train), cfg.split_seed, seed, cfg.subset_policy)

    def subset_indices(self, cfg: DataConfig, n: int, seed: int) -> np.ndarray:
        """Pool positions of the size-n training subset of a run with this seed (sorted)."""
        if n > len(self.train):
            raise DataError(too_many_message(n, len(self.train), self.unit))
        return np.sort(self.subset_order(cfg, seed)[:n])

    def subset(self, cfg: DataConfig, n: int, seed: int) -> Examples:
        return self.train.subset(self.subset_indices(cfg, n, seed))


def too_many_message(n: int, pool: int, unit: str) -> str:
    return (f"training-set size {n:,} is larger than the {pool:,} {unit} available after the eval and validation splits; "
            f"use sizes up to {pool:,}, or 'all'")


def check_builtin(source: str, builtins: dict[str, str], what: str) -> None:
    """Refuse a built-in dataset that is not of this kind (`builtins`: the kind's own), naming those that are."""
    kind, _, name = source.partition(":")
    if kind == "builtin" and name in BUILTINS and name not in builtins:
        raise DataError(f"built-in dataset {name!r} is not {what} data; built-ins for {what}: {', '.join(builtins)}")


def read_table(cfg: DataConfig, labelled: bool) -> Table:
    """Rows of `data.source` mapped to (text, label where `labelled`, group)."""
    group_column = cfg.group_column
    if cfg.source.startswith("builtin:") and group_column is None:
        group_column = "group"  # built-ins carry their documents/modules as groups
    return load_table(cfg.source, labelled=labelled, text_column=cfg.text_column, label_column=cfg.label_column,
                      group_column=group_column, hf_split=cfg.hf_split, max_rows=cfg.max_rows, stray=cfg.stray_labels)


@dataclass
class SplitTexts:
    """A text source read and split (`split_texts`): the table, the user's own eval table (or None), the parts' row
    positions, the fingerprint of what is read, and the facts the plan shows."""

    table: Table
    eval_table: Table | None
    train_idx: np.ndarray
    val_idx: np.ndarray
    eval_idx: np.ndarray
    fingerprint: str
    info: dict
    where: str

    @property
    def eval_texts(self) -> list[str]:
        return self.table.texts if self.eval_table is None else self.eval_table.texts


def split_texts(cfg: DataConfig, labelled: bool) -> SplitTexts:
    """`data.source` (and `data.eval_source`) read as texts — with labels where `labelled`, stratified by them — and
    split into the training pool, validation and eval (`split_indices`)."""
    table = read_table(cfg, labelled)
    where = describe_source(cfg.source)
    eval_table = read_eval_table(cfg, labelled) if cfg.eval_source else None
    groups, copies = (table.groups, 0) if table.groups is not None else copy_groups(table.texts, table.labels)
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table), table.labels if labelled else None, groups,
                                                 None if eval_table is None else len(eval_table), where, labelled)
    fingerprint = table.fingerprint if eval_table is None else hashlib.sha256(
        f"{table.fingerprint}|{eval_table.fingerprint}".encode()).hexdigest()
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": table.fingerprint,
            "rows": len(table), "dropped_rows": table.dropped_rows,
            "train_rows": int(len(train_idx)), "validation_rows": int(len(val_idx)), "eval_rows": int(len(eval_idx))}
    if eval_table is not None:
        info.update(eval_file_rows=len(eval_table), eval_dropped_rows=eval_table.dropped_rows)
    notes = [table.note + "."] if table.note else []  # it starts with the file's own name, in its own case
    if copies:
        info["duplicate_rows"] = copies
        notes.append(f"{copies:,} of {len(table):,} examples repeat another exactly (the same text"
                     f"{' and label' if labelled else ''}); each and its copies sit on the same side of the "
                     "train/validation/eval split, so no eval example was seen in training.")
    if notes:
        info["note"] = " ".join(notes)
    return SplitTexts(table, eval_table, train_idx, val_idx, eval_idx, fingerprint, info, where)


def copy_groups(texts: list[str], labels: list[str] | None) -> tuple[list[str] | None, int]:
    """(a split group per example, how many examples copy an earlier one): an example that repeats another (the same
    text and label) shares the first one's group, so the split cannot put a copy on each side; (None, 0) without
    copies. Only where the data names no groups of its own (those already keep related examples together)."""
    first: dict[tuple, int] = {}
    keys = [(t, labels[i] if labels is not None else None) for i, t in enumerate(texts)]
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    copies = len(keys) - len(first)
    if not copies:
        return None, 0
    counts = Counter(keys)
    return [f"copy-{first[key]}" if counts[key] > 1 else str(i) for i, key in enumerate(keys)], copies


def read_eval_table(cfg: DataConfig, labelled: bool) -> Table:
    """The user's own test set: every usable row of `data.eval_source`, with the same column mapping."""
    return load_table(cfg.eval_source, labelled=labelled, text_column=cfg.text_column, label_column=cfg.label_column,
                      group_column=None, hf_split=cfg.eval_hf_split, min_classes=1, stray=cfg.stray_labels)


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
        classes = len(set(labels)) if labels is not None else 0
        if classes and classes * 2 > n_rows:  # the split keeps every class on both sides: one row each leaves nothing
            raise DataError(f"{where} has {classes:,} classes in {n_rows:,} rows — about one row per class — so no "
                            "split can put each class in both training and eval. Check the label column: it looks "
                            "like an ID or free text, not classes")
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
