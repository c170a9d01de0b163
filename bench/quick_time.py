"""Wall time of the `quick` preset (8 runs on the built-in MiniLM), as a user runs it (a fresh store).

    python bench/quick_time.py                 # the CLI: `python -m training run quick` (one process, in order)
    python bench/quick_time.py --dispatcher    # as the app's "Launch the quick demo" runs it: the dispatcher,
                                               # one process per run, 1 slot and then 2 slots, side by side
    python bench/quick_time.py --dispatcher --preset sentiment-cpu --slots 2   # another preset
    python bench/quick_time.py --dispatcher --slots 2 --cold   # also a fresh interpreter per run (`worker --cold`),
                                               # timed right after the warm starter's run: their ratio

Prints seconds (targets on 2 idle CPU cores: ≤ 120 s through the dispatcher, ≤ 180 s with the CLI) and, for the
CLI, the per-run table.
"""
import argparse
import subprocess
import sys
import tempfile
import time


def cli() -> None:
    with tempfile.TemporaryDirectory() as store:
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "training", "run", "quick", "--store", store],
                             capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if run.returncode != 0:
            sys.exit(run.stderr[-3000:])
        exp_id = run.stdout.strip().splitlines()[-1]
        table = subprocess.run([sys.executable, "-m", "training", "export", exp_id, "--store", store],
                               capture_output=True, text=True, check=True).stdout
    print(table)
    print(f"quick preset wall time (CLI, one process): {elapsed:.1f} s (target ≤ 180 s)")


def dispatched(slots: int, preset: str = "quick", results: list | None = None, cold: bool = False) -> float:
    from training.presets import get_preset
    from training.service.planning import launch
    from training.service.store import Store

    with tempfile.TemporaryDirectory() as root:
        store = Store(root)
        exp = launch(get_preset(preset), store)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "training", "worker", "--store", root, "--devices", "cpu",
                        "--slots-per-device", str(slots), "--until-idle", *(["--cold"] if cold else [])],
                       check=True, capture_output=True)
        elapsed = time.perf_counter() - t0
        bad = [(r.strategy, r.n_train, r.status) for r in store.runs(exp) if r.status != "done"]
        if bad:
            sys.exit(f"runs not done with {slots} slot(s): {bad}")
        if results is not None:  # each grid run's final-model accuracy, and the references
            from training.analysis.report import analyse

            a = analyse(store, exp)
            results.append(a.verdict_table[["strategy", "n_train", "metric", "status"]])
        store.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dispatcher", action="store_true")
    ap.add_argument("--preset", default="quick", help="the preset to time (dispatcher only; default quick)")
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2], help="CPU slots to time, in turn")
    ap.add_argument("--cold", action="store_true", help="also time each slot count with a fresh interpreter per run")
    args = ap.parse_args()
    if not args.dispatcher:
        cli()
        return
    results: list = []
    walls = {slots: dispatched(slots, args.preset, results) for slots in args.slots}
    for slots, wall in walls.items():
        print(f"{args.preset} preset through the dispatcher, {slots} CPU slot(s): {wall:.1f} s (target ≤ 120 s)")
    if 1 in walls and 2 in walls:
        print(f"2 slots / 1 slot: {walls[2] / walls[1]:.2f}")
    if args.cold:
        for slots, wall in walls.items():
            cold = dispatched(slots, args.preset, cold=True)
            print(f"{args.preset} preset, {slots} slot(s), a fresh interpreter per run (--cold): {cold:.1f} s; "
                  f"warm starter / cold: {wall / cold:.2f}")
    print(results[-1].to_string(index=False))


if __name__ == "__main__":
    main()
