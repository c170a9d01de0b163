"""Read an experiment from the store into two DataFrames: one row per run, and the metrics (long)."""
from __future__ import annotations

import json

import pandas as pd

from ..store import Store

RUN_COLUMNS = [
    "run_id", "strategy", "strategy_name", "n_train", "seed", "status", "steps", "total_steps", "examples",
    "wall_s", "flops", "peak_mem_bytes", "trainable_params", "params", "lr", "eval_loss", "eval_accuracy",
    "eval_macro_f1", "eval_perplexity", "probe_key", "probe_baseline", "probe_final", "forgetting", "device",
    "device_name", "error", "mem_estimate", "micro_batch_size", "started_at", "ended_at", "heartbeat_at",
    "torch", "transformers", "role", "sweep_lr",
]
METRIC_COLUMNS = ["run_id", "strategy", "n_train", "seed", "step", "examples", "wall_s", "flops", "key", "value"]


def runs_frame(store: Store, exp_id: str) -> pd.DataFrame:
    rows = []
    for r in store.runs(exp_id):
        res = json.loads(r["result_json"]) if r["result_json"] else {}
        ev = res.get("eval", {})
        probe_key = next(iter(res.get("probe_final", {}) or {}), None)
        rows.append({
            "run_id": r["id"], "strategy": r["strategy"], "strategy_name": res.get("strategy", r["strategy"]),
            "n_train": r["n_train"], "seed": r["seed"], "status": r["status"], "steps": res.get("steps"),
            "total_steps": r["total_steps"], "examples": res.get("examples"), "wall_s": res.get("wall_s"),
            "flops": res.get("flops"), "peak_mem_bytes": res.get("peak_mem_bytes"),
            "trainable_params": res.get("trainable_params"), "params": res.get("params"), "lr": res.get("lr"),
            "eval_loss": ev.get("loss"), "eval_accuracy": ev.get("accuracy"), "eval_macro_f1": ev.get("macro_f1"),
            "eval_perplexity": ev.get("perplexity"), "probe_key": probe_key,
            "probe_baseline": (res.get("probe_baseline") or {}).get(probe_key),
            "probe_final": (res.get("probe_final") or {}).get(probe_key),
            "forgetting": (res.get("forgetting") or {}).get(probe_key), "device": r["device"],
            "device_name": res.get("device"), "error": r["error"], "mem_estimate": r["mem_estimate"],
            "micro_batch_size": r["micro_batch_size"], "started_at": r["started_at"], "ended_at": r["ended_at"],
            "heartbeat_at": r["heartbeat_at"], "torch": res.get("torch"), "transformers": res.get("transformers"),
            "role": r["role"], "sweep_lr": r["lr"],
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def metrics_frame(store: Store, exp_id: str) -> pd.DataFrame:
    runs = {r["id"]: r for r in store.runs(exp_id)}
    rows = [{"strategy": runs[m["run_id"]]["strategy"], "n_train": runs[m["run_id"]]["n_train"],
             "seed": runs[m["run_id"]]["seed"], **m} for m in store.metrics(exp_id=exp_id)]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


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
