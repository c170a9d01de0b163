"""Issue 15 in a real browser: an image experiment from an uploaded zip of class folders — the page shows the
classes, their counts and a picture of each, plans with the built-in EfficientNet-Lite0, launches, and the runs
show on Live and then on Compare with the pixels reference beside them."""
import io
import zipfile
from pathlib import Path

import pytest

from tests import test_browser_upload as upload
from tests.browser_fixtures import loaded, needs_chromium, shot
from training.testing import make_image_folder

pytestmark = [pytest.mark.browser, needs_chromium]


def _zip_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.rglob("*.png")):
            zf.write(f, "shapes/" + str(f.relative_to(folder)))
    return buf.getvalue()


def test_an_uploaded_zip_of_class_folders_runs_and_shows_on_live_and_compare(app_server, browser, tmp_path):
    url, store_root = app_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    upload._new_experiment(page, url, "Image classification")

    upload._upload(page, "shapes.zip", _zip_of(make_image_folder(tmp_path / "shapes", per_class=20)), "application/zip")
    page.wait_for_selector("text=40 images in 2 classes", timeout=60_000)
    loaded(page)
    # the classes' names and pictures render after the summary line: wait for them rather than read them mid-render
    # (CI read the body before "circle" was there, once in four runs)
    for name in ("circle", "square", "Built-in EfficientNet-Lite0", "qlora — 4-bit quantisation"):
        page.get_by_text(name).first.wait_for(state="attached", timeout=60_000)
    page.wait_for_function("document.querySelectorAll(\"[data-testid='stImage']\").length >= 2", timeout=60_000)
    body = page.inner_text("body")
    assert "circle" in body and "square" in body
    assert page.get_by_test_id("stImage").count() == 2  # one picture per class
    assert not page.get_by_test_id("stAlertContentError").count()
    assert "Built-in EfficientNet-Lite0" in body and "qlora — 4-bit quantisation" in body

    upload._only_strategies(page, ["scratch", "head"], defaults=["scratch", "own", "full", "lora", "head"])
    upload._fill(page, "Image size (pixels)", "32")
    upload._short_grid(page, "16", "6")
    upload._launch_and_finish(page, store_root, "image-classification", timeout=400, screenshot="new-experiment-images.png",
                       preflight_says=("Images are trained at 32 px, while the pretrained model learned its features "
                                       "on 224-px images",))
    shot(page, "live-images.png")

    body = upload._compare_text(page, url)
    assert "pixels + logistic regression" in body and "Verdict" in body
    assert "Rethinking ImageNet Pre-training" in body  # the literature for images under the data-needs chart
    shot(page, "compare-images.png")

    # Try it: the uploaded picture is shown as itself with the user's file name (it showed the server's path)
    picture = next((tmp_path / "shapes" / "circle").glob("*.png"))
    page.goto(f"{url}/Try_it")
    loaded(page)
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploader").first.locator("button").first.click()
    chooser.value.set_files({"name": "my circle.png", "mimeType": "image/png", "buffer": picture.read_bytes()})
    page.locator("[data-testid='stFileChipName'][title='my circle.png']").wait_for(timeout=30_000)
    page.get_by_role("button", name="Ask every model").click()
    page.wait_for_selector("text=Answered in", timeout=240_000)
    loaded(page)
    page.get_by_test_id("stMarkdown").filter(has_text="Input: my circle.png").first.wait_for(timeout=60_000)
    page.wait_for_function("document.querySelectorAll(\"[data-testid='stImage']\").length >= 1", timeout=60_000)
    body = page.inner_text("body")
    assert "uploads" not in body and str(store_root) not in body, body
    page.get_by_test_id("stImage").first.scroll_into_view_if_needed()
    shot(page, "try-it-image.png")
