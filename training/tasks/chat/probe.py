"""A chat model's forgetting probe (`auto` or `perplexity`): the perplexity of the answers (the assistant's tokens,
under the model's chat template) in general conversations — by default chatterbot's 18 English topics other than
technical help, which no preset trains on; or a chat file the user gives."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import ExperimentConfig
from training.core.probes import ChatPerplexityProbe, Probe, active, text_hash
from training.errors import ConfigError
from training.tasks.chat.data import encode_chat_table, load_chat_table


def build(cfg: ExperimentConfig, tokenizer, cache_dir: Path | None, held_out=None) -> list[Probe]:
    probes = []
    for pc in active(cfg.probes):
        if pc.kind not in ("auto", "perplexity"):
            raise ConfigError(f"the {pc.kind} probe scores encoder embeddings; for chat use auto (general conversations) "
                              "or perplexity with a chat file as source")
        source = pc.source or "builtin:chatterbot-general"
        table = load_chat_table(source)
        pick = np.sort(np.random.default_rng(0).permutation(len(table.conversations))[: pc.max_examples])
        convs = [table.conversations[i] for i in pick]
        examples, _ = encode_chat_table(tokenizer, convs, cfg.model.max_length, cache_dir=cache_dir,
                                        fingerprint=text_hash([repr(c) for c in convs]))
        what = ("general conversations (chatterbot's other topics)" if source == "builtin:chatterbot-general"
                else f"conversations of {table.where}")
        probes.append(ChatPerplexityProbe(examples, tokenizer.pad_token_id, what))
    return probes
