"""Words that fit the user's data (issue 23 item 5): notes chosen by task kind *and* data source, no text-model wording
on a table, no forgetting for scratch, no ∞/NaN in the crossover forecast's table. No training: the gallery's
recorded experiments are imported into a temporary store and analysed."""
import re

import pytest

from training.analysis import figures as F
from training.analysis.forecast import CROSSOVER_NAMES, crossover_table, has_pretrained
from training.analysis.report import CROSSOVER_HEADING, analyse, figures, markdown_report, sections
from training.analysis.tables import forgetting_table
from training.analysis.units import readable
from training.service.bundle import GALLERY, import_bundle, read_bundle
from training.service.store import Store

TABLES = ("tabular-classification", "tabular-regression")
TEXT_MODEL_WORDS = ("TF-IDF", "logit", "token", "Effective data", "effective data", "D_E")
SHOWN_FOR_A_TABLE = ("data_needs", "curves", "compute", "overfitting")
"""The notes a table's Compare page and report print (no probe, nothing transferred)."""


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """The tabular (regression), MNIST and tweets gallery records, analysed."""
    store = Store(tmp_path_factory.mktemp("words") / "store")
    out = {}
    for key, name in (("table", "tabular-diamonds-mlp"), ("images", "images-mnist-efficientnet"),
                      ("tweets", "tweets-sentiment-fair")):
        out[key] = analyse(store, import_bundle(store, read_bundle(GALLERY / f"{name}.json.gz")))
    return out


def _report_text(a) -> str:
    """The Markdown report without its config dump (the config lists every field, e.g. generation_tokens)."""
    return markdown_report(a).split("## Config")[0]


@pytest.mark.parametrize("task", TABLES)
def test_a_tables_notes_carry_no_text_model_wording(task):
    config = {"task": task, "data": {"source": "uploads/churn.csv"}, "references": True}
    for key in SHOWN_FOR_A_TABLE:
        text = F.note(key, config)
        assert not [w for w in TEXT_MODEL_WORDS if w in text], (key, text)
    data_needs = F.note("data_needs", config)
    if task == "tabular-regression":  # a regression has no classes
        assert "majority class" not in data_needs and "the training mean (dashed)" in data_needs
        assert F.trivial_reference(config) == "the training mean"
    else:
        assert "the majority class (dashed)" in data_needs
    assert "gradient-boosted trees (dotted)" in data_needs


def test_a_tables_report_has_no_text_model_wording_nor_a_crossover_forecast(gallery):
    a = gallery["table"]
    assert a.config["task"] == "tabular-regression" and not has_pretrained(a.config)
    text = _report_text(a)
    assert not [w for w in TEXT_MODEL_WORDS if w in text]
    assert "majority class" not in text
    assert not [heading for heading, *_ in sections(a) if heading.startswith(CROSSOVER_HEADING)]
    assert all(w not in F.note(key, a.config) for key, _ in figures(a) for w in TEXT_MODEL_WORDS)  # the HTML's notes


def test_a_tables_compare_page_has_no_text_model_wording_nor_a_crossover_forecast(gallery, tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    store = Store(tmp_path / "store")
    exp = import_bundle(store, read_bundle(GALLERY / "tabular-diamonds-mlp.json.gz"))
    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["exp_id"] = exp
    at.run()
    at.switch_page("pages/3_Compare.py").run()
    assert not at.exception, at.exception
    shown = [el.value for kind in ("header", "subheader", "markdown", "caption", "info", "success", "warning")
             for el in getattr(at, kind)]
    assert CROSSOVER_HEADING not in shown
    text = " ".join(map(str, shown))
    assert not [w for w in TEXT_MODEL_WORDS if w in text]
    assert "majority class" not in text


def test_a_sentence_about_a_builtin_dataset_appears_only_on_that_dataset(gallery):
    mnist = gallery["images"].config
    assert mnist["data"]["source"] == "builtin:mnist-5k"
    assert "handwritten digits" in F.note("data_needs", mnist)
    own = {**mnist, "data": {**mnist["data"], "source": "uploads/shoes.zip"}}
    for task in ("image-classification", "text-classification", "chat", "causal-lm", *TABLES):
        for key in F.NOTES:
            text = F.note(key, {**own, "task": task})
            assert "igits" not in text and "Digits look nothing like" not in text, (task, key)
            for source, words in F.SOURCE_NOTES.items():
                assert not any(w in text for w in words.values()), (task, key, source)
    assert "faces vs non-faces" in F.note("probe", mnist)  # the built-in probe, as configured
    own_probe = {**mnist, "probes": [{"kind": "knn", "source": "uploads/old-task.zip"}]}
    assert "faces" not in F.note("probe", own_probe) and "uploads/old-task.zip" in F.note("probe", own_probe)


def test_scratch_never_shows_a_forgetting_value(gallery):
    a = gallery["images"]
    fg = forgetting_table(a.runs)
    scratch = fg[fg["strategy"] == "scratch"]
    assert len(scratch) == 3 and scratch[["forgetting", "low", "high"]].isna().all().all()
    assert scratch["final"].notna().all() and scratch["note"].str.contains("never had").all()  # its probe score
    assert fg.loc[fg["strategy"] != "scratch", "forgetting"].notna().all()
    bars = F.forgetting_figure(fg)
    assert {t.name for t in bars.data} == {"full", "head", "lora", "lp-ft"}
    points = F.tradeoff_figure(a.runs, a.metric_col, a.metric, a.higher_is_better)
    assert "scratch" not in {t.name for t in points.data}
    assert "scratch" not in " ".join(str(t.hovertemplate) for t in points.data)
    table = dict((heading, t) for heading, _, t, _ in sections(a))["Forgetting"]
    shown = readable(table)
    assert (shown.loc[table["strategy"] == "scratch", "forgetting"] == "—").all()
    assert "Scratch never had the skill, so its bar shows the whole skill" not in F.note("forgetting", a.config)


@pytest.mark.parametrize("record", ["images", "tweets"])
def test_the_crossover_table_shows_no_infinity_or_nan_and_every_row_says_why(gallery, record):
    a = gallery[record]
    fc = a.recommendation.forecast
    assert fc.entries and {e["status"] for e in fc.entries} & {"forecast", "beyond"}
    shown = crossover_table(fc)
    people = readable(shown, CROSSOVER_NAMES)
    for v in people.drop(columns=["why"]).to_numpy().ravel():
        assert not re.search(r"\binf|nan|∞", v, re.IGNORECASE), v
    assert shown["why"].str.len().gt(0).all()
    forecasts = shown[shown["status"] == "forecast"]
    assert (forecasts["interval"] != "—").all() and (forecasts["forecast_n"] != "—").all()  # never a point alone
    md = dict((heading, table) for heading, _, table, _ in sections(a))[CROSSOVER_HEADING]
    assert "why" in md and len(md) == len(fc.entries)
