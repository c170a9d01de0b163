"""Compare answers the question at the top — a recommendation per training-set size in plain words, with
"partial results" while runs go — and a team turns the experiment into a decision record there: question,
constraints, comments, sign-off; the Report page carries it. (Issue 14, problems 3 and 5, decision reviews.)"""
import os
import re

import pytest

from tests.browser_fixtures import loaded, needs_chromium, shot
from training.service.bundle import export_bundle, import_bundle, read_bundle, write_bundle
from training.service.records import Status
from training.service.runner import acquire_lock
from training.service.store import Store
from training.testing import make_finished_experiment

pytestmark = [pytest.mark.browser, needs_chromium]


def test_compare_recommends_then_a_team_records_comments_and_signs_a_decision(static_app_server, browser):
    url, store_root = static_app_server
    store = Store(store_root)
    exp = make_finished_experiment(store, name="tickets")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{url}/Compare?exp={exp}")  # the shareable link
    loaded(page)
    rec = page.locator(".st-key-cmp_recommendation")
    rec.wait_for(timeout=60_000)
    text = rec.inner_text()
    assert re.search(r"N=800: use (full|LoRA) fine-tuning", text), text  # plain words, not "N=800 → full"
    assert "95% CI" in text and "Below the best" in text and "training from scratch" in text and "How sure" in text
    assert "Partial results" not in text
    shot(page, "compare-recommendation.png")

    box = page.locator(".st-key-cmp_decision")
    box.get_by_text("Start a decision record").click()
    box.get_by_label("Question").fill("Fine-tune or train our own ticket classifier?")
    box.get_by_label("Minimum accuracy").fill("0.3")
    box.get_by_label("Labelled examples you have").fill("300")
    box.get_by_role("button", name="Save decision record").click()
    page.wait_for_selector("text=Not signed off yet", timeout=30_000)
    box = page.locator(".st-key-cmp_decision")
    assert "At N=200" in box.inner_text() and "meets every constraint" in box.inner_text()
    # A comment is signed: with no name typed it cannot be sent (it used to be signed "local").
    assert box.get_by_role("button", name="Add comment").is_disabled()
    assert "Write your name under Your name first" in box.inner_text()
    signer = box.get_by_role("textbox", name="Your name")
    signer.fill("Grace")
    signer.press("Enter")  # a text box reaches the app on Enter; the Sign off button is enabled once a name is there
    page.wait_for_selector(".st-key-cmp_decision button:has-text('Sign off'):not([disabled])", timeout=30_000)
    box.get_by_label("Comment").fill("Is N=200 what we will have by March?")
    box.get_by_role("button", name="Add comment").click()
    page.wait_for_selector("text=Is N=200 what we will have by March?", timeout=30_000)
    box.get_by_role("button", name="Sign off", exact=True).click()
    page.wait_for_selector("text=Signed off by", timeout=30_000)
    assert f"?exp={exp}" in page.locator(".st-key-cmp_decision").inner_text()  # the link to share
    shot(page, "compare-decision-record.png")
    d = store.decision(exp)
    assert d.signoff_by == "Grace" and [(c.author, c.body) for c in d.comments] == [
        ("Grace", "Is N=200 what we will have by March?")]
    # the record made in the app travels in the experiment's bundle, comments and sign-off intact
    path = store_root.parent / "tickets.json.gz"
    write_bundle(export_bundle(store, exp), path)
    elsewhere = Store(store_root.parent / "elsewhere")
    copy = elsewhere.decision(import_bundle(elsewhere, read_bundle(path)))
    assert (copy.question, copy.constraints, copy.signoff_by, copy.signed) == (d.question, d.constraints, "Grace",
                                                                                d.signed)
    assert [(c.author, c.body, c.at) for c in copy.comments] == [(c.author, c.body, c.at) for c in d.comments]

    page.goto(f"{url}/Report?exp={exp}")
    loaded(page)
    page.wait_for_selector("text=Decision record", timeout=60_000)
    body = page.inner_text("body")
    assert "Fine-tune or train our own ticket classifier?" in body and "Signed off by Grace" in body
    assert "(no rows)" not in body and "400.000" not in body and "None" not in body
    assert re.search(r"\d (MFLOP|GFLOP|TFLOP)", body)  # compute with its unit, not 687562640640
    shot(page, "report-decision.png")

    # mid-run, the recommendation says it is partial and does not ask for seeds the config already has
    late = [r for r in store.runs(exp) if r.role == "grid" and r.seed > 0]
    lock = acquire_lock(store.root)  # stands in for a dispatcher: Compare revives a missing one to train queued runs
    try:
        for r in late:
            store.update_run(r.id, status=Status.QUEUED)
        page.goto(f"{url}/Compare?exp={exp}")
        loaded(page)
        text = page.locator(".st-key-cmp_recommendation").inner_text(timeout=60_000)
        assert "Partial results" in text and "add seeds" not in text.lower(), text
    finally:  # the store is the session's: leave no queued run for a page to start a dispatcher for
        for r in late:
            store.update_run(r.id, status=Status.DONE)
        os.close(lock)
        (store.root / "dispatcher.lock").unlink()


def test_the_recommended_model_downloads_from_compare_and_loads_without_head_start(static_app_server, browser,
                                                                                   tiny_bert_dir, topic_csv, tmp_path):
    import subprocess
    import sys
    import zipfile

    from training.config import BudgetConfig
    from training.delivery.predict import predict
    from training.service.execution import run_experiment
    from training.testing import tiny_classification_config

    url, store_root = static_app_server
    store = Store(store_root)
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=("scratch", "full", "lora", "head"),
                                     budget=BudgetConfig(policy="steps", steps=12))
    cfg.name = "take it home"
    exp = run_experiment(cfg, store)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(f"{url}/Compare?exp={exp}")
    loaded(page)
    rec = page.locator(".st-key-cmp_recommendation")
    rec.get_by_text("Take it home").wait_for(timeout=60_000)
    run_id = re.search(r"run (r[0-9a-f]+)", rec.inner_text()).group(1)
    from training.analysis.report import analyse

    decided = analyse(store, exp).recommendation.sizes[-1]  # the one size: the run is the recommended strategy's
    assert (store.run(run_id).strategy, store.run(run_id).n_train) == (decided.recommended, decided.n_train)
    rec.get_by_role("button", name="Prepare the model for download").click()
    button = rec.get_by_role("button", name="Download the model (zip)")
    button.wait_for(timeout=120_000)
    shot(page, "compare-take-home.png")
    with page.expect_download(timeout=60_000) as info:
        button.click()
    archive = tmp_path / "model.zip"
    info.value.save_as(archive)
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / f"headstart-model-{run_id}"
    card = (folder / "README.md").read_text()
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300, cwd=folder.parent)
    assert ran.returncode == 0, ran.stderr
    expected = predict(store, run_id, ["a text to classify"])["predictions"][0]["by"][run_id]["label"]
    assert ran.stdout.strip().splitlines()[-1] == repr([expected])

    # Try it: the four strategies' models answer a typed text side by side, through the predictor process
    page.goto(f"{url}/Try_it?exp={exp}")
    loaded(page)
    page.get_by_label("Your text").fill("numpy arrays and broadcasting")
    page.get_by_role("button", name="Ask every model").click()
    page.wait_for_function("document.querySelectorAll(\"[class*='st-key-try_answer_']\").length >= 4", timeout=240_000)
    assert page.locator("[class*='st-key-try_answer_']").count() == 4
    body = page.inner_text("body")
    direct = predict(store, exp, ["numpy arrays and broadcasting"])["predictions"][0]["by"]
    for answer in direct.values():
        assert answer["label"] in body
    assert ("All 4 models say" in body) == (len({a["label"] for a in direct.values()}) == 1)
    assert "How long the page waits" not in body  # no stray text on the page
    page.locator("[data-testid='stPlotlyChart']").last.scroll_into_view_if_needed()
    shot(page, "try-it.png")

    # Compare: where they disagree — the eval examples the models answer differently, with their words
    page.goto(f"{url}/Compare?exp={exp}")
    loaded(page)
    page.get_by_role("heading", name="Where they disagree").wait_for(timeout=60_000)
    table = page.locator(".st-key-cmp_disagreements")
    table.wait_for(timeout=60_000)
    text = page.inner_text("body")
    assert re.search(r"On \*?\*?\d+ of \d+", text) or re.search(r"On \d+ of \d+", text), text[:2000]
    table.scroll_into_view_if_needed()
    shot(page, "compare-disagreements.png")



def test_side_by_side_refuses_text_beside_images_and_names_what_it_can_compare(static_app_server, browser):
    """Issue 41, item 4: a Titanic MLP beside a clothes CNN (both scored in accuracy) read "A clearly better". Side by
    side now refuses experiments of different tasks in words naming both, and lists the experiments A can pair with."""
    from training.service.bundle import gallery_bundles

    url, store_root = static_app_server
    store = Store(store_root)
    tickets = make_finished_experiment(store, name="tickets A", seeds=(0,), sizes=(50, 200))
    other = make_finished_experiment(store, name="tickets B", seeds=(0,), sizes=(50, 200))
    images = import_bundle(store, read_bundle(next(p for p in gallery_bundles() if "images" in p.name)))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{url}/Side_by_side?exp={tickets}&vs={images}")
    loaded(page)
    error = page.get_by_test_id("stAlertContentError").filter(has_text="Side by side compares")
    error.wait_for(timeout=60_000)
    text = error.inner_text()
    assert "tickets A" in text and "text classification" in text and "image classification" in text, text
    listed = page.get_by_test_id("stAlertContentInfo").filter(has_text="can be set beside")
    listed.wait_for(timeout=30_000)
    assert f"tickets B · {other}" in listed.inner_text() and images not in listed.inner_text(), listed.inner_text()
    assert not page.get_by_text("clearly better").count() and not page.get_by_test_id("stDataFrame").count()
    shot(page, "side-by-side-refused.png")
