"""Read an experiment from the store into DataFrames: one row per run, the metrics (long), the reference
baselines — and pick which checkpoint of each run is scored (its final model, its best checkpoint or its end)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from training.service.records import Role, Status
from training.service.store import Store

EVAL_METRICS = ("loss", "accuracy", "macro_f1", "perplexity", "rmse", "mae", "r2", "rouge_l", "loss_se")
"""Every eval metric a task kind reports (each run has those of its kind; the rest stay empty). `loss_se`: a language
model's standard error of the eval loss over sequences — its one-seed interval where no per-example outcomes were
stored (records made before they were)."""
RUN_COLUMNS = [
    "run_id", "strategy", "strategy_name", "n_train", "seed", "status", "steps", "total_steps", "examples",
    "wall_s", "flops", "peak_mem_bytes", "trainable_params", "params", "lr", "eval_loss", "eval_accuracy",
    "eval_macro_f1", "eval_perplexity", "eval_rmse", "eval_mae", "eval_r2", "eval_rouge_l", "eval_loss_se", "probe_key",
    "probe_baseline", "probe_final", "forgetting", "device",
    "device_name", "error", "mem_estimate", "micro_batch_size", "started_at", "ended_at", "heartbeat_at",
    "torch", "transformers", "role", "sweep_lr", "best_step", "best_loss", "best_accuracy", "best_macro_f1",
    "best_perplexity", "best_rmse", "best_mae", "best_r2", "best_rouge_l", "best_loss_se", "probe_best", "forgetting_best",
    "until_plateau", "stopped_early", "diverged", "eval_examples",
    "best_val_loss", "validation_examples", "checkpoint", "eval_items", "best_items", "result",
]
"""eval_items / best_items: each eval example's outcome at the end / at the best checkpoint (the end's where the end is
the best), as the run stored it under result["eval_items"] — {"y_true", "y_pred"} (classification: class codes;
regression: the target's units) or {"nll", "tokens"} per sequence (language models) — in the eval set's order, the
same in every run of an experiment; None where a run stored none (lr-search runs, experiments from before).
result: the run's whole stored result (what a learning-rate search's rule reads: `lr_search.reading`)."""
REFERENCE_COLUMNS = ["reference", "name", "n_train", "seed", "accuracy", "macro_f1", "loss", "rmse", "mae", "r2",
                     "eval_examples", "items"]
"""items: the reference's eval items (the form of a run's eval_items); None in experiments from before."""
CHECKPOINTS = {"final": "final model (its last weights, or its best checkpoint where validation shows that one "
                        "clearly better: by more than two standard errors)",
               "best": "best checkpoint of every run (best validation metric: early stopping for all)",
               "end": "end of training for every run (the last weights, also after a plateau)"}
"""How each run is scored. `final` is what a run delivers: its last weights (a fixed budget's schedule anneals the
rate to zero; a run trained until a plateau anneals it after the plateau), unless its best checkpoint's validation
reading beats the last one's by more than SELECT_Z standard errors of their difference — the best of a dozen noisy
readings is the highest partly by luck (on 500 validation examples one accuracy reading is ±0.02), so a
checkpoint is preferred to the end only where validation can tell them apart."""
SELECT_Z = 2.0
CHECKPOINT_LABELS = {"final": "final model", "best": "best checkpoint, every run", "end": "last weights, every run"}
METRIC_COLUMNS = ["run_id", "strategy", "n_train", "seed", "step", "examples", "wall_s", "flops", "key", "value"]


def runs_frame(store: Store, exp_id: str) -> pd.DataFrame:
    rows = []
    for r in store.runs(exp_id):
        res = r.result
        ev = res.get("eval", {})
        probe_key = next(iter(res.get("probe_final", {}) or {}), None)
        rows.append({
            "run_id": r.id, "strategy": r.strategy, "strategy_name": res.get("strategy", r.strategy),
            "n_train": r.n_train, "seed": r.seed, "status": str(r.status), "steps": res.get("steps"),
            "total_steps": r.total_steps, "examples": res.get("examples"), "wall_s": res.get("wall_s"),
            "flops": res.get("flops"), "peak_mem_bytes": res.get("peak_mem_bytes"),
            "trainable_params": res.get("trainable_params"), "params": res.get("params"), "lr": res.get("lr"),
            **{f"eval_{k}": ev.get(k) for k in EVAL_METRICS}, "probe_key": probe_key,
            "probe_baseline": (res.get("probe_baseline") or {}).get(probe_key),
            "probe_final": (res.get("probe_final") or {}).get(probe_key),
            "forgetting": (res.get("forgetting") or {}).get(probe_key), "device": r.device,
            "device_name": res.get("device"), "error": r.error, "mem_estimate": r.mem_estimate,
            "micro_batch_size": r.micro_batch_size, "started_at": r.started_at, "ended_at": r.ended_at,
            "heartbeat_at": r.heartbeat_at, "torch": res.get("torch"), "transformers": res.get("transformers"),
            "role": str(r.role), "sweep_lr": r.lr, "best_step": res.get("best_step"),
            **{f"best_{k}": (res.get("eval_best") or {}).get(k) for k in EVAL_METRICS},
            "probe_best": (res.get("probe_best") or {}).get(probe_key),
            "forgetting_best": (res.get("forgetting_best") or {}).get(probe_key),
            "until_plateau": res.get("until_plateau"), "stopped_early": res.get("stopped_early"),
            "diverged": res.get("diverged"),
            "eval_examples": res.get("eval_examples"), "best_val_loss": res.get("best_val_loss"),
            "validation_examples": res.get("validation_examples"), "checkpoint": "end",
            **_items(res), "result": res,
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _items(res: dict) -> dict:
    """eval_items and best_items of a run's result: the best checkpoint's are the end's where no best checkpoint was
    scored apart from the end (as eval_best is then eval)."""
    items = res.get("eval_items") or {}
    end = items.get("end")
    return {"eval_items": end, "best_items": items.get("best", end if "eval_best" in res else None)}


def at_checkpoint(runs: pd.DataFrame, checkpoint: str = "final", metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """The runs with eval_* and forgetting taken at `checkpoint` (see CHECKPOINTS): `end`, `best` (where a run
    recorded one), or `final` (best where `keeps_best` says validation clearly prefers it, else end; needs the
    experiment's metric rows)."""
    if checkpoint == "end" or runs.empty:
        return runs
    out = runs.copy()
    has = out["best_step"].notna()
    if checkpoint == "final":
        if metrics is None:
            raise ValueError("the final model of a run is chosen from its validation rows: pass the metrics")
        has &= keeps_best(out, metrics)
    for k in (k for k in EVAL_METRICS if f"best_{k}" in out):  # a frame of another task kind may lack a metric
        out.loc[has, f"eval_{k}"] = out.loc[has, f"best_{k}"]
    if "best_items" in out:  # a frame built without the items has neither column
        out.loc[has, "eval_items"] = out.loc[has, "best_items"]
    has_probe = has & out["probe_best"].notna()
    out.loc[has_probe, "probe_final"] = out.loc[has_probe, "probe_best"]
    out.loc[has_probe, "forgetting"] = out.loc[has_probe, "forgetting_best"]
    out.loc[has, "checkpoint"] = "best"
    return out


def keeps_best(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.Series:
    """Per run: True where its final model is its best checkpoint — the best checkpoint's validation reading beats
    the last reading by more than SELECT_Z standard errors of the difference (accuracy: binomial errors on the
    validation examples; language models: the recorded standard error of the validation loss). Runs that recorded
    neither (experiments from before this rule) keep the old rule: the best checkpoint where they trained until a
    plateau."""
    val = metrics[metrics["key"].isin(("val/accuracy", "val/loss", "val/loss_se"))] if not metrics.empty else metrics
    readings = {rid: g for rid, g in val.groupby("run_id")} if not val.empty else {}
    out = []
    for r in runs.itertuples(index=False):
        g = readings.get(r.run_id)
        out.append(_keeps_best(r, g) if g is not None else bool(r.until_plateau))
    return pd.Series(out, index=runs.index, dtype=bool)


def _keeps_best(r, g: pd.DataFrame) -> bool:
    if pd.isna(r.best_step):
        return False
    at = lambda key, step: g.loc[(g["key"] == key) & (g["step"] == step), "value"]  # noqa: E731
    last_step = g.loc[g["key"].isin(("val/accuracy", "val/loss")), "step"].max()
    if int(r.best_step) >= last_step:
        return False
    acc_best, acc_end = at("val/accuracy", r.best_step), at("val/accuracy", last_step)
    n = r.validation_examples
    if len(acc_best) and len(acc_end) and n and not pd.isna(n):
        p, q = float(acc_best.iloc[-1]), float(acc_end.iloc[-1])
        return p - q > SELECT_Z * math.sqrt((p * (1 - p) + q * (1 - q)) / n)
    loss_best, loss_end = at("val/loss", r.best_step), at("val/loss", last_step)
    se_best, se_end = at("val/loss_se", r.best_step), at("val/loss_se", last_step)
    if len(loss_best) and len(loss_end) and len(se_best) and len(se_end):
        diff = float(loss_end.iloc[-1]) - float(loss_best.iloc[-1])
        return diff > SELECT_Z * float(np.hypot(se_best.iloc[-1], se_end.iloc[-1]))
    return bool(r.until_plateau)


def references_frame(store: Store, exp_id: str) -> pd.DataFrame:
    """The reference baselines' scores: one row per (reference, size, seed)."""
    rows = []
    for r in store.runs(exp_id):
        if r.role == Role.REFERENCE and r.status == Status.DONE and r.result_json:
            rows += r.result.get("references", [])
    return pd.DataFrame([{**row, "items": row.get("items")} for row in rows], columns=REFERENCE_COLUMNS)


def metrics_frame(store: Store, exp_id: str) -> pd.DataFrame:
    runs = {r.id: r for r in store.runs(exp_id)}
    rows = [{"strategy": runs[m["run_id"]].strategy, "n_train": runs[m["run_id"]].n_train,
             "seed": runs[m["run_id"]].seed, **m} for m in store.metrics(exp_id=exp_id)]
    out = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    if not out.empty and not out["key"].str.startswith("val/").any():
        # Experiments recorded before the validation split scored the eval set during training.
        out["key"] = out["key"].str.replace(r"^eval/", "val/", regex=True)
    return out


def latest_progress(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run: last logged step, its wall seconds, and the share of total steps done."""
    if metrics.empty:
        last = pd.DataFrame(columns=["run_id", "step", "wall_s"])
    else:
        last = metrics.sort_values("step").groupby("run_id").tail(1)[["run_id", "step", "wall_s"]]
    out = runs.merge(last.rename(columns={"step": "logged_step", "wall_s": "logged_wall_s"}), on="run_id", how="left")
    out["logged_step"] = out["logged_step"].fillna(0).astype(int)
    done = out["status"] == "done"
    out.loc[done, "logged_step"] = out.loc[done, "total_steps"]
    out["progress"] = (out["logged_step"] / out["total_steps"].clip(lower=1)).clip(0, 1).fillna(0.0)
    rate = out["logged_wall_s"] / out["logged_step"].where(out["logged_step"] > 0)
    out["eta_s"] = ((out["total_steps"] - out["logged_step"]) * rate).where(out["status"] == "running")
    return out


def run_phase(status: str, logged_step: float | None, total_steps: float | None, events: list[dict]) -> str:
    """What a run is doing now: queued, starting, training, probing, checkpointing, evaluating, done, failed (or
    interrupted, cancelled).

    A running run that logged no metric row yet is starting (loading data and model, scoring the base). One whose
    steps are all logged — its total, or the end its `plateau` event set — is past training: its last `phase` event
    says which final stage it is in (probing, checkpointing, evaluating; "evaluating" where the loop wrote none) —
    scoring validation, the probes and the eval set after the last step takes a while, so it is not "ETA 0 s"."""
    if status != "running":
        return status
    if logged_step is None or logged_step != logged_step:
        return "starting"
    ends = [json.loads(e["data_json"] or "{}").get("end") for e in events if e["kind"] == "plateau"]
    last_step = ends[-1] if ends and ends[-1] else total_steps
    if not (last_step and last_step == last_step and logged_step >= last_step):
        return "training"
    phases = [e["message"] for e in events if e["kind"] == "phase"]  # the loop names its final stages
    return phases[-1] if phases else "evaluating"


def run_phases(store: Store, progress: pd.DataFrame) -> pd.Series:
    """`run_phase` of every row of `latest_progress`; reads the events of running runs only."""
    return pd.Series([run_phase(r.status, r.logged_step if r.logged_wall_s == r.logged_wall_s else None, r.total_steps,
                                store.events(r.run_id) if r.status == "running" else [])
                      for r in progress.itertuples(index=False)], index=progress.index, dtype=object)


def planned_step_seconds(info: dict, batch_size: int) -> dict[str, float]:
    """Seconds per optimizer step of each strategy as the plan estimated them (`preflight`: its FLOPs per example ×
    the batch over the timed step's FLOP/s on this machine), and the classical references' run's seconds; {} where the
    plan timed nothing."""
    rate = (info.get("timed_step") or {}).get("flops_per_s")
    out = {label: batch_size * f["flops_per_example"] / rate for label, f in (info.get("footprint") or {}).items()
           if rate and f.get("flops_per_example")}
    if (info.get("cost") or {}).get("reference_seconds"):  # the classical references' run: one "step", its fits
        out["references"] = float(info["cost"]["reference_seconds"])
    return out


def experiment_eta(progress: pd.DataFrame, phases: pd.Series | None = None,
                   planned: dict[str, float] | None = None) -> dict:
    """How long until every queued and running run of an experiment has finished, from `latest_progress`.

    Seconds per step of a strategy: the median over its runs that logged steps of whole-run seconds per step where a
    run is done and timed (started to ended: loading, evaluations and probes included), else training seconds per
    step (its training wall time / its steps). A running run still needs its steps left × its own
    seconds per step (none once its steps are all done: it is evaluating); a queued run its total steps × its
    strategy's. The sum is divided by the runs running now (at least 1): the dispatcher keeps that many slots busy.

    A strategy none of whose runs has timed a step yet takes the plan's seconds per step (`planned`,
    `planned_step_seconds`): with 6 runs left and one nearly done, "ETA ≥ 3 s" said nothing.

    Returns seconds (NaN when no remaining run can be estimated yet), remaining (runs left), unknown (remaining runs
    with no timed step, measured or planned: the estimate leaves them out), from_plan (remaining runs estimated from
    the plan) and parallel (the divisor)."""
    status = progress["status"]
    done = status == "done"
    steps = progress["total_steps"].astype(float)
    trained = progress["steps"].astype(float).where(done, progress["logged_step"].astype(float))  # done: its result's
    trained = trained.where(trained > 0)
    training_rate = progress["wall_s"].astype(float).where(done, progress["logged_wall_s"].astype(float)) / trained
    whole = (progress["ended_at"].astype(float) - progress["started_at"].astype(float)) / trained
    rate = whole.where(done & (whole > 0), training_rate)
    by_strategy = rate.groupby(progress["strategy"]).median()
    strategy_rate = progress["strategy"].map(by_strategy)
    from_plan = strategy_rate.isna() & progress["strategy"].isin(list(planned or {}))
    strategy_rate = strategy_rate.where(~from_plan, progress["strategy"].map(planned or {}))
    steps_left = (steps - progress["logged_step"]).clip(lower=0)
    if phases is not None:
        steps_left = steps_left.where(~phases.isin(("evaluating", "probing", "checkpointing")), 0.0)
    own = training_rate.where(training_rate.notna(), strategy_rate)
    left = pd.Series(np.nan, index=progress.index)
    running, queued = status == "running", status == "queued"
    left[running] = (steps_left * own).where(steps_left > 0, 0.0)[running]
    left[queued] = (steps * strategy_rate)[queued]
    remaining = running | queued
    parallel = max(1, int(running.sum()))
    known = left[remaining].notna()
    seconds = float(left[remaining].sum()) / parallel if known.any() or not remaining.any() else math.nan
    return {"seconds": seconds, "remaining": int(remaining.sum()), "unknown": int((~known).sum()),
            "from_plan": int((from_plan & remaining).sum()), "parallel": parallel}
