"""Benchmarks' tiny CPU modes run (smoke only: no timing assertions — ratios live in bench/RESULTS.md)."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["trainer_vs_loop.py", "lora_vs_full.py", "gpt2_mfu.py", "grid_packing.py", "page_render.py", "fair_cost.py",
           "optimizer_step.py"]


@pytest.fixture(scope="module")
def bench_runs(request):
    """Every selected script starts when the first of these tests runs, two at a time, the longest (grid_packing)
    first; each test then waits for its own. A tiny mode is mostly one process's start-up (imports, a tiny model) on
    one core, so on a 2-core host two side by side take the time of one. One OpenMP thread each: smoke runs, no
    timings, and no threads spinning against each other."""
    selected = {item.callspec.params["script"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pool = ThreadPoolExecutor(max_workers=2)
    runs = {script: pool.submit(subprocess.run, [sys.executable, str(ROOT / "bench" / script), "--tiny"], env=env,
                                capture_output=True, text=True, cwd=ROOT / "bench", timeout=900)
            for script in sorted(selected, key=lambda s: s != "grid_packing.py")}
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_tiny_mode_runs(script, bench_runs):
    out = bench_runs[script].result()
    assert out.returncode == 0, out.stderr[-3000:]
    assert "device:" in out.stdout
