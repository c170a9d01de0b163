"""A wide upload in a real browser: the New experiment page with a 10,000-column CSV, first read and then re-run.

    python bench/wide_upload.py [--columns 10000] [--rows 200]

The attack that prompted it (issue 28): a 10,000-column CSV cost ~144 s of a core on every rerun of New experiment,
because the upload was read, summarised and typed again each time any control changed. It prints the seconds from
the upload to a settled page, then the median of three reruns (the experiment name changed), and their ratio:
a rerun should cost a small fraction of the first read. Server and Chromium share this machine; the ratio, taken
in one run, is the figure.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def wide_csv(columns: int, rows: int) -> bytes:
    import numpy as np

    rng = np.random.default_rng(0)
    out = io.StringIO()
    out.write("text,label," + ",".join(f"f{i}" for i in range(columns - 2)) + "\n")
    values = rng.integers(0, 100, size=(rows, columns - 2))
    for r in range(rows):
        out.write(f"row {r} says something,{'ab'[r % 2]}," + ",".join(map(str, values[r])) + "\n")
    return out.getvalue().encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--columns", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=200)
    args = ap.parse_args()
    from tests.browser_fixtures import launch_chromium, loaded, serve

    raw = wide_csv(args.columns, args.rows)
    server = serve(Path(tempfile.mkdtemp()))
    url, _ = next(server)
    chromium = launch_chromium()
    browser = next(chromium)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/New_experiment")
        loaded(page)
        page.get_by_text("My own data and model").click()
        loaded(page)
        uploader = page.get_by_test_id("stFileUploader").first
        with page.expect_file_chooser() as chooser:
            uploader.locator("button").first.click()
        t0 = time.perf_counter()
        chooser.value.set_files({"name": "wide.csv", "mimeType": "text/csv", "buffer": raw})
        page.get_by_role("combobox", name="Text column").wait_for(timeout=600_000)  # drawn after the summary
        loaded(page, timeout=600_000)
        first = time.perf_counter() - t0
        reruns = []
        for i in range(3):
            box = page.get_by_label("Experiment name", exact=True)
            box.fill(f"wide {i}")
            t0 = time.perf_counter()
            box.press("Enter")
            try:  # a fast rerun may be over before it is seen running
                page.wait_for_selector("[data-test-script-state='running']", timeout=5_000)
            except Exception:  # noqa: BLE001
                pass
            loaded(page, timeout=600_000)
            reruns.append(time.perf_counter() - t0)
        rerun = statistics.median(reruns)
        print(f"{args.columns:,} columns × {args.rows} rows ({len(raw) / 1e6:.1f} MB): upload to settled page {first:.1f} s; "
              f"rerun after a control changes {rerun:.2f} s (median of {', '.join(f'{r:.2f}' for r in reruns)}); "
              f"rerun / first = {rerun / first:.3f}")
    finally:
        next(chromium, None)
        next(server, None)


if __name__ == "__main__":
    main()
