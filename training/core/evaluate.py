"""The metric families task kinds are scored by: accuracy and macro-F1 (classification of text, images or table rows),
loss and perplexity (language models; chat on the assistant's tokens only), or RMSE, MAE and R² (regression) — and
the per-example outcomes behind them ("eval items"), which a paired bootstrap over the eval examples compares. Each kind
(`training.tasks`) says which family it is scored by."""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F


@contextlib.contextmanager
def eval_mode(model):
    """The model in eval mode for the block, then every module back in the mode it had — not `model.train()`, which
    would put a frozen batch norm (kept in eval mode so its statistics stay the base's) back in training mode."""
    modes = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else [(model, model.training)]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over classes, computed in float32."""
    return F.cross_entropy(logits.float(), labels)


def chat_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy on the tokens whose label is not -100 (a chat's assistant turns; labels are
    token-aligned, so position t predicts label t + 1)."""
    targets = labels[:, 1:]
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), targets.reshape(-1),
                           ignore_index=-100)


def regression_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error on the standardised target (the training rows' mean and scale)."""
    return F.mse_loss(outputs.float().reshape(-1), targets.float().reshape(-1))


ITEM_DIGITS = 8
"""Significant digits of a stored per-example float. At 6, an RMSE or perplexity recomputed from the items was off by
up to 6e-6 relative (errors of a few units on targets in the hundreds; sums of a conversation's token losses); at 8 it
is within 1e-7, and the JSON is still about half that of full floats."""


def _significant(values) -> list[float]:
    return [float(f"{v:.{ITEM_DIGITS}g}") for v in np.asarray(values, dtype=np.float64)]


def classification_items(y_true, y_pred, p_pred=None) -> dict[str, list]:
    """Eval items of a classifier: the true and the predicted class code of each example, and (where given) the
    probability the model gave its prediction — what Compare's "most confident mistakes" sort by (4 digits)."""
    out = {"y_true": [int(v) for v in y_true], "y_pred": [int(v) for v in y_pred]}
    if p_pred is not None:
        out["p_pred"] = [float(f"{v:.4g}") for v in np.asarray(p_pred, dtype=np.float64)]
    return out


def regression_items(y_true, y_pred) -> dict[str, list]:
    """Eval items of a regression, in the target's own units: sqrt(mean((y_true − y_pred)²)) is the RMSE."""
    return {"y_true": _significant(y_true), "y_pred": _significant(y_pred)}


def lm_items(nll, tokens) -> dict[str, list]:
    """Eval items of a language model, per sequence (conversation): the summed next-token loss and the number of
    target tokens; exp(Σ nll / Σ tokens) is the perplexity."""
    return {"nll": _significant(nll), "tokens": [int(v) for v in tokens]}


def reorder_items(items: dict[str, list], order: np.ndarray) -> dict[str, list]:
    """Items gathered in batch order (`order`: the example index of each position) back in the eval set's order."""
    at = np.argsort(order, kind="stable")
    return {k: [v[i] for i in at] for k, v in items.items()}


@torch.no_grad()
def evaluate_regression(model, batches, autocast, items: dict | None = None) -> dict[str, float]:
    """loss (MSE on the standardised target), and RMSE and MAE in the target's own units (the model's
    `target_scale`), and R² (1 − SSE / the eval set's own total sum of squares). `items`: filled with the
    `regression_items` in batch order."""
    preds, targets = [], []
    with eval_mode(model):
        for batch in batches:
            with autocast():
                out = model(**{k: v for k, v in batch.items() if k != "labels"})
            preds.append(out.float().reshape(-1).cpu().numpy().astype(np.float64))
            targets.append(batch["labels"].float().cpu().numpy().astype(np.float64))
    p, y = np.concatenate(preds), np.concatenate(targets)
    scale = float(getattr(model, "target_scale", torch.ones(())).item())
    if items is not None:
        mean = float(getattr(model, "target_mean", torch.zeros(())).item())
        items.update(regression_items(mean + scale * y, mean + scale * p))
    err = p - y
    mse = float(np.mean(err ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    out = {"loss": mse, "rmse": math.sqrt(mse) * scale, "mae": float(np.mean(np.abs(err))) * scale,
           "r2": 1.0 - float(np.sum(err ** 2)) / sst if sst > 0 else 0.0}
    if len(err) > 1:  # the standard error of the loss, which decides whether one checkpoint is clearly better
        out["loss_se"] = float(np.std(err ** 2, ddof=1) / math.sqrt(len(err)))
    return out


def lm_loss(logits, input_ids, attention_mask, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over real (unpadded) target tokens."""
    targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
    loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), targets.reshape(-1),
                           ignore_index=-100, reduction="sum")
    if reduction == "sum":
        return loss
    return loss / (targets != -100).sum().clamp(min=1)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in y_true or y_pred."""
    scores = []
    for c in range(n_classes):
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        fp = int(np.sum((y_pred == c) & (y_true != c)))
        fn = int(np.sum((y_pred != c) & (y_true == c)))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


@torch.no_grad()
def evaluate_classifier(model, batches, n_classes: int, autocast, items: dict | None = None) -> dict[str, float]:
    """Eval metrics of a classifier over an iterable of batches: loss, accuracy and macro-F1. `items`: filled with
    the per-example outcomes in batch order (`classification_items`)."""
    total_loss, count, preds, labels, confidence = 0.0, 0, [], [], []
    with eval_mode(model):
        for batch in batches:
            with autocast():
                logits = model(**{k: v for k, v in batch.items() if k != "labels"})
            total_loss += F.cross_entropy(logits.float(), batch["labels"], reduction="sum").item()
            count += len(batch["labels"])
            preds.append(logits.argmax(-1).cpu().numpy())
            labels.append(batch["labels"].cpu().numpy())
            confidence.append(logits.float().softmax(-1).amax(-1).cpu().numpy())
    y, p = np.concatenate(labels), np.concatenate(preds)
    if items is not None:
        items.update(classification_items(y, p, np.concatenate(confidence)))
    return {"loss": total_loss / max(count, 1), "accuracy": float(np.mean(y == p)), "macro_f1": macro_f1(y, p, n_classes)}


@torch.no_grad()
def evaluate_lm(model, batches, autocast, items: dict | None = None) -> dict[str, float]:
    """Eval metrics of a language model over an iterable of batches: loss, perplexity and loss_se (the standard error
    of the loss over sequences, which decides whether one checkpoint is clearly better). `items`: filled with the
    per-sequence outcomes in batch order (`lm_items`)."""
    total_loss, count, per_seq, sums, counts = 0.0, 0, [], [], []
    with eval_mode(model):
        for batch in batches:
            with autocast():
                logits = model(**{k: v for k, v in batch.items() if k != "labels"})
            seq_sum, seq_n = lm_sequence_losses(logits, batch["input_ids"], batch["attention_mask"], batch.get("labels"))
            total_loss += float(seq_sum.sum())
            count += int(seq_n.sum())
            per_seq += (seq_sum[seq_n > 0] / seq_n[seq_n > 0]).tolist()
            sums.append(seq_sum)
            counts.append(seq_n)
    loss = total_loss / max(count, 1)
    if items is not None:
        items.update(lm_items(np.concatenate(sums), np.concatenate(counts)))
    out = {"loss": loss, "perplexity": float(math.exp(min(loss, 50.0)))}
    if len(per_seq) > 1:
        out["loss_se"] = float(np.std(per_seq, ddof=1) / math.sqrt(len(per_seq)))
    return out


def lm_sequence_losses(logits, input_ids, attention_mask, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence: the summed next-token loss and the number of target tokens (float64 arrays). `labels`
    (chat): token-aligned targets, -100 where no loss is taken; else every real token is a target."""
    targets = (labels[:, 1:] if labels is not None
               else input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100))
    losses = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets, ignore_index=-100, reduction="none")
    return (losses.sum(1).double().cpu().numpy(), (targets != -100).sum(1).double().cpu().numpy())
