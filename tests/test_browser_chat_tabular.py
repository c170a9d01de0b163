"""Issue 16 in a real browser: a chat experiment from an uploaded JSONL of conversations (a tiny Llama with a chat
template stands in for SmolLM2) and a tabular one from an uploaded CSV, each planned, launched, watched on Live and
read on Compare — the chat one with its answers side by side, the tabular one against gradient-boosted trees."""
import json

import pandas as pd
import pytest

from tests.browser_fixtures import loaded, needs_chromium, shot
from tests.test_browser_upload import (
    _compare_text,
    _fill,
    _launch_and_finish,
    _new_experiment,
    _only_strategies,
    _short_grid,
    _upload,
)
from training.service.store import Store
from training.testing import chat_rows, tabular_rows

pytestmark = [pytest.mark.browser, needs_chromium]


def test_a_chat_experiment_from_an_uploaded_jsonl_shows_answers_side_by_side(app_server, browser, tiny_chat_dir):
    url, store_root = app_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _new_experiment(page, url, "Chat (instruction tuning)")
    body = page.inner_text("body")
    assert "head — a chat model's output layer" in body  # refused strategies are named with the reason
    _upload(page, "support.jsonl", "".join(json.dumps(r) + "\n" for r in chat_rows(60)).encode(), "application/jsonl")
    page.wait_for_selector("text=60 rows · support.jsonl", timeout=60_000)
    loaded(page)
    assert "Messages column" in page.inner_text("body")
    page.get_by_text("Local directory").click()
    loaded(page)
    _fill(page, "Directory with config.json, weights and tokenizer", str(tiny_chat_dir))
    _only_strategies(page, ["scratch", "lora"], defaults=["scratch", "full", "lora"])
    _short_grid(page, "12", "4")
    shot(page, "new-experiment-chat.png")
    _launch_and_finish(page, store_root, "chat")
    page.wait_for_selector("text=Answers as they improve", timeout=60_000)
    shot(page, "live-chat.png")

    body = _compare_text(page, url, ready="text=Answers side by side")
    assert "LIMA" in body and "ROUGE-L" in body  # the chat literature and the overlap score's caveat
    assert "general chat skill" in body  # the forgetting probe in words
    shot(page, "compare-chat.png")


def test_a_tabular_experiment_from_an_uploaded_csv_runs_against_gradient_boosted_trees(app_server, browser, tmp_path):
    url, store_root = app_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _new_experiment(page, url, "Tabular classification")
    csv = pd.DataFrame(tabular_rows(300)).to_csv(index=False).encode()
    _upload(page, "products.csv", csv, "text/csv")
    page.wait_for_selector("text=300 rows · products.csv", timeout=60_000)
    loaded(page)
    body = page.inner_text("body")
    assert "Target column" in body and "Built-in MLP (from scratch)" in body
    assert "full, lora, qlora, head, freeze, discriminative, lp-ft — no pretrained model exists for your table" in body
    _short_grid(page, "40", "20")
    shot(page, "new-experiment-tabular.png")
    exp_id = _launch_and_finish(page, store_root, "tabular-classification")
    assert Store(store_root).experiment_config(exp_id).data.label_column == "label"  # the suggested target
    shot(page, "live-tabular.png")

    body = _compare_text(page, url)
    assert "gradient-boosted trees" in body and "Classical references, candidates like any strategy" in body
    assert "Grinsztajn" in body
    shot(page, "compare-tabular.png")


def test_a_table_whose_target_has_stray_values_asks_what_to_do_before_anything_starts(static_app_server, browser):
    """Issue 41, item 2: four shifted Titanic rows put 'S', 'C', '1C' into Survived; the form warned, the preflight
    dropped the warning and a 5-class model trained. Now the values and rows are named beside a choice; until the user
    chooses, nothing can be checked or launched; leaving them out plans a 2-class model and says so."""
    url, _ = static_app_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _new_experiment(page, url, "Tabular classification")
    rows = [{"PassengerId": i + 1, "Survived": i % 2, "Pclass": 1 + i % 3, "Sex": "male" if i % 3 else "female",
             "Age": 20 + i % 40, "Fare": 7.25 + i % 50, "Embarked": "SCQ"[i % 3]} for i in range(400)]
    rows += [{"PassengerId": 401 + i, "Survived": odd, "Pclass": 3, "Sex": "male", "Age": 30, "Fare": 8.05,
              "Embarked": ""} for i, odd in enumerate(["S", "C", "1C", "S"])]
    _upload(page, "titanic.csv", pd.DataFrame(rows).to_csv(index=False).encode(), "text/csv")
    page.wait_for_selector("text=404 rows · titanic.csv", timeout=60_000)
    loaded(page)
    assert page.get_by_role("combobox", name="Target column").input_value() == "Survived"  # suggested by its name
    warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="does not fit the others")
    warning.first.wait_for(timeout=60_000)
    text = warning.first.inner_text()
    assert "4 of the 404 rows of titanic.csv" in text and "'S' (2 rows), 'C' (1 row), '1C' (1 row)" in text, text
    page.get_by_text("Nothing starts while these rows are in the file").wait_for(timeout=30_000)
    assert not page.get_by_role("button", name="Check and estimate").count()
    page.get_by_text("Nothing starts while these rows are in the file").scroll_into_view_if_needed()
    shot(page, "new-experiment-stray-labels.png")
    page.get_by_text("Leave these rows out").click()
    page.get_by_role("button", name="Check and estimate").wait_for(timeout=60_000)
    loaded(page)
    page.get_by_role("button", name="Check and estimate").click()
    page.wait_for_selector("text=Estimated training time", timeout=240_000)
    note = page.get_by_test_id("stAlertContentInfo").filter(has_text="left out, as asked")
    note.first.wait_for(timeout=60_000)
    assert "'1C'" in note.first.inner_text()
    assert not page.get_by_test_id("stAlertContentError").count()
