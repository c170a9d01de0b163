"""Wall time of the `quick` preset from the command line, as a user runs it (a fresh store).

    python bench/quick_time.py            # prints seconds and the per-run table; target ≤ 180 s on 2 CPU cores
"""
import subprocess
import sys
import tempfile
import time


def main() -> None:
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
    print(f"quick preset wall time: {elapsed:.1f} s (target ≤ 180 s)")


if __name__ == "__main__":
    main()
