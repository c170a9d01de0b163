"""Learning-rate sweep per strategy on a built-in preset — the evidence behind each strategy's default LR.

    python bench/lr_sweep.py --store /tmp/lr-sweep                      # default grid, N=300, 1 seed
    python bench/lr_sweep.py --strategies full,lora --n 100 --seeds 0,1

Every (strategy, LR) is its own one-run experiment on the same data, split and budget; the table
prints eval accuracy, macro-F1 and loss at the end of training. Results go to bench/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse

from training.analysis.results import run_rows
from training.config import BudgetConfig, ProbeConfig, StrategyConfig, TrainConfig
from training.presets import get_preset
from training.service.execution import run_experiment
from training.service.store import Store

GRID = {
    "scratch": [1e-4, 3e-4, 1e-3, 3e-3],
    "full": [1e-5, 3e-5, 1e-4, 3e-4],
    "lora": [1e-4, 3e-4, 1e-3, 3e-3],
    "head": [1e-3, 3e-3, 1e-2, 3e-2],
    "freeze": [3e-5, 1e-4, 3e-4, 1e-3],
    "discriminative": [3e-5, 1e-4, 3e-4, 1e-3],
    "lp-ft": [1e-5, 3e-5, 1e-4, 3e-4],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--preset", default="docstrings")
    ap.add_argument("--strategies", default=",".join(GRID))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--eval-max", type=int, default=300)
    ap.add_argument("--lrs", default=None, help="comma-separated LRs instead of the strategy's default grid")
    args = ap.parse_args()
    store = Store(args.store)
    print(f"N={args.n}, {args.epochs:g} epochs, batch {args.batch_size}, max length {args.max_length}")
    print("| strategy | lr | seed | accuracy | macro-F1 | eval loss | steps | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.strategies.split(","):
        for lr in [float(x) for x in args.lrs.split(",")] if args.lrs else GRID[name]:
            cfg = get_preset(args.preset)
            cfg.name = f"lr-sweep {name} {lr:g}"
            cfg.strategies = [StrategyConfig(name, lr=lr)]
            cfg.sizes = [args.n]
            cfg.seeds = [int(s) for s in args.seeds.split(",")]
            cfg.model.max_length = args.max_length
            cfg.data.eval_max = args.eval_max
            cfg.budget = BudgetConfig(policy="epochs", epochs=args.epochs, min_steps=20)
            cfg.train = TrainConfig(batch_size=args.batch_size, evals_per_run=1, eval_at_start=False)
            cfg.probes = [ProbeConfig(kind="none")]
            exp_id = run_experiment(cfg, store)
            for r in run_rows(store, exp_id):
                print(f"| {name} | {lr:g} | {r['seed']} | {r['eval_metric'] or float('nan'):.3f} | "
                      f"{r['eval_macro_f1'] or float('nan'):.3f} | {r['eval_loss'] or float('nan'):.3f} | "
                      f"{r['steps']} | {r['wall_s'] or 0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
