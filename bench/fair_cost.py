"""Does the cheap learning-rate search choose as well as the full one, and what does a fair experiment cost against the
same grid at fixed rates? Measured side by side in one process.

    python bench/fair_cost.py tweets        # builtin:tweet-sentiment, MiniLM at length 64 (a newcomer's first experiment)
    python bench/fair_cost.py docstrings    # builtin:stdlib-docstrings, MiniLM at length 32
    python bench/fair_cost.py digits        # scikit-learn's 8×8 digits as a folder of class sub-folders, EfficientNet-Lite0
                                            # at 32×32 — tuned nothing: no default was chosen on it
    python bench/fair_cost.py docstrings --table   # the latest record as RESULTS.md's table (runs nothing)

Each dataset: 4 strategies (scratch, full, LoRA, head) × 2 sizes × seed 0, everything else at its default. In turn:
1. **fair**: the experiment at the defaults — the successive-halving search (every candidate rate starts the grid run at
   the search size, the best validation metric at the rung wins and continues as that grid run) and scratch trained
   until a plateau. Timed from launch to its last run.
2. **fixed**: the same grid at each strategy's default rate, fixed budgets, no search, no plateau. Timed the same way.
3. **full search**: every candidate the cheap search stopped at its rung, trained to the end of its grid run (the loop
   is deterministic: this is the run it would have been). The full search applies the search's rule (`lr_search.judge`:
   the best validation reading, within one standard error a tie the loss breaks) to the whole runs; the cheap search
   applied it up to the rung.
For each strategy it prints the candidates, both choices, their eval metrics (each run's final model, as Compare shows
it), the paired standard error of their difference and the full search's own standard error, and appends the whole
record to bench/fair_cost.json. Timings are wall seconds on this machine; take them alone.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import environment

from training.analysis.report import analyse
from training.config import BudgetConfig, DataConfig, ExperimentConfig, ModelConfig, StrategyConfig, TrainConfig
from training.service import lr_search
from training.service.execution import run_experiment
from training.service.store import Store
from training.tasks import task_kind

OUT = Path(__file__).with_name("fair_cost.json")
STRATEGIES = ["scratch", "full", "lora", "head"]


def tweets(_: Path) -> ExperimentConfig:
    return ExperimentConfig(name="fair-cost tweets", task="text-classification",
                            data=DataConfig(source="builtin:tweet-sentiment"),
                            model=ModelConfig(base="builtin:minilm-l6", max_length=64),
                            strategies=[StrategyConfig(s) for s in STRATEGIES], sizes=[100, 1000], seeds=[0])


def docstrings(_: Path) -> ExperimentConfig:
    cfg = tweets(_)
    cfg.name, cfg.data = "fair-cost docstrings", DataConfig(source="builtin:stdlib-docstrings")
    cfg.model = ModelConfig(base="builtin:minilm-l6", max_length=32)
    return cfg


def digits(work: Path) -> ExperimentConfig:
    """scikit-learn's 1,797 8×8 digits written as PNGs in one sub-folder per class (what a user uploads)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    root = work / "digits"
    d = load_digits()
    for i, (img, y) in enumerate(zip(d.images, d.target, strict=True)):
        folder = root / str(y)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    return ExperimentConfig(name="fair-cost digits", task="image-classification",
                            data=DataConfig(source=str(root), eval_max=500, validation_max=200),
                            model=ModelConfig(base="builtin:efficientnet-lite0", image_size=32),
                            strategies=[StrategyConfig(s) for s in STRATEGIES], sizes=[100, 500], seeds=[0],
                            budget=BudgetConfig(policy="epochs", epochs=2, min_steps=20),
                            train=TrainConfig(batch_size=16, evals_per_run=4))


def tiny(work: Path) -> ExperimentConfig:
    """A smoke run on a tiny BERT made from a config and a synthetic topic table (`--tiny`; nothing is appended)."""
    import pandas as pd

    from training.testing import make_tiny_bert, tiny_classification_config, topic_rows

    pd.DataFrame(topic_rows(240)).to_csv(work / "topics.csv", index=False)
    cfg = tiny_classification_config(make_tiny_bert(work / "bert"), work / "topics.csv", strategies=STRATEGIES,
                                     sizes=[40, 80], probes=[], budget=BudgetConfig(policy="steps", steps=10))
    cfg.lr_sweep = ExperimentConfig(name="x").lr_sweep
    return cfg


DATASETS = {"tweets": tweets, "docstrings": docstrings, "digits": digits, "tiny": tiny}


def timed(cfg: ExperimentConfig, store: Store) -> tuple[str, float]:
    t0 = time.perf_counter()
    exp = run_experiment(cfg, store)
    return exp, time.perf_counter() - t0


def final_validation(store: Store, run_id: str, metric: str, higher: bool) -> tuple[float, float]:
    """The search's reading over a whole run: the best validation value of the metric it reached, and the validation
    loss at that evaluation (the loss breaks ties, as at the rung)."""
    by_step: dict[int, dict] = {}
    for m in store.metrics([run_id]):
        if m["key"] in (f"val/{metric}", "val/loss"):
            by_step.setdefault(m["step"], {})[m["key"]] = m["value"]
    rows = [(v[f"val/{metric}"], v["val/loss"]) for v in by_step.values() if len(v) == 2]
    return min(rows, key=lambda r: ((-r[0] if higher else r[0]), r[1]))


def correct(items: dict) -> np.ndarray:
    return (np.asarray(items["y_true"]) == np.asarray(items["y_pred"])).astype(float)


def table(record: dict) -> str:
    """One record of bench/fair_cost.json as the Markdown table bench/RESULTS.md shows: per strategy the rung, each
    candidate's best validation reading by the rung → over its whole run (its eval metric), both choices, Δ and SEs."""
    out = ["| strategy | rung | candidates | cheap | full | Δ | paired SE | full's SE |", "|---|---|---|---|---|---|---|---|"]
    for label, r in record["strategies"].items():
        def num(v):
            return "—" if v is None else f"{v:.3f}"
        cands = ", ".join(f"{c['lr']:.2g}: {num(c['val_metric'])} → {num(c['final_val'])} ({num(c['eval'])})"
                          for c in r["candidates"])
        out.append(f"| {label} | {r['rung']}/{r['steps']} | {cands} | {r['cheap_lr']:.2g} ({r['cheap_eval']:.3f}) | "
                   f"{r['full_lr']:.2g} ({r['full_eval']:.3f}) | {r['difference']:+.3f} | {r['paired_se']:.3f} | "
                   f"{r['full_se']:.3f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=DATASETS, nargs="?", default="tiny")
    ap.add_argument("--tiny", action="store_true", help="the smoke run (the tiny dataset, nothing appended)")
    ap.add_argument("--store", default=None, help="store directory (default: a temporary one)")
    ap.add_argument("--table", action="store_true", help="print the dataset's latest record in bench/fair_cost.json as "
                                                         "RESULTS.md's table, and run nothing")
    args = ap.parse_args()
    if args.table:
        record = [r for r in json.loads(OUT.read_text()) if r["dataset"] == args.dataset][-1]
        print(f"{record['dataset']} ({record['date']}): fair {record['fair_s']:.0f} s, fixed {record['fixed_s']:.0f} s, "
              f"ratio {record['ratio']:.2f}, search share {record['cost']['search_share']:.3f}")
        print(table(record))
        return
    if args.tiny:
        args.dataset = "tiny"
    print(environment(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = Store(args.store or work / "store")
        cfg = DATASETS[args.dataset](work)
        cfg.lr_sweep.reuse = False
        fair, fair_s = timed(cfg, store)
        fixed_cfg = ExperimentConfig.from_dict({**cfg.to_dict(), "name": cfg.name + " (fixed rates)", "lr_sweep": None})
        for s in fixed_cfg.strategies:
            s.until_plateau = False
        fixed, fixed_s = timed(fixed_cfg, store)
        a = analyse(store, fair)
        metric, info = a.metric, store.experiment(fair).info
        plan_cost = info["cost"]
        grid = {(r.strategy, r.n_train): r for r in store.runs(fair) if r.role == "grid"}
        final = a.runs.set_index(["strategy", "n_train"])
        out = {"dataset": args.dataset, "date": time.strftime("%Y-%m-%d"), "fair_s": fair_s, "fixed_s": fixed_s,
               "ratio": fair_s / fixed_s, "cost": plan_cost, "strategies": {}}
        print(f"{args.dataset}: fair experiment {fair_s:.0f} s, fixed-rate grid {fixed_s:.0f} s, ratio {fair_s / fixed_s:.2f}; "
              f"planned search share {plan_cost['search_share']:.3f}", flush=True)
        for label, search in info["lr_search"].items():
            size, seed = search["size"], search["seed"]
            sc = next(s for s in cfg.strategies if s.label == label)
            candidates = []
            for t in lr_search.search_table(store, fair, label):
                if t["lr"] == grid[label, size].lr:  # the winner: its finished run is the fair experiment's grid run
                    run_id, row = grid[label, size].id, final.loc[(label, size)]
                elif t["diverged"] or t["status"] != "done":
                    candidates.append({**t, "final_val": None, "eval": None})
                    continue
                else:
                    one = ExperimentConfig.from_dict({**cfg.to_dict(), "name": f"{cfg.name} {label} at {t['lr']:g}",
                                                      "lr_sweep": None, "references": False, "sizes": [size],
                                                      "seeds": [seed],
                                                      "strategies": [{**sc.__dict__, "lr": t["lr"]}]})
                    exp = run_experiment(one, store)
                    b = analyse(store, exp)
                    run_id, row = b.runs["run_id"].iloc[0], b.runs.iloc[0]
                best, loss = final_validation(store, run_id, metric, a.higher_is_better)
                candidates.append({**t, "run_id": run_id, "final_val": best, "final_val_loss": loss,
                                   "eval": float(row[f"eval_{metric}"]),
                                   "items": row["best_items"] if row["checkpoint"] == "best" else row["eval_items"]})
            done = [c for c in candidates if c["final_val"] is not None]
            full_lr = lr_search.choose([{**c, "val_metric": c["final_val"], "val_loss": c["final_val_loss"]} for c in done],
                                       **lr_search.rule(task_kind(cfg.task)))  # the same rule over whole runs
            full = next(c for c in done if c["lr"] == full_lr)
            cheap = next(c for c in done if c["lr"] == grid[label, size].lr)
            diff = correct(cheap["items"]) - correct(full["items"])
            n = len(diff)
            paired_se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
            full_se = math.sqrt(full["eval"] * (1 - full["eval"]) / n)
            rec = {"size": size, "rung": search.get("rung"), "steps": search["steps"],
                   "candidates": [{k: c.get(k) for k in ("lr", "steps", "val_metric", "val_loss", "val_n", "diverged",
                                                         "final_val", "final_val_loss", "eval")} for c in candidates],
                   "cheap_lr": cheap["lr"], "cheap_eval": cheap["eval"], "full_lr": full["lr"], "full_eval": full["eval"],
                   "difference": cheap["eval"] - full["eval"], "paired_se": paired_se, "full_se": full_se,
                   "within_one_se": abs(cheap["eval"] - full["eval"]) <= full_se}
            out["strategies"][label] = rec
            print(f"  {label:8} rung {rec['rung']}/{rec['steps']}: " + ", ".join(
                f"{c['lr']:.2g} (rung {c['val_metric'] if c['val_metric'] is None else round(c['val_metric'], 3)}, "
                f"end val {c['final_val'] if c['final_val'] is None else round(c['final_val'], 3)}, "
                f"eval {c['eval'] if c['eval'] is None else round(c['eval'], 3)})" for c in candidates)
                + f" → cheap {cheap['lr']:.2g} {cheap['eval']:.3f}, full {full['lr']:.2g} {full['eval']:.3f}, "
                  f"Δ {rec['difference']:+.3f} (paired SE {paired_se:.3f}, full's SE {full_se:.3f})", flush=True)
        out["eval_examples"] = int(a.runs["eval_examples"].iloc[0])
        if args.dataset != "tiny":
            results = json.loads(OUT.read_text()) if OUT.exists() else []
            OUT.write_text(json.dumps(results + [out], indent=1) + "\n")
            print(f"appended to {OUT}")
        store.close()


if __name__ == "__main__":
    sys.exit(main())
