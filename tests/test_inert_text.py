"""Issue 39, item 7: stored text (a run's error, an experiment's name) renders as typed on every page and in the reports —
never as an image a teammate's browser fetches, a link or HTML."""
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from training.analysis.units import plain
from training.service.store import Store
from training.testing import make_finished_experiment

ROOT = Path(__file__).resolve().parents[1]
ATTACKER = "127.0.0.1:9"
PAYLOAD = (f"boom ![x](http://{ATTACKER}/p.png) <img src=http://{ATTACKER}/q.png> [link](javascript:alert(1)) "
           f"</script><img src=http://{ATTACKER}/r.png> http://{ATTACKER}/s www.{ATTACKER}.example a@{ATTACKER}")
MARKDOWN = MarkdownIt("commonmark", {"html": True})  # as a browser's Markdown renders it: images, links and HTML on


def _inert(markdown: str) -> list[str]:
    """What of `markdown` would become an image, a link or HTML in a Markdown viewer (GitHub's included: bare URLs,
    www. and e-mail addresses become links there)."""
    found = re.findall(r"<(?:img|a|script)\b[^>]*>", MARKDOWN.render(markdown))
    bare = re.compile(r"(?:https?://|www\.|\w@)" + re.escape(ATTACKER.split(":")[0]))  # unescaped: a GFM autolink
    return found + [m for t in MARKDOWN.parse(markdown) if t.type == "inline" for m in bare.findall(t.content)]


def test_plain_leaves_nothing_a_markdown_viewer_would_fetch_or_link():
    assert _inert(PAYLOAD)  # the payload is live as it stands
    assert _inert(plain(PAYLOAD)) == []
    assert MARKDOWN.render(plain("a `b` *c* $d$")).strip() == "<p>a `b` *c* $d$</p>"  # shown as typed


@pytest.fixture
def attacked(tmp_path, monkeypatch):
    """A finished experiment named with the payload, one of whose grid runs and one search candidate failed with it."""
    from tests.browser_fixtures import stop_store_processes

    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    store = Store(tmp_path / "store")
    exp = make_finished_experiment(store, name="exp " + PAYLOAD.replace("\n", " ")[:190])
    grid = next(r for r in store.runs(exp) if r.role == "grid" and r.strategy == "lora")
    sweep = next(r for r in store.runs(exp) if r.role == "lr-sweep" and r.strategy == "full")
    for r in (grid, sweep):
        store.update_run(r.id, status="failed", error=PAYLOAD)
    # a decision record signed off with the payload as what was approved (a bundle brings its own `signed`)
    store.save_decision(exp, "Which one?", {}, "ana")
    store.sign_off_decision(exp, "ana", {"sentence": PAYLOAD})
    yield store, exp
    stop_store_processes(tmp_path / "store")


def _shown(at: AppTest) -> list[str]:
    """Every text a page hands Streamlit's Markdown renderer: markdown, captions, alerts, titles, toasts, tab and
    expander labels."""
    texts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "header",
                                  "subheader", "toast") for e in getattr(at, kind)]
    texts += [t.label for t in at.tabs] + [e.label for e in at.expander]
    return [t for t in texts if isinstance(t, str)]


@pytest.mark.parametrize("page", ["pages/2_Live.py", "pages/3_Compare.py", "pages/4_Report.py"])
def test_a_run_error_and_an_experiment_name_render_inert_on_live_compare_and_report(attacked, page):
    store, exp = attacked
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["exp_id"] = exp
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    shown = [t for t in _shown(at) if ATTACKER in t]
    assert shown, "the payload is shown somewhere on the page (as text)"
    assert {t: _inert(t) for t in shown if _inert(t)} == {}


def test_the_reports_embed_stored_text_inert(attacked):
    from training.analysis.report import analyse, html_report, markdown_report

    store, exp = attacked
    a = analyse(store, exp, 2.5)
    md = markdown_report(a)
    assert ATTACKER in md and _inert(md) == []
    page = html_report(a)
    assert "boom" in page
    assert not re.search(r"<img\b|<a\b[^>]*javascript|</script><img", page, re.IGNORECASE)
