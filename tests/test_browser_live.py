"""Real browser: Live keeps track of an experiment as its runs finish — the picker's counts, each run's phase, the
experiment's ETA — and the Compare learning-curves x-axis control fits at 1280 px. The store is written directly
(nothing trains), so it takes seconds. Screenshots go to test-artifacts/."""
import os
import time

import pytest

from tests.browser_fixtures import ARTIFACTS, loaded, needs_chromium, shot
from tests.test_live import mid_run
from training.analysis.figures import X_AXES
from training.service.runner import acquire_lock
from training.service.store import Store

pytestmark = [pytest.mark.browser, needs_chromium]
VIEWPORT = {"width": 1280, "height": 800}


def _fit_whole(page, labels) -> None:
    """Each of these texts is shown whole inside the 1280 px viewport: not clipped, not covered."""
    for label in labels:
        element = page.get_by_text(label, exact=True).first
        box = element.bounding_box()
        assert element.is_visible() and box is not None and 0 <= box["x"] and box["x"] + box["width"] <= VIEWPORT["width"], (
            label, box)
        # Both ends of the text hit its own control (button or label), not a container that clips it.
        uncovered = element.evaluate("e => { const r = e.getBoundingClientRect(), y = r.y + r.height / 2;"
                                     " const control = e.closest('button, label') || e;"
                                     " return [r.x + 2, r.right - 2].map(x => document.elementFromPoint(x, y))"
                                     " .every(h => h !== null && control.contains(h)); }")
        assert uncovered, f"{label!r} is clipped or covered"


def _picker(page) -> str:
    return page.locator("[data-testid='stSelectbox'] input").first.input_value()


def test_live_tracks_phases_eta_and_the_picker_then_compare_x_axis_fits(static_app_server, browser):
    """A new user's watch at 1280×800: a run at 100% of its steps is evaluating (not "ETA 0 s"), the experiment's ETA
    is shown and said how it is computed, the picker follows runs finishing while the page stays open, and every
    control fits — on Compare the learning-curves x-axis offers "training FLOPs"."""
    url, store_root = static_app_server
    store = Store(store_root)
    lock = acquire_lock(store.root)  # stands in for a dispatcher: no page starts one to train the queued runs
    try:
        _check_live_then_compare(url, store, browser)
    finally:  # the server fixture kills the dispatcher named in the lock file: here, this process
        os.close(lock)
        (store.root / "dispatcher.lock").unlink()


def _check_live_then_compare(url, store, browser):
    exp, rewound = mid_run(store)
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{url}/Live?exp={exp}")
    loaded(page)
    page.wait_for_selector("text=Running now", timeout=30_000)
    assert "13/17 done, running" in _picker(page)
    progress = page.locator("[data-testid='stProgress']").first.inner_text()
    assert "experiment ETA ≈" in progress, progress
    body = page.inner_text("body")
    assert "full N=200 seed 0 — evaluating" in body and "lora N=200 seed 0 — training, 50%" in body
    assert "ETA 0 s" not in body and "divided by the 2 runs training at once" in body
    shot(page, "live-midrun.png")
    page.get_by_text("Cancel all", exact=True).scroll_into_view_if_needed()
    _fit_whole(page, ["Cancel run", "Cancel all", "Resume run"])
    page.get_by_text("training FLOPs", exact=True).first.scroll_into_view_if_needed()
    _fit_whole(page, X_AXES.values())
    page.screenshot(path=str(ARTIFACTS / "live-controls.png"))

    run_picker = page.locator("[data-testid='stSelectbox'] input").nth(1)
    run_picker.click()
    page.get_by_role("option", name="head N=200 seed 0 (queued)").click()
    page.wait_for_function("e => e.value == 'head N=200 seed 0 (queued)'", arg=run_picker.element_handle())
    store.update_run(rewound[3], status="running")  # the chosen run starts: its label follows
    page.wait_for_function("e => e.value.endsWith('(running)')", arg=run_picker.element_handle(), timeout=15_000)

    for run_id in rewound:  # every run finishes while the page is open
        store.update_run(run_id, status="done", ended_at=time.time())
    deadline = time.time() + 30
    while time.time() < deadline and "17/17 done" not in _picker(page):
        time.sleep(0.5)
    assert _picker(page).endswith("17/17 done"), _picker(page)  # no stale ", running"
    page.wait_for_selector("text=Running now", state="detached", timeout=10_000)

    page.goto(f"{url}/Compare?exp={exp}")
    loaded(page)
    page.wait_for_selector("[data-testid='stPlotlyChart']", timeout=60_000)
    page.get_by_role("heading", name="Learning curves").scroll_into_view_if_needed()  # scrolls the page, not the control
    _fit_whole(page, X_AXES.values())  # "training FLOPs" included, without scrolling sideways
    page.screenshot(path=str(ARTIFACTS / "compare-xaxis.png"))
