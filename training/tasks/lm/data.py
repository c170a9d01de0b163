"""A language model's data: each document (row) stays in one part (train pool, validation, eval; by group where groups
exist); each part is joined and cut into blocks of `model.max_length` tokens, and one *example* is one block —
training-set sizes count blocks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import DataConfig
from training.core.data.task import TaskData, check_builtin, split_texts
from training.core.data.tokenize import Examples, encode_blocks
from training.errors import DataError
from training.tasks.lm.words import BUILTINS


def prepare(cfg: DataConfig, tokenizer, max_length: int, cache_dir: Path | None,
            unit: str = "training blocks") -> TaskData:
    check_builtin(cfg.source, BUILTINS, "causal-lm")
    split = split_texts(cfg, labelled=False)
    table, train_idx, val_idx, eval_idx = split.table, split.train_idx, split.val_idx, split.eval_idx
    fingerprint, info, where, eval_texts = split.fingerprint, split.info, split.where, split.eval_texts
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
    if split.eval_table is None and cfg.eval_max is not None and len(eval_blocks) > cfg.eval_max:
        eval_blocks = eval_blocks[np.sort(rng.permutation(len(eval_blocks))[: cfg.eval_max])]
    if cfg.validation_max is not None and len(val_blocks) > cfg.validation_max:
        val_blocks = val_blocks[np.sort(rng.permutation(len(val_blocks))[: cfg.validation_max])]
    info.update(train_blocks=int(len(train_blocks)), validation_blocks=int(len(val_blocks)),
                eval_blocks=int(len(eval_blocks)))
    return TaskData("causal-lm", Examples(list(train_blocks)), Examples(list(eval_blocks)), [], fingerprint, info,
                    validation=Examples(list(val_blocks)), unit=unit)
