"""Tables: compute cost, forgetting, overfitting — one row per strategy and training-set size."""
from __future__ import annotations

import math

import pandas as pd

from training.analysis.stats import mean_interval
from training.core.hardware import peak_flops_for
from training.service.lr_search import finished, is_proportion, judge, name_of, next_rung, reading


def primary_metric(task: str) -> tuple[str, str, bool]:
    """(runs column, display name, higher is better) of the task kind's headline eval metric."""
    from training.tasks import task_kind

    kind = task_kind(task)
    return f"eval_{kind.metric}", kind.metric, kind.higher_is_better


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
        gpu_s = _mean(g.loc[on_gpu, "wall_s"]) if on_gpu.any() else math.nan  # not applicable on a CPU
        peaks = [peak_flops_for(d) for d in g["device_name"]]
        mfus = [f / w / p for f, w, p in zip(g["flops"], g["wall_s"], peaks, strict=True) if p and w]
        rows.append({
            "strategy": strategy, "n_train": int(n), "seeds": len(g), "wall_s": wall, "gpu_seconds": gpu_s,
            "flops": _mean(g["flops"]), "mfu": sum(mfus) / len(mfus) if mfus else math.nan,
            "peak_mem_gb": _mean(g["peak_mem_bytes"]) / 1e9, "trainable_params": _mean(g["trainable_params"]),
            "cost": wall / 3600 * price_per_hour if price_per_hour > 0 else math.nan,  # no price set: not priced
        })
    return pd.DataFrame(rows, columns=["strategy", "n_train", "seeds", "wall_s", "gpu_seconds", "flops", "mfu",
                                       "peak_mem_gb", "trainable_params", "cost"])


FROM_SCRATCH = ("scratch", "own")
"""The strategies that train from random weights: the controlled scratch and the practitioner's own model."""


def from_scratch(runs: pd.DataFrame) -> pd.Series:
    """Which rows trained from random weights (`scratch`, `scratch×3`, `own`…): they never had the base model's
    skill."""
    names = runs["strategy_name"] if "strategy_name" in runs else runs["strategy"].astype(str).str.split("×").str[0]
    return names.isin(FROM_SCRATCH)


SCRATCH_PROBE = "probe score only: trained from scratch, it never had the base model's skill to forget"


def forgetting_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean forgetting (probe baseline − final, so positive = forgot) per (strategy, N), with its interval. Scratch
    never had the base model's skill, so its drop is no forgetting: its rows keep its probe score (`final`), leave
    forgetting and its interval empty, and say so in `note`."""
    done = runs[(runs["status"] == "done") & runs["forgetting"].notna()]
    scratch = from_scratch(done)
    rows = []
    for (strategy, n), g in done.groupby(["strategy", "n_train"], sort=True):
        mean, lo, hi, k = mean_interval(g["forgetting"])
        if scratch[g.index].all():
            mean = lo = hi = math.nan
        rows.append({"strategy": strategy, "n_train": int(n), "probe": g["probe_key"].iloc[0],
                     "baseline": _mean(g["probe_baseline"]), "final": _mean(g["probe_final"]),
                     "forgetting": mean, "low": lo, "high": hi, "seeds": k,
                     "note": SCRATCH_PROBE if scratch[g.index].all() else ""})
    return pd.DataFrame(rows, columns=["strategy", "n_train", "probe", "baseline", "final", "forgetting", "low",
                                       "high", "seeds", "note"])


def overfitting_table(metrics: pd.DataFrame, rise: float = 0.05, gap_ratio: float = 1.5) -> pd.DataFrame:
    """Per run, compared at every evaluation: final train and validation loss, their gap, and a flag with its
    reason — `memorising` when validation loss ended more than `rise` (relative) above its best while training
    loss kept falling, `gap` when validation loss ended ≥ `gap_ratio`× the training loss and the gap widened
    since the first evaluation (the model fits its training set far better than new data)."""
    rows = []
    for run_id, g in metrics.groupby("run_id", sort=False):
        ev = g[g["key"] == "val/loss"].sort_values("step").set_index("step")["value"]
        tr = g[g["key"] == "train/loss"].sort_values("step").set_index("step")["value"]
        both = pd.concat([tr.rename("train"), ev.rename("val")], axis=1, join="inner")
        if ev.empty or tr.empty or both.empty:
            continue
        final_eval, best_eval, final_train = ev.iloc[-1], ev.min(), tr.iloc[-1]
        falling = len(tr) < 2 or tr.iloc[-1] <= tr.iloc[0]
        gaps = both["val"] - both["train"]
        reasons = []
        if final_eval > best_eval * (1 + rise) and falling:
            reasons.append(f"validation loss rose {final_eval / best_eval - 1:.0%} above its best while training loss fell")
        last = both.iloc[-1]
        widened = len(gaps) < 2 or gaps.iloc[-1] > gaps.iloc[0]
        if last["train"] > 0 and last["val"] >= gap_ratio * last["train"] and widened:
            reasons.append(f"validation loss {last['val']:.3f} is {last['val'] / last['train']:.1f}× training loss "
                           f"{last['train']:.3f}")
        rows.append({"run_id": run_id, "strategy": g["strategy"].iloc[0], "n_train": int(g["n_train"].iloc[0]),
                     "seed": int(g["seed"].iloc[0]), "train_loss": final_train, "val_loss": final_eval,
                     "best_val_loss": best_eval, "gap": final_eval - final_train, "overfitting": bool(reasons),
                     "why": "; ".join(reasons)})
    table = pd.DataFrame(rows, columns=["run_id", "strategy", "n_train", "seed", "train_loss", "val_loss",
                                        "best_val_loss", "gap", "overfitting", "why"])
    # by run, not by run id (ids are random: an imported record's report would list them in another order)
    return table.sort_values(["strategy", "n_train", "seed"], kind="stable", ignore_index=True)


SEARCH_SOURCE = {"planned": "searched in this experiment", "reused": "reused from experiment {experiment_id}",
                 "stored": "stored with the app ({created}, {device})"}


def lr_search_table(all_runs: pd.DataFrame, searches: dict, metric: str, higher_is_better: bool) -> pd.DataFrame:
    """The learning-rate search, kept visible: per strategy every candidate (a rate, and the regularisation tried with
    it where the strategy searches one), the rung it was sent to and how far it trained, its validation metric and
    loss there, what the rule concluded of it (`lr_search.judge`, the one rule — won, tied, behind, undecided and
    trained on, kept as the default — and only once every candidate has ended) and where the search came from (run
    here, reused from an earlier experiment of this store, or stored with the app for a built-in preset)."""
    cols = ["strategy", "lr", "settings", "status", "rung", "steps", f"val_{metric}", "val_loss", "chosen", "stopped",
            "search"]
    rows = []
    sw = all_runs[all_runs["role"] == "lr-sweep"]
    for label, s in searches.items():
        if s.get("label", label) != label:
            continue  # a strategy that shares another's search (scratch×3 uses scratch's): listed once, under it
        source = SEARCH_SOURCE[s["status"]].format(**{"experiment_id": "?", "created": "?", "device": "?", **s})
        if s["status"] == "planned":
            mine = sw[sw["strategy"] == s["label"]]
            options = s.get("options_by_run") or {}
            tried = [{"lr": r["sweep_lr"], "options": options.get(r["run_id"], {}), "status": r["status"],
                      "rung": r["total_steps"], **reading(r["result"] or {}, metric), "error": r["error"]}
                     for _, r in mine.iterrows()]
        else:
            tried = s.get("tried", [])
        rung = max((t.get("rung") or 0 for t in tried), default=0)
        final = next_rung(s, rung) is None
        verdict = judge(tried, higher_is_better, is_proportion(metric), default=s.get("default"), final=final)
        if verdict.train_on and not any(name_of(t) in verdict.train_on and t.get("at_rung") for t in tried):
            verdict = judge(tried, higher_is_better, is_proportion(metric), default=s.get("default"), final=True)
        chosen = name_of(verdict.chosen) if verdict.chosen else None
        # The rate the grid trained at, where it has started: what was decided (an experiment from before the rule
        # changed keeps its choice); a stored or reused search keeps the rate it chose.
        used = all_runs[(all_runs["role"] == "grid") & (all_runs["strategy"] == s["label"])]["sweep_lr"].dropna()
        decided = float(used.iloc[0]) if not used.empty else s.get("chosen") if s["status"] != "planned" else None
        why = verdict.why
        if decided is not None and finished(tried) and (verdict.chosen is None or decided != verdict.chosen["lr"]):
            picked = next((t for t in tried if t["lr"] == decided
                           and (t.get("options") or {}) == (s.get("chosen_options") or t.get("options") or {})), None)
            chosen = name_of(picked) if picked else None
            why = {k: ("won under the rule of its day" if k == chosen
                       else "stopped at the rung" if w.startswith(("won", "tied", "behind", "kept", "undecided")) else w)
                   for k, w in why.items()}
        for t in sorted(tried, key=lambda t: (t["lr"], sorted((t.get("options") or {}).items()))):
            settings = ", ".join(f"{k} {v:g}" for k, v in sorted((t.get("options") or {}).items()))
            rows.append({"strategy": label, "lr": t["lr"], "settings": settings, "status": t["status"],
                         "rung": t.get("rung"), "steps": t.get("steps"), f"val_{metric}": t.get("val_metric"),
                         "val_loss": t.get("val_loss"), "chosen": chosen is not None and name_of(t) == chosen,
                         "stopped": why.get(name_of(t), ""), "search": source})
    out = pd.DataFrame(rows, columns=cols)
    if not out.empty and not out["settings"].astype(bool).any():
        out = out.drop(columns="settings")  # no strategy searched a regularisation: no empty column
    return out
