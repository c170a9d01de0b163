"""Coverage of the decision's difference intervals (issue 40) on simulated experiments with known differences, over a
range of seed spreads — the assumed one (`stats.SEED_SPREAD`), none, and twice it — at 1, 3 and 5 seeds, for accuracy
and RMSE. The tests check the nominal cases (tests/test_interval_coverage.py); this prints the whole table, including
where an assumption fails (one seed whose true spread is larger than assumed).

    python bench/interval_coverage.py            # 400 replicates per cell (about 2 minutes on 2 cores)
    python bench/interval_coverage.py --reps 1000
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_interval_coverage import coverage  # noqa: E402  (the tests' simulated experiment, one definition)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=400)
    args = p.parse_args()
    print(f"{'metric':9} {'seed sd':>8} {'seeds':>5} {'coverage':>9} {'mean width':>11}")
    for metric, sigmas in (("accuracy", (0.0, 0.01, 0.02)), ("rmse", (0.0, 0.014, 0.03))):
        for sigma in sigmas:
            for seeds in (1, 3, 5):
                t = time.time()
                c, w = coverage(metric, seeds, sigma, args.reps, 0)
                print(f"{metric:9} {sigma:8.3f} {seeds:5d} {c:9.3f} {w:11.4f}   ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
