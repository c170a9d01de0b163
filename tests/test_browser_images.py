"""Issue 15 in a real browser: an image experiment from an uploaded zip of class folders — the page shows the
classes, their counts and a picture of each, plans with the built-in EfficientNet-Lite0, launches, and the runs
show on Live and then on Compare with the pixels reference beside them."""
import io
import time
import zipfile
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, _loaded, _shot, app_server, browser  # noqa: F401
from tests.test_browser_upload import _upload
from training.service.store import Store
from training.testing import make_image_folder

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (.ci/run installs it)")]


def _zip_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.rglob("*.png")):
            zf.write(f, "shapes/" + str(f.relative_to(folder)))
    return buf.getvalue()


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    _loaded(page)


def test_an_uploaded_zip_of_class_folders_runs_and_shows_on_live_and_compare(app_server, browser, tmp_path):  # noqa: F811
    url, store_root = app_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/New_experiment")
    _loaded(page)
    page.get_by_text("My own data and model").click()
    _loaded(page)
    page.get_by_text("Image classification").click()
    _loaded(page)

    _upload(page, "shapes.zip", _zip_of(make_image_folder(tmp_path / "shapes", per_class=20)), "application/zip")
    page.wait_for_selector("text=40 images in 2 classes", timeout=60_000)
    _loaded(page)
    body = page.inner_text("body")
    assert "circle" in body and "square" in body
    assert page.get_by_test_id("stImage").count() == 2  # one picture per class
    assert not page.get_by_test_id("stAlertContentError").count()
    assert "Built-in EfficientNet-Lite0" in body and "qlora — 4-bit quantisation" in body

    _fill(page, "Image size (pixels)", "32")
    _fill(page, "Training-set sizes", "16")
    page.get_by_label("Seeds", exact=True).last.fill("1")
    page.get_by_label("Seeds", exact=True).last.press("Enter")
    _loaded(page)
    page.get_by_text("Search each strategy's learning rate").click()  # off: fixed rates keep this test short
    _loaded(page)
    page.get_by_text("steps", exact=True).click()
    _loaded(page)
    _fill(page, "Steps per run", "6")
    page.get_by_role("button", name="Check and estimate").click()
    page.wait_for_selector("text=Estimated training time", timeout=180_000)
    _loaded(page)
    assert not page.get_by_test_id("stAlertContentError").count(), page.get_by_test_id("stAlertContentError").first.inner_text()
    _shot(page, "new-experiment-images.png")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/Live", timeout=120_000)
    _loaded(page)
    page.wait_for_selector("[data-testid='stProgress']", timeout=60_000)

    store = Store(store_root)
    exp = store.experiments()[0]
    assert exp.config.task == "image-classification"
    deadline = time.time() + 400
    while time.time() < deadline and any(r.status in ("queued", "running") for r in store.runs(exp.id)):
        time.sleep(2)
    runs = store.runs(exp.id)
    assert all(r.status == "done" for r in runs), [(r.strategy, r.status, r.error) for r in runs]
    page.reload()
    _loaded(page)
    page.wait_for_selector("text=runs done", timeout=60_000)
    _shot(page, "live-images.png")

    page.goto(f"{url}/Compare")
    _loaded(page)
    page.wait_for_selector("[data-testid='stPlotlyChart']", timeout=120_000)
    page.wait_for_timeout(1500)
    body = page.inner_text("body")
    assert "pixels + logistic regression" in body and "Verdict" in body
    assert "Rethinking ImageNet Pre-training" in body  # the literature for images under the data-needs chart
    _shot(page, "compare-images.png")
