"""A language model's forgetting probe: perplexity on held-out text of the pretraining domain — the hybrid's corpus A
(`auto` when there is one) or any `source` the user gives. A hub model's pretraining text is unknown, so `auto`
without either measures nothing."""
from __future__ import annotations

from pathlib import Path

from training.config import ExperimentConfig
from training.core.data.sources import load_table
from training.core.data.tokenize import Examples, encode_blocks
from training.core.probes import PerplexityProbe, Probe, active, cap
from training.errors import ConfigError, DataError


def build(cfg: ExperimentConfig, tokenizer, cache_dir: Path | None, held_out: Examples | None = None) -> list[Probe]:
    probes = []
    pad_id, max_len = tokenizer.pad_token_id, cfg.model.max_length
    for pc in active(cfg.probes):
        if pc.kind == "auto":
            if held_out is not None:
                probes.append(PerplexityProbe(cap(held_out, pc.max_examples), pad_id, "the pretraining corpus"))
                continue
            if not pc.source:
                continue  # a hub LM's pretraining text is unknown; give probes: [{kind: perplexity, source: ...}]
        elif pc.kind in ("retrieval", "knn"):
            raise ConfigError(f"the {pc.kind} probe scores encoder embeddings; for causal-lm use a perplexity probe")
        if not pc.source:
            raise ConfigError("a perplexity probe needs a `source` of held-out text")
        table = load_table(pc.source, labelled=False, text_column=pc.text_column)
        blocks = encode_blocks(tokenizer, table.texts, max_len, cache_dir=cache_dir, fingerprint=table.fingerprint)
        if len(blocks) == 0:
            raise DataError(f"probe source {pc.source} has less than one block of {max_len} tokens")
        probes.append(PerplexityProbe(cap(Examples(list(blocks)), pc.max_examples), pad_id, pc.source))
    return probes
