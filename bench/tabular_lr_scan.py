"""Tabular tasks: the references (gradient-boosted trees, linear) by training-set size, and a learning-rate scan of
the default MLP — the evidence behind the tabular defaults, on diamonds (what they were looked at on) and on
mpg and penguins (what they were not).

    .venv/bin/python bench/tabular_lr_scan.py                     # everything below, ~5 minutes on 2 CPU cores
    .venv/bin/python bench/tabular_lr_scan.py --skip-references --norms layer,batch,none --tables diamonds

Split: 80/10/10 at random (seed 0); a size N takes the first N rows of the shuffled training pool. References choose
their hyperparameters on the validation rows and are scored on the eval rows. The MLP runs are a plain Adam loop
(batch 64, fixed epochs, no schedule, no weight decay) on `prepare_run_parts` — not the app's loop — and report
validation scores only: the best epoch's and the last epoch's (a gap between them means the LR is unstable).
Results go to bench/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from training.tasks.tabular.data import BUILTIN_TABLES, load_tabular_table, prepare_run_parts
from training.tasks.tabular.model import MLPBlock, build_tabular_model
from training.tasks.tabular.references import REFERENCE_THREADS, gbdt_reference, linear_reference

LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
SCAN_SIZES = {"diamonds": (1000, 10000), "mpg": (None,), "penguins": (None,)}
"""Training rows per table in the LR scan (None: the whole training pool — mpg has 187 rows, penguins 275)."""
REFERENCE_SIZES = (100, 1000, 10000, None)


def split(n: int, seed: int = 0):
    p = np.random.default_rng(seed).permutation(n)
    return p[: int(0.8 * n)], p[int(0.8 * n): int(0.9 * n)], p[int(0.9 * n):]


def load(name: str):
    table = load_tabular_table(f"builtin:{name}", BUILTIN_TABLES[name][0])
    return table, *split(len(table))


def references(name: str) -> None:
    table, pool, val, evals = load(name)
    regression = table.task == "tabular-regression"
    y = table.target.astype(np.float64) if regression else np.searchsorted(table.label_names, table.target)
    print(f"\n## references on {name} ({len(table)} rows; validation {len(val)}, eval {len(evals)})\n")
    print("| reference | N | " + ("RMSE | MAE | R²" if regression else "accuracy | macro-F1 | log-loss")
          + " | chosen | fit s |\n|---|---|---|---|---|---|---|")
    for size in REFERENCE_SIZES:
        idx = pool[: size or len(pool)]
        if size and size > len(pool):
            continue
        parts = [(table.frame.iloc[i], y[i]) for i in (idx, val, evals)]
        for ref, fit in (("gbdt", gbdt_reference), ("linear", linear_reference)):
            start = time.perf_counter()
            with threadpool_limits(REFERENCE_THREADS):  # as `tabular_reference_rows` runs them
                out = fit(table, parts, table.label_names, table.task, 0)
            wall = time.perf_counter() - start
            keys = ("rmse", "mae", "r2") if regression else ("accuracy", "macro_f1", "loss")
            scores = " | ".join(f"{out[k]:.4g}" for k in keys)
            print(f"| {ref} | {len(idx)} | {scores} | {out['params']} | {wall:.1f} |", flush=True)


def set_norm(model, norm: str) -> None:
    """Swap the LayerNorm of every block (the default) for BatchNorm1d or nothing, for the comparison."""
    for block in model.backbone.blocks:
        assert isinstance(block, MLPBlock)
        width = block.linear.out_features
        block.norm = {"layer": block.norm, "batch": torch.nn.BatchNorm1d(width), "none": torch.nn.Identity()}[norm]


def train_mlp(train, val, info, n_outputs: int, lr: float, epochs: int, batch: int, seed: int, norm: str) -> dict:
    regression = n_outputs == 1
    model = build_tabular_model(info["n_features"], n_outputs, seed=seed)
    set_norm(model, norm)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cpu = torch.device("cpu")
    val_batch = val.collate(np.arange(len(val)), 0, cpu)
    history = []
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=g).numpy()
        for i in range(0, len(order) - 1, batch):  # a last batch of one would break BatchNorm: skipped
            idx = order[i:i + batch]
            if len(idx) < 2:
                continue
            b = train.collate(idx, 0, cpu)
            out = model(features=b["features"])
            loss = F.mse_loss(out, b["labels"]) if regression else F.cross_entropy(out, b["labels"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(features=val_batch["features"])
        if regression:
            mse = float(F.mse_loss(out, val_batch["labels"]))
            history.append({"rmse": math.sqrt(mse) * info["target_scale"] if math.isfinite(mse) else math.inf})
        else:
            history.append({"loss": float(F.cross_entropy(out, val_batch["labels"])),
                            "accuracy": float((out.argmax(-1) == val_batch["labels"]).float().mean())})
    key = "rmse" if regression else "loss"
    best = min(range(epochs), key=lambda e: history[e][key] if math.isfinite(history[e][key]) else math.inf)
    return {"best": history[best], "best_epoch": best + 1, "last": history[-1]}


def scan(name: str, norms: list[str], lrs, epochs: int, batch: int, seeds: list[int]) -> None:
    table, pool, val, evals = load(name)
    regression = table.task == "tabular-regression"
    n_outputs = 1 if regression else len(table.label_names)
    metric = "val RMSE" if regression else "val log-loss / accuracy"
    print(f"\n## MLP LR scan on {name}: width 256, depth 3, dropout 0.1, Adam, batch {batch}, {epochs} epochs\n")
    print(f"| N | norm | seed | lr | best {metric} | best epoch | last-epoch {metric} | s |\n|---|---|---|---|---|---|---|---|")
    for size in SCAN_SIZES[name]:
        idx = pool[: size or len(pool)]
        train, validation, _, info = prepare_run_parts(table, idx, val, evals, table.label_names, table.task)
        for norm in norms:
            for seed in seeds:
                for lr in lrs:
                    start = time.perf_counter()
                    r = train_mlp(train, validation, info, n_outputs, lr, epochs, batch, seed, norm)
                    wall = time.perf_counter() - start

                    def show(h):
                        return f"{h['rmse']:.4g}" if regression else f"{h['loss']:.3f} / {h['accuracy']:.3f}"

                    print(f"| {len(idx)} | {norm} | {seed} | {lr:g} | {show(r['best'])} | {r['best_epoch']} | "
                          f"{show(r['last'])} | {wall:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="diamonds,mpg,penguins")
    ap.add_argument("--norms", default="layer", help="comma list of layer, batch, none")
    ap.add_argument("--lrs", default=",".join(f"{x:g}" for x in LRS))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--skip-references", action="store_true")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 is far faster on cores shared with "
                    "another job: a step of this small MLP is mostly waiting at thread barriers)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tables = args.tables.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_references:
        for name in tables:
            references(name)
    for name in tables:
        scan(name, args.norms.split(","), [float(x) for x in args.lrs.split(",")], args.epochs, args.batch,
             [int(s) for s in args.seeds.split(",")])


if __name__ == "__main__":
    main()
