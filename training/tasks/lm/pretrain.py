"""The hybrid path's base: a byte-level BPE tokenizer and a small GPT-2 config, built from corpus A.

The pretraining itself is an ordinary run of the one loop (strategy `scratch` on corpus A, stored as
run `pretrain` with its cost counted); this module prepares the architecture directory it starts from
and exports its result as a model directory that later runs load like any local base.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from training.config import ExperimentConfig, PretrainConfig
from training.core.data.split import train_eval_split
from training.core.data.task import read_table

EOT = "<|endoftext|>"


def architecture_dir(cfg: ExperimentConfig, cache_dir: Path) -> Path:
    """A directory with a GPT-2 config.json and a tokenizer trained on corpus A's training split
    (cached by corpus, vocabulary and architecture; built in a temporary directory and renamed)."""
    pc: PretrainConfig = cfg.pretrain
    table = read_table(pc.data, labelled=False)
    key = hashlib.sha256(json.dumps([table.fingerprint, pc.vocab_size, pc.n_layer, pc.n_embd, pc.n_head,
                                     cfg.model.max_length, pc.data.split_seed, pc.data.eval_fraction]).encode()).hexdigest()[:16]
    out = cache_dir / "hybrid" / key
    if (out / "config.json").is_file():
        return out
    train_idx, _ = train_eval_split(len(table), None, table.groups, pc.data.eval_fraction, None, pc.data.split_seed)
    tokenizer = train_tokenizer([table.texts[i] for i in train_idx], pc.vocab_size)
    from transformers import GPT2Config

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg.model.max_length, n_embd=pc.n_embd,
                        n_layer=pc.n_layer, n_head=pc.n_head, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
                        tie_word_embeddings=True)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer.save_pretrained(str(tmp))
    config.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2's scheme) learned from `texts`; deterministic for the same input."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOT, bos_token=EOT, pad_token=EOT,
                                   unk_token=EOT, model_max_length=1_000_000)


def export_model(model, tokenizer, out: Path) -> None:
    """Save the pretrained LM as a plain transformers directory (config, safetensors, tokenizer)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.backbone.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
