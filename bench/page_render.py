"""Page render time with 100 runs in the store (target: ≤ 2 s per page).

    python bench/page_render.py           # 4 strategies × 5 sizes × 5 seeds = 100 finished runs
    python bench/page_render.py --tiny    # 16 runs (CI smoke)

Each page runs under Streamlit's AppTest (the script as the server runs it, no browser): the first render
(cold caches) and the median of three warm re-renders. Browser paint time is not included.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAGES = ["app.py", "pages/2_Live.py", "pages/3_Compare.py", "pages/4_Report.py", "pages/5_Runs.py"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["HEADSTART_STORE"] = str(tmp / "store")
    from streamlit.testing.v1 import AppTest

    from training.service.store import Store
    from training.testing import make_finished_experiment

    store = Store(tmp / "store")
    seeds, sizes = ((0, 1), (50, 200)) if args.tiny else ((0, 1, 2, 3, 4), (50, 100, 200, 400, 800))
    exp = make_finished_experiment(store, seeds=seeds, sizes=sizes)
    print(f"device: this machine's CPU; store with {len(store.runs(exp))} finished runs")
    for page in PAGES:
        times = []
        for _ in range(1 if args.tiny else 4):
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            at.session_state["exp_id"] = exp
            at.run()
            t0 = time.perf_counter()
            if page != "app.py":
                at.switch_page(page).run()
            else:
                at.run()
            times.append(time.perf_counter() - t0)
            assert not at.exception, at.exception
        warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
        print(f"{page:22} first {times[0]:5.2f} s, warm median {warm:5.2f} s (target ≤ 2 s)")


if __name__ == "__main__":
    main()
