"""What it costs to reach a target: examples, wall time, GPU-seconds, FLOPs, memory and money, per
strategy — and, for the hybrid path, the pretraining's cost shown in full and amortised."""
from __future__ import annotations

import math

import pandas as pd

from training.analysis.stats import mean_interval
from training.analysis.tables import from_scratch


def cost_to_target(runs: pd.DataFrame, metrics: pd.DataFrame, key: str, target: float, higher_is_better: bool,
                   price_per_hour: float = 0.0, extra_flops: dict[str, float] | None = None) -> pd.DataFrame:
    """Per (strategy, N): how many seeds reached `target` on eval metric `key` ("2/3"), the best reading of `key` each
    seed got to (mean over seeds: how near a cell that missed came), and the mean cost at the first evaluation that did
    reach it (examples, training seconds, GPU-seconds, FLOPs, peak memory, money).
    extra_flops adds a fixed cost per strategy (the hybrid's pretraining)."""
    readings = metrics[metrics["key"] == key]
    best = readings.groupby("run_id")["value"].max() if higher_is_better else readings.groupby("run_id")["value"].min()
    hit = readings[readings["value"] >= target] if higher_is_better else readings[readings["value"] <= target]
    first = hit.sort_values("step").groupby("run_id").head(1).set_index("run_id")
    rows = []
    for (strategy, n), g in runs[runs["status"] == "done"].groupby(["strategy", "n_train"], sort=True):
        reached = [rid for rid in g["run_id"] if rid in first.index]
        f = first.loc[reached] if reached else first.iloc[0:0]
        on_gpu = ~g["device_name"].fillna("cpu").str.startswith("cpu")
        wall = mean_interval(f["wall_s"])[0] if reached else math.nan
        bests = best.reindex(g["run_id"]).dropna()
        rows.append({"strategy": strategy, "n_train": int(n), "reached": f"{len(reached)}/{len(g)}",
                     "best_val": mean_interval(bests)[0] if len(bests) else math.nan,
                     "examples": mean_interval(f["examples"])[0] if reached else math.nan, "wall_s": wall,
                     "gpu_seconds": wall if on_gpu.any() else math.nan,
                     "flops": (mean_interval(f["flops"])[0] + (extra_flops or {}).get(strategy, 0.0)) if reached else math.nan,
                     "peak_mem_gb": mean_interval(g["peak_mem_bytes"])[0] / 1e9 if reached else math.nan,
                     "cost": wall / 3600 * price_per_hour if reached and price_per_hour > 0 else math.nan})
    return pd.DataFrame(rows, columns=["strategy", "n_train", "reached", "best_val", "examples", "wall_s", "gpu_seconds",
                                       "flops", "peak_mem_gb", "cost"])


def pretraining_cost(all_runs: pd.DataFrame, grid: pd.DataFrame) -> dict | None:
    """The hybrid's pretraining run: its cost, and that cost spread over the runs that start from it."""
    pre = all_runs[(all_runs["role"] == "pretrain") & (all_runs["status"] == "done")]
    if pre.empty:
        return None
    r = pre.iloc[0]
    users = int((~from_scratch(grid)).sum()) or 1
    return {"flops": float(r["flops"]), "wall_s": float(r["wall_s"]), "users": users,
            "amortised_flops": float(r["flops"]) / users, "amortised_wall_s": float(r["wall_s"]) / users}


def with_pretraining(compute: pd.DataFrame, pre: dict | None, runs: pd.DataFrame) -> pd.DataFrame:
    """Add FLOPs and wall time including the pretraining, in full and amortised, to strategies that start
    from the pretrained base (scratch does not)."""
    if pre is None or compute.empty:
        return compute
    pretrained = set(runs.loc[~from_scratch(runs), "strategy"])
    share = compute["strategy"].isin(pretrained).astype(float)
    return compute.assign(flops_with_pretraining=compute["flops"] + share * pre["flops"],
                          flops_amortised=compute["flops"] + share * pre["amortised_flops"],
                          wall_s_with_pretraining=compute["wall_s"] + share * pre["wall_s"])
