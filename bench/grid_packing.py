"""(d) A whole grid's wall time, runs one after another vs packed K at a time on one device (slots).

    python bench/grid_packing.py                      # the docstrings preset (4 strategies × 4 sizes × 3 seeds)
    python bench/grid_packing.py --slots 4 --seeds 1  # fewer runs
    python bench/grid_packing.py --tiny               # a tiny-model grid on CPU (CI smoke)

Each run is a worker process (start-up included, as in the app). The dispatcher's slots let small runs
share a GPU when their preflight memory estimates fit.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import device, environment, tiny_base

from training.config import BudgetConfig, ProbeConfig, SpeedConfig, StrategyConfig, TrainConfig
from training.presets import get_preset
from training.service.planning import launch
from training.service.runner import Dispatcher
from training.service.store import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    cfg = get_preset("docstrings")
    if args.tiny:
        cfg.model.base = str(tiny_base(tmp))
        cfg.strategies = [StrategyConfig("full"), StrategyConfig("head")]
        cfg.sizes, cfg.seeds = [32], [0]
        cfg.data.eval_max = 64
        args.slots = min(args.slots, 2)
        cfg.budget = BudgetConfig(policy="steps", steps=5)
        cfg.train = TrainConfig(batch_size=8, evals_per_run=1)
        cfg.probes = [ProbeConfig(kind="none")]
        cfg.speed = SpeedConfig(num_threads=1)
        cfg.lr_sweep, cfg.references = None, False  # the smoke times packing, not the search
    if args.seeds:
        cfg.seeds = list(range(args.seeds))
    dev = "cuda:0" if device().type == "cuda" else "cpu"
    print(environment())
    walls = {}
    for slots in (1, args.slots):
        store = Store(tmp / f"store{slots}")
        exp = launch(cfg, store)
        t0 = time.perf_counter()
        Dispatcher(store.root, devices=[dev], slots_per_device=slots, poll_s=0.2).serve(until_idle=True)
        walls[slots] = time.perf_counter() - t0
        done = sum(r.status == "done" for r in store.runs(exp))
        print(f"{slots} slot(s): {len(store.runs(exp))} runs ({done} done) in {walls[slots]:.0f} s")
    print(f"packed / sequential wall time: {walls[args.slots] / walls[1]:.2f} "
          f"(the default grid's target: ≤ 10 minutes on one H100)")


if __name__ == "__main__":
    main()
