"""Text classification's data: one example per row (a text and its label), labels encoded in sorted order of the
training labels; split stratified by label, and by group where groups exist (`training.core.data.task`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import DataConfig
from training.core.data.sources import describe_source
from training.core.data.task import TaskData, check_builtin, split_texts
from training.core.data.tokenize import Examples, encode_texts
from training.errors import DataError
from training.tasks.text.words import BUILTINS


def prepare(cfg: DataConfig, tokenizer, max_length: int, cache_dir: Path | None, unit: str) -> TaskData:
    check_builtin(cfg.source, BUILTINS, "text-classification")
    split = split_texts(cfg, labelled=True)
    table, eval_table, train_idx, val_idx, eval_idx = (split.table, split.eval_table, split.train_idx, split.val_idx,
                                                       split.eval_idx)
    where, eval_texts = split.where, split.eval_texts
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
    return TaskData("text-classification", train, evals, names, split.fingerprint, split.info,
                    [table.labels[i] for i in train_idx], validation, texts, unit=unit)
