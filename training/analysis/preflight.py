"""Before launch: how many runs, how long, how much memory — from the plan and this store's history."""
from __future__ import annotations

import math

import pandas as pd

from training.analysis.units import human_flops, human_seconds
from training.core.hardware import CPU_FLOPS, peak_flops_for

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
    """Runs, total steps and FLOPs, estimated hours (and how it was estimated), peak memory per run. Time is FLOPs over
    a rate: the plan's timed steps of the experiment's own model on this machine where it has them, else finished
    runs of any model on this device, else an assumed rate."""
    runs = pd.DataFrame(plan["runs"])
    footprint = plan["info"]["footprint"]
    batch = plan["config"]["train"]["batch_size"]
    runs["flops"] = [r["total_steps"] * batch * footprint.get(r["strategy"], {}).get("flops_per_example", 0.0)
                     if r["strategy"] != "pretrain" else 0.0 for r in plan["runs"]]
    for search in {s.get("key", k): s for k, s in (plan["info"].get("lr_search") or {}).items()}.values():
        if search.get("continued_by"):  # its first steps are the winning search run's, counted there
            per_step = batch * footprint[search["label"]]["flops_per_example"]
            runs.loc[runs["id"] == search["continued_by"], "flops"] -= search["rung"] * per_step
    measured = measured_throughput(history, device_name)
    timed = plan["info"].get("timed_step") or {}
    if timed.get("flops_per_s"):  # this experiment's own model on this machine beats any other model's history
        rate = timed["flops_per_s"]
        how = (f"from timed training steps of this model ({timed['strategy']}, {timed['examples']} example"
               f"{'s' if timed['examples'] != 1 else ''} per step: {rate / 1e9:.1f} GFLOP/s on this machine)")
    elif measured:
        rate, how = measured, f"measured on earlier runs on this device ({measured / 1e9:.1f} GFLOP/s)"
    elif device_name and not device_name.startswith("cpu") and peak_flops_for(device_name):
        rate = GPU_MFU * peak_flops_for(device_name)
        how = f"assumed {GPU_MFU:.0%} of the {device_name} peak"
    else:
        rate, how = CPU_FLOPS, f"assumed {CPU_FLOPS / 1e9:.0f} GFLOP/s (a small CPU); finished runs refine this"
    runs["est_s"] = runs["flops"] / rate
    return {"runs": len(runs), "steps": int(runs["total_steps"].sum()), "flops": float(runs["flops"].sum()),
            "cost": search_words(plan["info"], rate),
            "est_s": float(runs["est_s"].sum()), "estimate_basis": how,
            "peak_mem_bytes": int(runs["mem_estimate"].max()) if "mem_estimate" in runs else None,
            "table": runs[["strategy", "n_train", "seed", "total_steps", "flops", "est_s"]
                          + (["mem_estimate"] if "mem_estimate" in runs else [])]}


def search_words(info: dict, rate: float | None = None) -> str:
    """The plan's cost split in words: the grid's training compute, the search's beyond the runs the grid keeps — at its
    first rungs, and at most if no rung can tell a strategy's rates apart (they then train on to the horizon; with
    `rate`, FLOP/s, in time too) — and the references' seconds."""
    cost = info.get("cost")
    if not cost:
        return ""
    searches = {s.get("key", k): s for k, s in (info.get("lr_search") or {}).items() if s["status"] == "planned"}.values()
    text = f"Training compute: the grid {human_flops(cost['grid_flops'])}"
    if searches:
        rungs: dict[tuple, list[str]] = {}
        for s in searches:
            rungs.setdefault((s["rung"], s["steps"]), []).append(s["label"])
        text += (f", the learning-rate search {human_flops(cost['search_flops'])} beyond the runs the grid keeps "
                 f"({cost['search_share']:.0%} of the grid): each candidate starts its strategy's grid run at "
                 f"N={next(iter(searches))['size']:,}, they are compared at "
                 + " or ".join(f"step {r} of {t} ({', '.join(labels)})" for (r, t), labels in sorted(rungs.items()))
                 + ", and the winner's run continues as that grid run")
        extra = cost.get("search_flops_max", 0.0) - cost["search_flops"]
        if extra > 0:
            when = f", about {human_seconds(extra / rate)} more" if rate else ""
            text += (f". Where a rung cannot tell a strategy's rates apart (none clearly above the trivial baseline, or "
                     f"all within one standard error) they train on to the next, ×3 up to the steps the winner trains, "
                     f"never choosing by noise — at most {human_flops(extra)} more ({extra / cost['grid_flops']:.0%} of "
                     f"the grid{when}) if no rung decides")
    elif info.get("lr_search"):
        text += ", no search runs (every searched rate is reused from a finished search)"
    if cost.get("reference_seconds"):
        text += f"; the classical references take about {human_seconds(cost['reference_seconds'])} of CPU"
    return text + "."


SMALL_SPLIT = 100
"""Fewer eval or validation examples than this measure a proportion to worse than ±0.1 (95%): too coarse to tell
strategies (or learning rates) apart, so the preflight says so before anything trains."""
RESOLVE = 0.025
"""The half-width the warning names the examples for: ±0.025 tells two strategies 0.05 apart."""


def _half_width(n: int) -> float:
    """95% half-width of a proportion near 0.5 measured on n examples (the widest it can be)."""
    return 1.96 * math.sqrt(0.25 / n)


def split_warnings(info: dict, metric: str, unit: str = "examples") -> list[str]:
    """Sentences for the preflight when the eval or validation split is too small to tell strategies apart (under
    SMALL_SPLIT examples). For a proportion (accuracy) they say by how much it is uncertain and how many examples
    would resolve ±RESOLVE; for other metrics (perplexity, ROUGE-L, RMSE) that depends on their spread, so they say
    only that so few examples make the comparison noise. `unit`: what an example is (conversations, rows…)."""
    d = info.get("data", {})
    need = math.ceil((1.96 * 0.5 / RESOLVE) ** 2)
    own_test = bool(d.get("eval_source"))
    out = []
    for rows, what, use in ((d.get("eval_rows", 0), "eval", "the strategies are scored on"),
                            (d.get("validation_rows", 0), "validation", "learning rates and checkpoints are chosen on")):
        if not 0 < rows < SMALL_SPLIT:
            continue
        if what == "eval":
            remedy = ("Add rows to your test set" if own_test else
                      "Add data, or upload a larger test set of your own (Your own test set), which is scored whole")
        else:
            remedy = ("Add data: validation is 10% of the training side (data.validation_fraction), up to 500 "
                      "(data.validation_max)")
        if metric == "accuracy":
            out.append(f"Only {rows:,} {what} {unit}: the accuracy {use} is uncertain by about "
                       f"±{_half_width(rows):.2f} (95%), so results closer than that overlap and tell nothing apart — "
                       f"about {need:,} {what} {unit} resolve ±{RESOLVE}. {remedy}; Compare will show the overlap "
                       "rather than a winner.")
        else:
            out.append(f"Only {rows:,} {what} {unit}: the {metric} {use} rests on so few that most differences between "
                       f"strategies will be noise. {remedy}; Compare will show the overlap rather than a winner.")
    return out


FIT_SECONDS = 15 * 60
"""The time a first experiment on one's own data should fit (issue 27: about 15 minutes on a CPU laptop)."""


def fit_to_time(config: dict, pool: int, table: pd.DataFrame,
                seconds: float = FIT_SECONDS) -> tuple[dict, str, bool] | None:
    """Changes to `config` that bring the plan whose runs are `table` (the preflight's: strategy, n_train, seed,
    total_steps, est_s) to about `seconds`, and what they are in words ("1 seed instead of 3; sizes 30, 300 instead of
    100, 1,000, all"); None when it fits already. First one seed (each seed repeats every run); then, under an epochs or
    FLOPs budget (steps grow with N), every size scaled down alike ("all" becomes a number), so each run still trains
    its full epochs and the comparison stays fair — each run's new steps predicted from its own (`budget.min_steps`
    is a floor no size goes under); under a steps budget, fewer steps per run (every strategy alike). Where even the
    smallest sizes do not fit, the words say so and what is left to change, and the flag (does it fit?) is False."""
    est = float(table["est_s"].sum())
    if est <= seconds * 1.1 or table.empty:
        return None
    seeds = len(config["seeds"])
    first = table[table["seed"] == table["seed"].min()] if seeds > 1 else table
    changes: dict = {"seeds": 1} if seeds > 1 else {}
    words = [f"1 seed instead of {seeds}"] if seeds > 1 else []
    left = float(first["est_s"].sum())
    b, batch = config["budget"], config["train"]["batch_size"]
    if left > seconds * 1.1 and b["policy"] == "steps":
        r = seconds / left
        steps = max(1, int(b["steps"] * r))
        changes["steps"] = steps
        words.append(f"{steps:,} steps per run instead of {b['steps']:,}")
    elif left > seconds * 1.1:
        per_step = (first["est_s"] / first["total_steps"].clip(lower=1)).to_numpy()
        epochs, floor = float(b.get("epochs", 3.0)), int(b.get("min_steps", 30))

        def base(n: float):
            return max(floor, math.ceil(epochs * n / batch))

        mult = [s / base(n) for s, n in zip(first["total_steps"], first["n_train"], strict=True)]

        def predicted(r: float) -> float:
            return float(sum(m * base(max(10, n * r)) * c for m, n, c in
                             zip(mult, first["n_train"], per_step, strict=True)))

        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if predicted(mid) <= seconds else (lo, mid)
        r = lo
        old = [pool if n == "all" else int(n) for n in config["sizes"]]
        if r <= 0 or predicted(r) > seconds * 1.1:
            floor_s = predicted(0.0)
            words.append(f"even at {10} examples per size every run trains at least {floor:,} steps: about "
                         f"{human_seconds(floor_s)}; leave out strategies or sizes, or use a GPU")
            return changes, "; ".join(words), False
        else:
            new = sorted({max(10, int(n * r)) for n in old})
            changes["sizes"] = new
            words.append("sizes " + ", ".join(f"{n:,}" for n in new) + " instead of "
                         + ", ".join(str(n) if n == "all" else f"{int(n):,}" for n in config["sizes"]))
    return changes, "; ".join(words), True
