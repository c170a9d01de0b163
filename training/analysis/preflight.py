"""Before launch: how many runs, how long, how much memory — from the plan and this store's history."""
from __future__ import annotations

import pandas as pd

from training.core.hardware import peak_flops_for

CPU_FLOPS = 20e9
"""Training FLOP/s assumed on a CPU when the store has no finished CPU run (2-core box: 15–25e9)."""
GPU_MFU = 0.25
"""Share of a GPU's datasheet peak assumed when the store has no finished run on it."""


def measured_throughput(runs: pd.DataFrame, device_name: str | None) -> float | None:
    """Training FLOP/s achieved by finished runs on this kind of device (total FLOPs / total seconds)."""
    if runs.empty or not device_name:
        return None
    kind = "cpu" if device_name.startswith("cpu") else device_name
    same = runs[(runs["status"] == "done") & runs["wall_s"].gt(0) & runs["flops"].gt(0)
                & runs["device_name"].fillna("").str.startswith(kind)]
    if same.empty:
        return None
    return float(same["flops"].sum() / same["wall_s"].sum())


def preflight(plan: dict, history: pd.DataFrame, device_name: str | None) -> dict:
    """Runs, total steps and FLOPs, estimated hours (and how it was estimated), peak memory per run."""
    runs = pd.DataFrame(plan["runs"])
    footprint = plan["info"]["footprint"]
    batch = plan["config"]["train"]["batch_size"]
    runs["flops"] = [r["total_steps"] * batch * footprint.get(r["strategy"], {}).get("flops_per_example", 0.0)
                     if r["strategy"] != "pretrain" else 0.0 for r in plan["runs"]]
    measured = measured_throughput(history, device_name)
    if measured:
        rate, how = measured, f"measured on earlier runs on this device ({measured / 1e9:.1f} GFLOP/s)"
    elif device_name and not device_name.startswith("cpu") and peak_flops_for(device_name):
        rate = GPU_MFU * peak_flops_for(device_name)
        how = f"assumed {GPU_MFU:.0%} of the {device_name} peak"
    else:
        rate, how = CPU_FLOPS, f"assumed {CPU_FLOPS / 1e9:.0f} GFLOP/s (a small CPU); finished runs refine this"
    runs["est_s"] = runs["flops"] / rate
    return {"runs": len(runs), "steps": int(runs["total_steps"].sum()), "flops": float(runs["flops"].sum()),
            "est_s": float(runs["est_s"].sum()), "estimate_basis": how,
            "peak_mem_bytes": int(runs["mem_estimate"].max()) if "mem_estimate" in runs else None,
            "table": runs[["strategy", "n_train", "seed", "total_steps", "flops", "est_s"]
                          + (["mem_estimate"] if "mem_estimate" in runs else [])]}
