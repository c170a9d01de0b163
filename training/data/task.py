"""Task data: a source read, split into a training pool and an eval set, tokenised (cached).

Text classification: one example per row, labels encoded in sorted order of their values.
Causal LM: each document (row) stays on one side of the split; each side is joined and cut into
blocks of `model.max_length` tokens, and one *example* is one block — training-set sizes count blocks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..errors import DataError
from .sources import Table, describe_source, load_table
from .split import nested_subset_order, train_eval_split
from .tokenize import Examples, encode_blocks, encode_texts


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

    def subset_order(self, cfg: DataConfig, seed: int) -> np.ndarray:
        return nested_subset_order(self.train_labels, len(self.train), cfg.split_seed, seed, cfg.subset_policy)

    def subset(self, cfg: DataConfig, n: int, seed: int) -> Examples:
        if n > len(self.train):
            raise DataError(too_many_message(n, len(self.train), self.task))
        return self.train.subset(np.sort(self.subset_order(cfg, seed)[:n]))


def too_many_message(n: int, pool: int, task: str) -> str:
    unit = "training examples" if task == "text-classification" else "training blocks"
    return (f"training-set size {n:,} is larger than the {pool:,} {unit} available after the eval split; "
            f"use sizes up to {pool:,}, or 'all'")


def read_table(cfg: DataConfig, task: str) -> Table:
    group_column = cfg.group_column
    if cfg.source.startswith("builtin:") and group_column is None:
        group_column = "group"  # built-ins carry their documents/modules as groups
    return load_table(cfg.source, task, text_column=cfg.text_column, label_column=cfg.label_column,
                      group_column=group_column, hf_split=cfg.hf_split, max_rows=cfg.max_rows)


def prepare_task_data(cfg: DataConfig, task: str, tokenizer, max_length: int, cache_dir: Path | None,
                      table: Table | None = None) -> TaskData:
    table = table or read_table(cfg, task)
    train_idx, eval_idx = train_eval_split(len(table), table.labels, table.groups, cfg.eval_fraction,
                                           cfg.eval_max if task == "text-classification" else None, cfg.split_seed)
    where = describe_source(cfg.source)
    if len(train_idx) == 0 or len(eval_idx) == 0:
        raise DataError(f"{where} is too small to split into train and eval ({len(table)} rows"
                        f"{', ' + str(len(set(table.groups))) + ' groups' if table.groups else ''}); "
                        "give more rows or more groups")
    info = {"source": cfg.source, "rows": len(table), "dropped_rows": table.dropped_rows,
            "train_rows": int(len(train_idx)), "eval_rows": int(len(eval_idx))}
    if task == "text-classification":
        names = table.label_names
        code = {name: i for i, name in enumerate(names)}
        ids = encode_texts(tokenizer, table.texts, max_length, cache_dir=cache_dir, fingerprint=table.fingerprint)
        y = np.array([code[v] for v in table.labels], dtype=np.int64)
        missing = sorted(set(names) - {table.labels[i] for i in train_idx})
        if missing:
            raise DataError(f"class {missing[0]!r} has no training examples after the eval split; "
                            "add examples of it or lower data.eval_fraction")
        train = Examples([ids[i] for i in train_idx], y[train_idx])
        evals = Examples([ids[i] for i in eval_idx], y[eval_idx])
        return TaskData(task, train, evals, names, table.fingerprint, info,
                        [table.labels[i] for i in train_idx])
    train_blocks = encode_blocks(tokenizer, [table.texts[i] for i in train_idx], max_length, cache_dir=cache_dir,
                                 fingerprint=f"{table.fingerprint}:train:{cfg.split_seed}:{cfg.eval_fraction}")
    eval_blocks = encode_blocks(tokenizer, [table.texts[i] for i in eval_idx], max_length, cache_dir=cache_dir,
                                fingerprint=f"{table.fingerprint}:eval:{cfg.split_seed}:{cfg.eval_fraction}")
    if len(train_blocks) == 0 or len(eval_blocks) == 0:
        raise DataError(f"{where} has too little text for blocks of {max_length} tokens on both sides of the "
                        "split; give more text or lower model.max_length")
    if cfg.eval_max is not None and len(eval_blocks) > cfg.eval_max:
        pick = np.sort(np.random.default_rng(cfg.split_seed).permutation(len(eval_blocks))[: cfg.eval_max])
        eval_blocks = eval_blocks[pick]
    info.update(train_blocks=int(len(train_blocks)), eval_blocks=int(len(eval_blocks)))
    return TaskData(task, Examples(list(train_blocks)), Examples(list(eval_blocks)), [], table.fingerprint, info)
