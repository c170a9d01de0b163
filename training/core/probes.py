"""Forgetting probes: a skill the base model had before training, scored before, during and after.

* `retrieval` (encoders): recall@1 of retrieving each docstring body from its summary by cosine
  similarity of the model's pooled embeddings, on NumPy/pandas docstrings no preset trains on.
* `perplexity` (causal LMs): perplexity on held-out source-domain text (the hybrid's corpus A, or any
  `source`).
* `knn` (encoders, any "old task"): leave-one-out k-nearest-neighbour accuracy of the embeddings on a
  labelled dataset the user gives.
* chat (`auto` or `perplexity`): perplexity of the answers (the assistant's tokens, under the model's chat template)
  in general conversations — by default chatterbot's 18 English topics other than technical help, which no preset
  trains on; or a chat file the user gives.
* images (`auto` or `knn`): the same k-NN accuracy of the image features — by default on scikit-image's 100
  faces and 100 non-faces (`builtin:lfw-faces`), a general visual skill no built-in trains on; or on a labelled
  image folder, zip or table the user gives.

Forgetting is the probe's degradation from the untouched base: baseline − now when higher is better,
now − baseline when lower is better, so positive always means "forgot".
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.config import ExperimentConfig, ProbeConfig
from training.core.data.sources import load_frame, load_table
from training.core.data.split import stratified_order
from training.core.data.tokenize import Examples, encode_blocks, encode_texts, length_sorted_batches
from training.core.evaluate import eval_mode, lm_loss
from training.errors import ConfigError, DataError

BATCH = 64
KNN_K = 5


@dataclass
class Probe:
    name: str
    """Human-readable description."""
    key: str
    """Metric key in the store (prefixed `probe/`)."""
    higher_is_better: bool

    def measure(self, model, device: torch.device, autocast) -> float:
        raise NotImplementedError

    def forgetting(self, baseline: float, now: float) -> float:
        return baseline - now if self.higher_is_better else now - baseline


@torch.no_grad()
def _embed_all(model, ex: Examples, pad_id: int, device, autocast) -> torch.Tensor:
    """L2-normalised embeddings of every example, in the examples' order (batched by length)."""
    out = None
    for idx in length_sorted_batches(ex, BATCH):
        batch = ex.collate(idx, pad_id, device)
        with autocast():
            e = model.embed(**{k: v for k, v in batch.items() if k != "labels"}).float()
        if out is None:
            out = torch.empty(len(ex), e.shape[1], device=e.device)
        out[torch.from_numpy(idx).to(e.device)] = e
    return F.normalize(out, dim=-1)


def _eval_mode(fn):
    def wrapped(self, model, device, autocast):
        with eval_mode(model):
            return fn(self, model, device, autocast)
    return wrapped


class RetrievalProbe(Probe):
    def __init__(self, queries: Examples, docs: Examples, pad_id: int):
        super().__init__(f"summary→body retrieval recall@1 on {len(queries)} NumPy/pandas docstrings",
                         "probe/retrieval_r1", True)
        self.queries, self.docs, self.pad_id = queries, docs, pad_id

    @_eval_mode
    def measure(self, model, device, autocast) -> float:
        q = _embed_all(model, self.queries, self.pad_id, device, autocast)
        d = _embed_all(model, self.docs, self.pad_id, device, autocast)
        hits = (q @ d.T).argmax(dim=1) == torch.arange(len(q), device=q.device)
        return float(hits.float().mean().item())


class KnnProbe(Probe):
    def __init__(self, ex, pad_id: int, source: str, name: str | None = None, key: str = "probe/knn_accuracy"):
        super().__init__(name or f"{KNN_K}-NN accuracy of embeddings on {len(ex)} examples of {source}", key, True)
        self.ex, self.pad_id = ex, pad_id

    @_eval_mode
    def measure(self, model, device, autocast) -> float:
        e = _embed_all(model, self.ex, self.pad_id, device, autocast)
        sim = e @ e.T
        sim.fill_diagonal_(-float("inf"))  # leave-one-out
        nn_idx = sim.topk(min(KNN_K, len(e) - 1), dim=1).indices
        labels = torch.as_tensor(self.ex.labels, device=e.device)
        votes = F.one_hot(labels[nn_idx], int(labels.max()) + 1).sum(1)
        return float((votes.argmax(1) == labels).float().mean().item())


class PerplexityProbe(Probe):
    def __init__(self, blocks: Examples, pad_id: int, what: str):
        super().__init__(f"perplexity on {len(blocks)} held-out blocks of {what}", "probe/perplexity", False)
        self.blocks, self.pad_id = blocks, pad_id

    @_eval_mode
    @torch.no_grad()
    def measure(self, model, device, autocast) -> float:
        total, count = 0.0, 0
        for idx in length_sorted_batches(self.blocks, BATCH):
            batch = self.blocks.collate(idx, self.pad_id, device)
            with autocast():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            loss_sum, targets = self._loss_sum(logits, batch)
            total, count = total + loss_sum, count + targets
        return float(math.exp(min(total / max(count, 1), 50.0)))

    def _loss_sum(self, logits, batch) -> tuple[float, float]:
        """(summed next-token loss, number of target tokens) of one batch: every real token is a target."""
        return (lm_loss(logits, batch["input_ids"], batch["attention_mask"], "sum").item(),
                int(batch["attention_mask"][:, 1:].sum().item()))


class ChatPerplexityProbe(PerplexityProbe):
    """Perplexity of the answers only: the targets are a chat's assistant tokens (the batch's `labels`)."""

    def __init__(self, examples, pad_id: int, what: str):
        Probe.__init__(self, f"perplexity of the answers in {len(examples)} {what}", "probe/chat_perplexity", False)
        self.blocks, self.pad_id = examples, pad_id

    def _loss_sum(self, logits, batch) -> tuple[float, float]:
        from training.core.evaluate import lm_sequence_losses

        seq_sum, seq_n = lm_sequence_losses(logits, batch["input_ids"], batch["attention_mask"], batch["labels"])
        return float(seq_sum.sum()), float(seq_n.sum())


def build_probes(cfg: ExperimentConfig, tokenizer, cache_dir: Path | None,
                 held_out_source: Examples | None = None) -> list[Probe]:
    """The configured probes, tokenised for this tokenizer. held_out_source: the hybrid's corpus-A eval
    blocks, used by an `auto` probe on a causal LM."""
    if cfg.task == "image-classification":
        return _image_probes(cfg, tokenizer, cache_dir)
    if cfg.task == "chat":
        return _chat_probes(cfg, tokenizer, cache_dir)
    if cfg.task in ("tabular-classification", "tabular-regression"):
        if any(pc.kind not in ("auto", "none") for pc in cfg.probes):
            raise ConfigError("a table's MLP is trained from scratch: it has no earlier skill to forget, so forgetting "
                              "probes do not apply (use probes: [] or kind none)")
        return []
    probes = []
    pad_id = tokenizer.pad_token_id
    max_len = cfg.model.max_length
    for pc in cfg.probes:
        kind = pc.kind
        if kind == "none":
            continue
        if kind == "auto":
            if cfg.task == "text-classification":
                kind = "retrieval"
            elif held_out_source is not None:
                probes.append(PerplexityProbe(_cap(held_out_source, pc.max_examples), pad_id, "the pretraining corpus"))
                continue
            elif pc.source:
                kind = "perplexity"
            else:
                continue  # a hub LM's pretraining text is unknown; give probes: [{kind: perplexity, source: ...}]
        if kind in ("retrieval", "knn") and cfg.task != "text-classification":
            raise ConfigError(f"the {kind} probe scores encoder embeddings; for causal-lm use a perplexity probe")
        if kind == "perplexity" and cfg.task != "causal-lm":
            raise ConfigError("the perplexity probe needs a causal LM; for text-classification use retrieval or knn")
        if kind == "retrieval":
            probes.append(_retrieval(pc, tokenizer, max_len, cache_dir))
        elif kind == "knn":
            probes.append(_knn(pc, tokenizer, max_len, cache_dir))
        else:
            if not pc.source:
                raise ConfigError("a perplexity probe needs a `source` of held-out text")
            table = load_table(pc.source, "causal-lm", text_column=pc.text_column)
            blocks = encode_blocks(tokenizer, table.texts, max_len, cache_dir=cache_dir, fingerprint=table.fingerprint)
            if len(blocks) == 0:
                raise DataError(f"probe source {pc.source} has less than one block of {max_len} tokens")
            probes.append(PerplexityProbe(_cap(Examples(list(blocks)), pc.max_examples), pad_id, pc.source))
    return probes


def _cap(ex: Examples, n: int) -> Examples:
    if len(ex) <= n:
        return ex
    return ex.subset(np.sort(np.random.default_rng(0).permutation(len(ex))[:n]))


def _retrieval(pc: ProbeConfig, tokenizer, max_len: int, cache_dir) -> RetrievalProbe:
    pairs = load_frame("builtin:reference-docstrings")
    pick = np.sort(np.random.default_rng(0).permutation(len(pairs))[: pc.max_examples])
    summaries = pairs["summary"].iloc[pick].tolist()
    bodies = pairs["body"].iloc[pick].tolist()
    q = encode_texts(tokenizer, summaries, max_len, cache_dir=cache_dir, fingerprint=_text_hash(summaries))
    d = encode_texts(tokenizer, bodies, max_len, cache_dir=cache_dir, fingerprint=_text_hash(bodies))
    return RetrievalProbe(Examples(q), Examples(d), tokenizer.pad_token_id)


def _text_hash(texts: list[str]) -> str:
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest()


def _knn(pc: ProbeConfig, tokenizer, max_len: int, cache_dir) -> KnnProbe:
    table = load_table(pc.source, "text-classification", text_column=pc.text_column, label_column=pc.label_column)
    order = stratified_order(table.labels, np.random.default_rng(0))[: pc.max_examples]
    names = table.label_names
    ids = encode_texts(tokenizer, table.texts, max_len, cache_dir=cache_dir, fingerprint=table.fingerprint)
    y = np.array([names.index(table.labels[i]) for i in order], dtype=np.int64)
    return KnnProbe(Examples([ids[i] for i in order], y), tokenizer.pad_token_id, pc.source)


def _image_probes(cfg: ExperimentConfig, prep, cache_dir) -> list[Probe]:
    from training.core.data.images import ImageExamples, decode_table, load_image_table

    probes = []
    for pc in cfg.probes:
        if pc.kind == "none":
            continue
        if pc.kind not in ("auto", "knn"):
            raise ConfigError(f"the {pc.kind} probe is for text models; for images use auto (faces vs non-faces) or knn "
                              "with a labelled image source")
        source = pc.source or "builtin:lfw-faces"
        table = load_image_table(source, label_column=pc.label_column)
        pixels, _ = decode_table(table, prep, cache_dir)
        names = table.label_names
        order = stratified_order(table.labels, np.random.default_rng(0))[: pc.max_examples]
        y = np.array([names.index(table.labels[i]) for i in order], dtype=np.int64)
        ex = ImageExamples(pixels[order], y, prep.mean, prep.std)
        counts = np.bincount(y, minlength=len(names))
        what = (f"{counts[0]} faces vs {counts[1]} non-faces (scikit-image)" if source == "builtin:lfw-faces"
                else f"{len(ex)} images of {table.where}")
        probes.append(KnnProbe(ex, 0, source, f"{KNN_K}-NN accuracy of image features on {what}", "probe/visual_knn"))
    return probes


def _chat_probes(cfg: ExperimentConfig, tokenizer, cache_dir) -> list[Probe]:
    from training.core.data.chat import encode_chat_table, load_chat_table

    probes = []
    for pc in cfg.probes:
        if pc.kind == "none":
            continue
        if pc.kind not in ("auto", "perplexity"):
            raise ConfigError(f"the {pc.kind} probe scores encoder embeddings; for chat use auto (general conversations) "
                              "or perplexity with a chat file as source")
        source = pc.source or "builtin:chatterbot-general"
        table = load_chat_table(source)
        pick = np.sort(np.random.default_rng(0).permutation(len(table.conversations))[: pc.max_examples])
        convs = [table.conversations[i] for i in pick]
        examples, _ = encode_chat_table(tokenizer, convs, cfg.model.max_length, cache_dir=cache_dir,
                                        fingerprint=_text_hash([repr(c) for c in convs]))
        what = ("general conversations (chatterbot's other topics)" if source == "builtin:chatterbot-general"
                else f"conversations of {table.where}")
        probes.append(ChatPerplexityProbe(examples, tokenizer.pad_token_id, what))
    return probes
