"""Tokenisation with an on-disk cache, and the batches the loop consumes.

The cache key is (tokenizer content hash, data fingerprint, max length, kind), so a run that shares
data and tokenizer with an earlier one — every run of an experiment — tokenises nothing. Entries are
written to a temporary file and renamed, so concurrent workers never read half a file.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


def tokenizer_key(tokenizer) -> str:
    """Hash of what decides the token ids (vocabulary, model, normalisation, special tokens) — not of
    the truncation/padding state a fast tokenizer keeps from its last call."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        content = json.dumps(spec, sort_keys=True)
    else:
        content = repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def _cache_path(cache_dir: Path | None, *parts) -> Path | None:
    if cache_dir is None:
        return None
    key = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]
    return Path(cache_dir) / "tokens" / f"{key}.npz"


def _save(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def encode_texts(tokenizer, texts: list[str], max_length: int, *, cache_dir: Path | None,
                 fingerprint: str) -> list[np.ndarray]:
    """Token ids of each text, truncated to max_length (special tokens included)."""
    # the key serialises the whole tokenizer (~0.6 s for MiniLM's): only where there is a cache to look in
    path = _cache_path(cache_dir, "texts", tokenizer_key(tokenizer), fingerprint, max_length) if cache_dir else None
    if path is not None and path.exists():
        with np.load(path) as z:
            flat, offsets = z["flat"], z["offsets"]
        return [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    ids = tokenizer(texts, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1]))
    if path is not None:
        _save(path, flat=flat, offsets=offsets)
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(ids))]


def encode_blocks(tokenizer, documents: list[str], block_len: int, *, cache_dir: Path | None,
                  fingerprint: str) -> np.ndarray:
    """Documents joined with the end-of-text token and cut into blocks of block_len tokens."""
    path = _cache_path(cache_dir, "blocks", tokenizer_key(tokenizer), fingerprint, block_len)
    if path is not None and path.exists():
        with np.load(path) as z:
            return z["blocks"]
    sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    stream: list[int] = []
    ids = tokenizer(documents, add_special_tokens=False, verbose=False)["input_ids"]
    for doc in ids:
        stream.extend(doc)
        if sep is not None:
            stream.append(sep)
    n = len(stream) // block_len
    blocks = np.asarray(stream[: n * block_len], dtype=np.int32).reshape(n, block_len)
    if path is not None:
        _save(path, blocks=blocks)
    return blocks


@dataclass
class Examples:
    """Tokenised examples: variable-length `ids` (classification) with `labels`, or fixed LM blocks."""
    ids: list[np.ndarray]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def subset(self, idx: np.ndarray) -> "Examples":
        return Examples([self.ids[i] for i in idx], None if self.labels is None else self.labels[idx])

    def collate(self, idx, pad_id: int, device: torch.device, multiple: int = 1) -> dict[str, torch.Tensor]:
        """A padded batch on `device`: to the longest example, rounded up to `multiple` (static shapes
        for torch.compile: with length bucketing, a handful of widths cover every batch)."""
        rows = [self.ids[i] for i in idx]
        width = max(len(r) for r in rows)
        width = -(-width // multiple) * multiple
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows):
            input_ids[j, : len(r)] = r
            mask[j, : len(r)] = 1
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[np.asarray(idx)].astype(np.int64))
        non_blocking = device.type == "cuda"
        return {k: (v.pin_memory() if non_blocking else v).to(device, non_blocking=non_blocking)
                for k, v in batch.items()}


BUCKET_BATCHES = 16
"""Length bucketing: each run of 16 batches of a shuffled epoch is sorted by length before it is cut
into batches, so a batch pads to similar lengths; the batches are then shuffled again."""


def epoch_order(n: int, seed: int, epoch: int, lengths: np.ndarray | None, batch: int) -> np.ndarray:
    """The example order of one epoch: a pure function of (seed, epoch), so resume needs no sampler state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).numpy()
    if lengths is None or batch <= 1:
        return perm
    out = []
    chunk = batch * BUCKET_BATCHES
    for i in range(0, n, chunk):
        part = perm[i:i + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches = [part[j:j + batch] for j in range(0, len(part), batch)]
        for k in torch.randperm(len(batches), generator=g).tolist():
            out.append(batches[k])
    return np.concatenate(out)


def stream_indices(n: int, seed: int, start: int, count: int, lengths: np.ndarray | None = None,
                   batch: int = 1) -> np.ndarray:
    """Positions start..start+count of an endless stream of epochs (see `epoch_order`)."""
    out = np.empty(count, dtype=np.int64)
    k = 0
    while k < count:
        epoch, pos = divmod(start + k, n)
        order = epoch_order(n, seed, epoch, lengths, batch)
        take = min(count - k, n - pos)
        out[k:k + take] = order[pos:pos + take]
        k += take
    return out


def length_sorted_batches(data, size: int):
    """Index lists covering `data` in length order (less padding; for eval, where order is irrelevant)."""
    lengths = getattr(data, "lengths", None)
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(data))
    return [order[i:i + size] for i in range(0, len(order), size)]
