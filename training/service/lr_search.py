"""The learning-rate search: which rates each strategy tries, how a finished search is keyed and reused.

A search is identified by everything that decides its outcome — task, data, model, strategy and options,
batch and optimizer settings, the search size, steps, seed and candidate rates — hashed into a key. A
finished search is kept in the store (`Store.save_lr_search`) and reused by later experiments with the
same key; the built-in presets' searches ship with the app (`lr_search_stored.json`, written by
`bench/store_lr_search.py`), so the quick demo needs no search runs of its own.
The chosen rate is the one whose run reached the lowest validation loss (the eval set is never looked at).
Imports no torch.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

from training.config import ExperimentConfig, StrategyConfig
from training.errors import HeadStartError
from training.service.records import Role
from training.service.store import Store
from training.tasks import task_kind

STORED = Path(__file__).with_name("lr_search_stored.json")
"""Searches that ship with the app (the built-in presets' data and model), keyed like the store's."""


def candidates(cfg: ExperimentConfig, sc: StrategyConfig, default_lr: float) -> list[float]:
    """The learning rates the search tries for a strategy, rounded to 3 significant digits."""
    sw = cfg.lr_sweep
    raw = sw.lrs.get(sc.name) or [default_lr * f for f in sw.factors]
    return sorted({float(f"{lr:.3g}") for lr in raw})


def search_size(cfg: ExperimentConfig, sizes: list[int], pool: int) -> int:
    """The search's training-set size: lr_sweep.size, the largest grid size or the pool, whichever is smallest."""
    largest = max(sizes)
    size = largest if cfg.lr_sweep.size == "all" else int(cfg.lr_sweep.size)
    return max(1, min(size, largest, pool))


def model_identity(cfg: ExperimentConfig, base_dir: Path | None) -> dict:
    """What identifies the base model: a built-in or hub name, a local directory's config, or the pretraining."""
    if cfg.pretrain is not None:
        return {"pretrain": _plain(cfg.pretrain)}
    base = cfg.model.base
    if base.startswith(("builtin:", "hf:")) or base_dir is None:
        return {"base": base}
    config = (Path(base_dir) / "config.json").read_bytes() if (Path(base_dir) / "config.json").is_file() else b""
    return {"base": str(Path(base).expanduser().resolve()), "config_sha": hashlib.sha256(config).hexdigest()[:16]}


def data_identity(cfg: ExperimentConfig, source_fingerprint: str) -> dict:
    """Built-ins by name (their text is fixed by the installed packages), anything else by content."""
    if cfg.data.source.startswith("builtin:"):
        return {"source": cfg.data.source}
    return {"fingerprint": source_fingerprint}


def search_spec(cfg: ExperimentConfig, sc: StrategyConfig, *, data: dict, model: dict, size: int, steps: int,
                lrs: list[float]) -> dict:
    o = cfg.optim
    return {
        "task": cfg.task, "data": data, "model": model,
        "architecture": {"max_length": cfg.model.max_length, "pooling": cfg.model.pooling, "dropout": cfg.model.dropout,
                         "init": cfg.model.init if sc.name == "scratch" else None},
        "strategy": sc.name, "options": sc.options, "weight_decay": sc.weight_decay,
        "batch_size": cfg.train.batch_size,
        "optim": {"name": o.name, "weight_decay": o.weight_decay, "momentum": o.momentum, "betas": list(o.betas),
                  "warmup_fraction": o.warmup_fraction, "schedule": o.schedule, "grad_clip": o.grad_clip},
        "size": size, "steps": steps, "seed": cfg.lr_sweep.seed, "lrs": lrs,
    }


def search_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]


def choose(tried: list[dict]) -> float | None:
    """The learning rate with the lowest validation loss among finished runs (None if none finished)."""
    ok = [t for t in tried if t["status"] == "done" and t.get("val_loss") is not None and math.isfinite(t["val_loss"])]
    return min(ok, key=lambda t: (t["val_loss"], t["lr"]))["lr"] if ok else None


def search_table(store: Store, exp_id: str, label: str) -> list[dict]:
    """The tried learning rates of one strategy's search in an experiment: lr, status, the lowest validation
    loss during each run and the task's validation metric at its end."""
    metric = task_kind(store.experiment_config(exp_id).task).metric
    out = []
    for r in store.runs(exp_id):
        if r.role != Role.LR_SWEEP or r.strategy != label:
            continue
        res = r.result
        final = res.get("eval", {})
        out.append({"lr": r.lr, "status": str(r.status), "val_loss": res.get("best_val_loss", final.get("loss")),
                    "val_metric": final.get(metric), "steps": res.get("steps"), "error": r.error})
    return sorted(out, key=lambda t: t["lr"])


def record(store: Store, run: dict, device: str) -> None:
    """Once every run of a strategy's search has ended, keep the search (keyed) so later experiments reuse it."""
    search = store.experiment(run.experiment_id).info.get("lr_search", {}).get(run.strategy)
    tried = search_table(store, run.experiment_id, run.strategy)
    if search is None or any(t["status"] not in ("done", "failed", "cancelled") for t in tried):
        return
    chosen = choose(tried)
    if chosen is None or any(t["status"] == "cancelled" for t in tried):
        return  # nothing worth reusing: a later experiment searches again
    store.save_lr_search(search["key"], search["spec"], {
        "chosen": chosen, "tried": [{k: t[k] for k in ("lr", "status", "val_loss", "val_metric", "steps")} for t in tried],
        "device": device, "created": time.strftime("%Y-%m-%d")}, run.experiment_id)


def best_swept_lr(store: Store, run: dict) -> float:
    """The learning rate whose search run reached the lowest validation loss (the search this strategy
    shares, e.g. scratch×3 uses scratch's)."""
    info = store.experiment(run.experiment_id).info
    label = info.get("lr_search", {}).get(run.strategy, {}).get("label", run.strategy)
    chosen = choose(search_table(store, run.experiment_id, label))
    if chosen is None:
        raise HeadStartError(f"no learning-rate search run of {run.strategy} finished; see their errors, or set an lr")
    return chosen


def stored_searches() -> dict:
    try:
        return json.loads(STORED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _plain(obj):
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
