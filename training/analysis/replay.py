"""Replay: a recorded experiment's runs and curves as they were at a moment of its history — a demo
without a GPU. Runs keep their recorded start times (relative to the first), and a metric row appears
once its run's training clock passes the row's wall-clock seconds."""
from __future__ import annotations

import pandas as pd


def timeline(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run: start offset (s from the first start) and duration (training seconds, at least 1)."""
    t0 = runs["started_at"].min()
    out = runs[["run_id", "started_at", "ended_at", "wall_s", "status"]].copy()
    out["start"] = (out["started_at"] - t0).fillna(0.0)
    recorded = (out["ended_at"] - out["started_at"]).fillna(0.0)
    out["duration"] = pd.concat([recorded, out["wall_s"].fillna(0.0)], axis=1).max(axis=1).clip(lower=1.0)
    return out


def total_duration(runs: pd.DataFrame) -> float:
    t = timeline(runs)
    return float((t["start"] + t["duration"]).max()) if not t.empty else 0.0


def at_time(runs: pd.DataFrame, metrics: pd.DataFrame, t: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs with status as of t, metric rows logged by t)."""
    tl = timeline(runs).set_index("run_id")
    elapsed = (t - tl["start"]).clip(lower=0.0)
    frac = (elapsed / tl["duration"]).clip(upper=1.0)
    state = runs.copy()
    started = (t >= tl["start"]).reindex(state["run_id"]).to_numpy()
    finished = (frac >= 1.0).reindex(state["run_id"]).to_numpy()
    state["status"] = ["queued" if not s else (rec if f else "running")
                       for s, f, rec in zip(started, finished, runs["status"], strict=True)]
    # a run's rows appear in proportion to its recorded training time
    scale = (tl["wall_s"].fillna(0.0) / tl["duration"]).clip(lower=0.0)
    clock = (elapsed * scale).rename("clock")
    m = metrics.merge(clock, left_on="run_id", right_index=True, how="left")
    visible = m[(m["wall_s"] <= m["clock"] + 1e-9) & m["run_id"].isin(state.loc[started, "run_id"])]
    return state, visible.drop(columns=["clock"])
