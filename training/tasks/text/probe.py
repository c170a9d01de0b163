"""Text classification's forgetting probes: `auto` (= `retrieval`) — recall@1 of retrieving each NumPy/pandas
docstring body from its summary by the encoder's pooled embeddings, a sentence-embedding skill no preset trains on —
or `knn` on a labelled dataset the user gives (the leave-one-out k-NN accuracy of the embeddings)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import ExperimentConfig, ProbeConfig
from training.core.data.sources import load_frame, load_table
from training.core.data.split import stratified_order
from training.core.data.tokenize import Examples, encode_texts
from training.core.probes import KnnProbe, Probe, RetrievalProbe, active, text_hash
from training.errors import ConfigError


def build(cfg: ExperimentConfig, tokenizer, cache_dir: Path | None, held_out=None) -> list[Probe]:
    probes = []
    for pc in active(cfg.probes):
        kind = "retrieval" if pc.kind == "auto" else pc.kind
        if kind == "perplexity":
            raise ConfigError("the perplexity probe needs a causal LM; for text-classification use retrieval or knn")
        if kind == "retrieval":
            probes.append(retrieval(pc, tokenizer, cfg.model.max_length, cache_dir))
        else:
            probes.append(knn(pc, tokenizer, cfg.model.max_length, cache_dir))
    return probes


def retrieval(pc: ProbeConfig, tokenizer, max_len: int, cache_dir) -> RetrievalProbe:
    pairs = load_frame("builtin:reference-docstrings")
    pick = np.sort(np.random.default_rng(0).permutation(len(pairs))[: pc.max_examples])
    summaries = pairs["summary"].iloc[pick].tolist()
    bodies = pairs["body"].iloc[pick].tolist()
    q = encode_texts(tokenizer, summaries, max_len, cache_dir=cache_dir, fingerprint=text_hash(summaries))
    d = encode_texts(tokenizer, bodies, max_len, cache_dir=cache_dir, fingerprint=text_hash(bodies))
    return RetrievalProbe(Examples(q), Examples(d), tokenizer.pad_token_id)


def knn(pc: ProbeConfig, tokenizer, max_len: int, cache_dir) -> KnnProbe:
    table = load_table(pc.source, labelled=True, text_column=pc.text_column, label_column=pc.label_column,
                       stray="keep")  # a probe's classes are its own
    order = stratified_order(table.labels, np.random.default_rng(0))[: pc.max_examples]
    names = table.label_names
    ids = encode_texts(tokenizer, table.texts, max_len, cache_dir=cache_dir, fingerprint=table.fingerprint)
    y = np.array([names.index(table.labels[i]) for i in order], dtype=np.int64)
    return KnnProbe(Examples([ids[i] for i in order], y), tokenizer.pad_token_id, pc.source)
