"""Benchmarks' tiny CPU modes run (smoke only: no timing assertions — ratios live in bench/RESULTS.md)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("script", ["trainer_vs_loop.py", "lora_vs_full.py", "gpt2_mfu.py", "grid_packing.py", "page_render.py"])
def test_bench_tiny_mode_runs(script):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--tiny"], capture_output=True, text=True,
                         cwd=ROOT / "bench", timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "device:" in out.stdout
