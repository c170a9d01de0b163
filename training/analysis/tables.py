"""Tables: compute cost, forgetting, overfitting — one row per strategy and training-set size."""
from __future__ import annotations

import math

import pandas as pd

from ..hardware import peak_flops_for
from .stats import mean_interval

PRIMARY = {"text-classification": ("eval_accuracy", "accuracy", True),
           "causal-lm": ("eval_perplexity", "perplexity", False)}
"""Per task kind: (runs column, display name, higher is better) of the headline eval metric."""


def primary_metric(task: str) -> tuple[str, str, bool]:
    return PRIMARY[task]


def _mean(values) -> float:
    return mean_interval(values)[0]


def compute_table(runs: pd.DataFrame, price_per_hour: float = 0.0) -> pd.DataFrame:
    """Mean cost per (strategy, N) over finished runs: wall seconds (training only), GPU-seconds,
    training FLOPs, MFU (GPUs with a known peak), peak memory, trainable parameters and money at
    `price_per_hour` per device-hour."""
    done = runs[runs["status"] == "done"]
    rows = []
    for (strategy, n), g in done.groupby(["strategy", "n_train"], sort=True):
        wall = _mean(g["wall_s"])
        on_gpu = ~g["device_name"].fillna("cpu").str.startswith("cpu")
        gpu_s = _mean(g.loc[on_gpu, "wall_s"]) if on_gpu.any() else 0.0
        peaks = [peak_flops_for(d) for d in g["device_name"]]
        mfus = [f / w / p for f, w, p in zip(g["flops"], g["wall_s"], peaks, strict=True) if p and w]
        rows.append({
            "strategy": strategy, "n_train": int(n), "seeds": len(g), "wall_s": wall, "gpu_seconds": gpu_s,
            "flops": _mean(g["flops"]), "mfu": sum(mfus) / len(mfus) if mfus else math.nan,
            "peak_mem_gb": _mean(g["peak_mem_bytes"]) / 1e9, "trainable_params": _mean(g["trainable_params"]),
            "cost": wall / 3600 * price_per_hour,
        })
    return pd.DataFrame(rows, columns=["strategy", "n_train", "seeds", "wall_s", "gpu_seconds", "flops", "mfu",
                                       "peak_mem_gb", "trainable_params", "cost"])


def forgetting_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean forgetting (probe baseline − final, so positive = forgot) per (strategy, N), with its interval."""
    done = runs[(runs["status"] == "done") & runs["forgetting"].notna()]
    rows = []
    for (strategy, n), g in done.groupby(["strategy", "n_train"], sort=True):
        mean, lo, hi, k = mean_interval(g["forgetting"])
        rows.append({"strategy": strategy, "n_train": int(n), "probe": g["probe_key"].iloc[0],
                     "baseline": _mean(g["probe_baseline"]), "final": _mean(g["probe_final"]),
                     "forgetting": mean, "low": lo, "high": hi, "seeds": k})
    return pd.DataFrame(rows, columns=["strategy", "n_train", "probe", "baseline", "final", "forgetting", "low",
                                       "high", "seeds"])


def overfitting_table(metrics: pd.DataFrame, rise: float = 0.05) -> pd.DataFrame:
    """Per run: final train and eval loss, their gap, and a flag when eval loss ended more than `rise`
    (relative) above its best while train loss kept falling — the run memorised its training set."""
    rows = []
    for run_id, g in metrics.groupby("run_id", sort=False):
        ev = g[g["key"] == "eval/loss"].sort_values("step")
        tr = g[g["key"] == "train/loss"].sort_values("step")
        if ev.empty or tr.empty:
            continue
        final_eval, best_eval = ev["value"].iloc[-1], ev["value"].min()
        final_train = tr["value"].iloc[-1]
        falling = len(tr) < 2 or tr["value"].iloc[-1] <= tr["value"].iloc[0]
        flag = bool(final_eval > best_eval * (1 + rise) and falling)
        rows.append({"run_id": run_id, "strategy": g["strategy"].iloc[0], "n_train": int(g["n_train"].iloc[0]),
                     "seed": int(g["seed"].iloc[0]), "train_loss": final_train, "eval_loss": final_eval,
                     "best_eval_loss": best_eval, "gap": final_eval - final_train, "overfitting": flag})
    return pd.DataFrame(rows, columns=["run_id", "strategy", "n_train", "seed", "train_loss", "eval_loss",
                                       "best_eval_loss", "gap", "overfitting"])


def lr_sweep_table(all_runs: pd.DataFrame, metric_col: str) -> pd.DataFrame:
    """The learning-rate sweep, kept visible: every tried LR per strategy, its final eval loss and metric,
    and which one the grid used (the lowest eval loss)."""
    sw = all_runs[all_runs["role"] == "lr-sweep"]
    if sw.empty:
        return pd.DataFrame(columns=["strategy", "lr", "status", "eval_loss", metric_col, "chosen"])
    t = sw[["strategy", "sweep_lr", "status", "eval_loss", metric_col]].rename(columns={"sweep_lr": "lr"})
    t = t.sort_values(["strategy", "lr"]).reset_index(drop=True)
    best = t[t["status"] == "done"].groupby("strategy")["eval_loss"].idxmin()
    t["chosen"] = t.index.isin(best.values)
    return t
