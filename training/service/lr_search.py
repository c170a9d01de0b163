"""The learning-rate search: which rates each strategy tries, where they are compared, which one wins, and how
a finished search is keyed and reused.

The search is successive halving with one rung (the idea of Hyperband/ASHA, Li et al. 2018): every candidate rate
starts the very run the grid needs at the search's size and seed — the same subset, schedule and evaluation steps —
and trains it to the *rung* (a share of its steps, placed as late as `lr_sweep.budget` allows, each strategy's losers
at the same cost). There the candidates are compared by the best validation value of the task's primary metric each
has reached (the metric the verdict uses; validation loss breaks ties), the others stop, and the winner's run
*becomes* that grid run: the grid run continues it from its checkpoint at the rung instead of training it again. A
rate whose training loss turns NaN or climbs well above where it started stops at once (`diverged`). The eval set is
never looked at.

A search is identified by everything that decides its outcome — task, data, model, strategy and options,
batch and optimizer settings, the search size, steps, seed and candidate rates — hashed into a key (the rung
is not: it follows the grid's size, and a search finished at another rung still chose on this data). A
finished search is kept in the store (`Store.save_lr_search`) and reused by later experiments with the
same key; the built-in presets' searches ship with the app (`lr_search_stored.json`, written by
`bench/store_lr_search.py`), so the quick demo needs no search runs of its own.
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


RUNG_MIN = 0.2
"""The earliest rung, as a share of the policy's steps at the search size: past the warmup (10% by default), so the
rates are compared where each has trained at its own peak for a while."""

def search_size(cfg: ExperimentConfig, sizes: list[int], pool: int) -> int:
    """The search's training-set size: the largest grid size not above lr_sweep.size (`all`: the largest), else the
    smallest grid size — always a size of the grid, so the winning run can become that grid run."""
    sizes = sorted(min(n, pool) for n in sizes)
    if cfg.lr_sweep.size == "all":
        return sizes[-1]
    within = [n for n in sizes if n <= int(cfg.lr_sweep.size)]
    return within[-1] if within else sizes[0]


def search_seed(cfg: ExperimentConfig) -> int:
    """The search's seed: lr_sweep.seed, or the experiment's first seed."""
    return cfg.lr_sweep.seed if cfg.lr_sweep.seed is not None else cfg.seeds[0]


def rung_fractions(cfg: ExperimentConfig, grid_flops: float, losers: dict[str, float]) -> dict[str, float]:
    """Per search (by key), the share of the policy's steps at which its candidates are compared. `losers`: per search,
    the training FLOPs its candidates the grid does not keep would spend per unit of that share. The budget
    (`lr_sweep.budget` × the grid's FLOPs) is filled like water: every search's losers get the same compute, a search
    capped at its whole budget (a share of 1; a cheap strategy such as head compares after all its steps) and floored
    at RUNG_MIN — so the rung is as late as the budget allows, for each strategy at the same cost."""
    if cfg.lr_sweep.rung is not None:
        return dict.fromkeys(losers, cfg.lr_sweep.rung)
    costs = {k: c for k, c in losers.items() if c > 0}
    budget = cfg.lr_sweep.budget * grid_flops

    def share(t: float, c: float) -> float:
        return min(1.0, max(RUNG_MIN, t / c))

    def spend(t: float) -> float:
        return sum(share(t, c) * c for c in costs.values())

    lo, hi = 0.0, max(costs.values(), default=0.0)
    if spend(hi) > budget:
        for _ in range(60):  # spend() grows with t: bisect for the compute per search that spends the budget
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if spend(mid) <= budget else (lo, mid)
    return {k: share(lo if spend(hi) > budget else hi, costs[k]) if k in costs else 1.0 for k in losers}


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
                rung: int, plateau: bool, lrs: list[float]) -> dict:
    o = cfg.optim
    return {
        "task": cfg.task, "data": data, "model": model,
        "architecture": {"max_length": cfg.model.max_length, "pooling": cfg.model.pooling, "dropout": cfg.model.dropout,
                         "init": cfg.model.init if sc.name == "scratch" else None},
        "strategy": sc.name, "options": sc.options, "weight_decay": sc.weight_decay,
        "batch_size": cfg.train.batch_size,
        "optim": {"name": o.name, "weight_decay": o.weight_decay, "momentum": o.momentum, "betas": list(o.betas),
                  "warmup_fraction": o.warmup_fraction, "schedule": o.schedule, "grad_clip": o.grad_clip},
        "size": size, "steps": steps, "rung": rung, "seed": search_seed(cfg), "lrs": lrs,
        "plateau": {"patience": cfg.budget.patience, "cap": cfg.budget.plateau_cap} if plateau else None,
        "evals": cfg.train.evals_per_run, "eval_every": cfg.train.eval_every, "choose_by": "best validation metric by the rung",
    }


def search_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]


def finished(tried: list[dict]) -> bool:
    """Every candidate has ended (done, failed or cancelled): only then is there a choice to speak of."""
    return bool(tried) and all(t["status"] in ("done", "failed", "cancelled") for t in tried)


def judge(tried: list[dict], higher_is_better: bool, proportion: bool = False) -> tuple[float | None, dict[float, str]]:
    """THE rule of the search, with each candidate's outcome in words. Among the candidates that reached the rung
    (done, not diverged), the best validation value of the task's primary metric each reached by the rung
    (`val_metric`: what its best checkpoint would be) wins; the lower validation loss at that evaluation breaks ties,
    then the smaller rate. Where the metric is a proportion (accuracy) of `val_n` validation examples, a candidate
    within one standard error of the leader's reading (√(p(1−p)/n)) ties with it — the validation set cannot tell
    them apart, and the loss, a finer reading of the same examples, decides (as in the one-standard-error rule of
    model selection; LOG.md, 2026-12-02: scratch on docstrings read 0.328 and 0.326 at its rung on 500 examples, SE
    0.021 — one example apart). No choice (None) while any candidate is still to end, or if none reached the rung. The best
    reading rather than the last: a run at a constant peak rate (scratch before its plateau) swings by ±0.1 in
    validation accuracy from one evaluation to the next (LOG.md, 2026-12-02)."""
    why = {t["lr"]: _ended(t) for t in tried}
    if not finished(tried):
        return None, why

    def ok(t: dict) -> bool:
        values = (t.get("val_metric"), t.get("val_loss"))
        return t["status"] == "done" and not t.get("diverged") and all(v is not None and math.isfinite(v) for v in values)

    reached = [t for t in tried if ok(t)]
    if not reached:
        return None, why
    sign = -1 if higher_is_better else 1
    leader = min(reached, key=lambda t: (sign * t["val_metric"], t["val_loss"], t["lr"]))
    tied, n = [leader], leader.get("val_n")
    if proportion and n:
        p = min(max(leader["val_metric"], 0.0), 1.0)
        se = math.sqrt(p * (1 - p) / n)
        tied = [t for t in reached if sign * (t["val_metric"] - leader["val_metric"]) <= se]
    winner = min(tied, key=lambda t: (t["val_loss"], t["lr"]))
    for t in reached:
        if t is winner:
            why[t["lr"]] = "won" + (f": {len(tied) - 1} tied (±{se:.3f}, one SE), lowest loss" if len(tied) > 1 else "")
        elif t in tied:
            why[t["lr"]] = f"tied (±{se:.3f}, one SE), higher loss"
        else:
            why[t["lr"]] = "behind the winner on validation"
    return winner["lr"], why


def choose(tried: list[dict], higher_is_better: bool, proportion: bool = False) -> float | None:
    """The rate the search chose (`judge`), or None."""
    return judge(tried, higher_is_better, proportion)[0]


def is_proportion(metric: str) -> bool:
    """A metric that is a share of validation examples (its standard error is √(p(1−p)/n))."""
    return metric == "accuracy"


def rule(kind) -> dict:
    """The rule's arguments for a task kind: its metric's direction, and whether it is a proportion of examples."""
    return {"higher_is_better": kind.higher_is_better, "proportion": is_proportion(kind.metric)}


def _ended(t: dict) -> str:
    """How far a candidate trained and why it stopped, before any choice."""
    if t["status"] in ("failed", "cancelled"):
        return f"{t['status']}: {t.get('error') or 'no reason recorded'}"
    if t["status"] != "done":
        return f"{t['status']}: not at the rung yet"
    if t.get("diverged"):
        return "diverged: its training loss climbed or became NaN"
    return "reached the rung"


def reading(result: dict, metric: str) -> dict:
    """What the rule reads of one candidate's result: the best validation value of `metric` by the rung with the loss
    there (runs from before `best_val`: their last validation), how many validation examples that reading is of, steps
    trained and whether it diverged."""
    best = result.get("best_val") or result.get("eval") or {}
    return {"val_metric": _finite(best.get(metric)), "val_loss": _finite(best.get("loss")),
            "val_n": result.get("validation_examples"), "steps": result.get("steps"),
            "diverged": bool(result.get("diverged"))}


def _finite(v):
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def search_table(store: Store, exp_id: str, label: str) -> list[dict]:
    """The tried learning rates of one strategy's search in an experiment: lr, status, the best validation value of the
    task's metric it reached by the rung (or where it stopped) with the validation loss there, steps trained and
    whether it diverged."""
    metric = task_kind(store.experiment_config(exp_id).task).metric
    out = []
    for r in store.runs(exp_id):
        if r.role != Role.LR_SWEEP or r.strategy != label:
            continue
        out.append({"lr": r.lr, "status": str(r.status), **reading(r.result, metric), "error": r.error})
    return sorted(out, key=lambda t: t["lr"])


def record(store: Store, run: dict, device: str) -> None:
    """Once every run of a strategy's search has ended, keep the search (keyed) so later experiments reuse it."""
    search = store.experiment(run.experiment_id).info.get("lr_search", {}).get(run.strategy)
    tried = search_table(store, run.experiment_id, run.strategy)
    if search is None or not finished(tried):
        return
    chosen = choose(tried, **rule(task_kind(store.experiment_config(run.experiment_id).task)))
    if chosen is None or any(t["status"] == "cancelled" for t in tried):
        return  # nothing worth reusing: a later experiment searches again
    store.save_lr_search(search["key"], search["spec"], {
        "chosen": chosen, "tried": [{k: t[k] for k in ("lr", "status", "val_loss", "val_metric", "val_n", "steps", "diverged")}
                                    for t in tried],
        "device": device, "created": time.strftime("%Y-%m-%d")}, run.experiment_id)


def chosen_run(store: Store, run) -> tuple[float, object | None]:
    """The searched learning rate for a grid run (the search this strategy shares, e.g. scratch×3 uses scratch's),
    and the winning search run when this grid run is the one it becomes (else None)."""
    info = store.experiment(run.experiment_id).info
    search = info.get("lr_search", {}).get(run.strategy, {})
    label = search.get("label", run.strategy)
    tried = search_table(store, run.experiment_id, label)
    chosen, reasons = judge(tried, **rule(task_kind(store.experiment_config(run.experiment_id).task)))
    if chosen is None:
        why = "; ".join(f"{t['lr']:g} {reasons[t['lr']]}" for t in tried)
        raise HeadStartError(f"no learning-rate search run of {run.strategy} reached its rung ({why}); set an lr or "
                             "search smaller rates (lr_sweep.lrs)")
    winner = None
    if search.get("continued_by") == run.id:
        winner = next((r for r in store.runs(run.experiment_id)
                       if r.role == Role.LR_SWEEP and r.strategy == label and r.lr == chosen), None)
    return chosen, winner


def stored_searches() -> dict:
    try:
        return json.loads(STORED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _plain(obj):
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
