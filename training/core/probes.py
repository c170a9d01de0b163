"""Forgetting probes: a skill the base model had before training, scored before, during and after. The measurements
are here; which of them a task kind offers, and on what data, is the kind's (`training/tasks/<kind>/probe.py`).

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

import numpy as np
import torch
import torch.nn.functional as F

from training.config import ProbeConfig
from training.core.data.tokenize import Examples, length_sorted_batches
from training.core.evaluate import eval_mode, lm_loss

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


def cap(ex: Examples, n: int) -> Examples:
    """At most n examples, a fixed random choice in their order."""
    if len(ex) <= n:
        return ex
    return ex.subset(np.sort(np.random.default_rng(0).permutation(len(ex))[:n]))


def text_hash(texts: list[str]) -> str:
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest()


def active(probes: list[ProbeConfig]) -> list[ProbeConfig]:
    """The configured probes, less those turned off (kind `none`)."""
    return [pc for pc in probes if pc.kind != "none"]
