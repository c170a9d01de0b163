"""Shared fixtures over the builders in `training/testing.py` (which the benches use too): tiny models,
small datasets on disk, temporary stores, a session-wide cache of built-in tables.

Nothing here touches the network: the tiny GPT-2 gets a byte-level BPE trained on the test corpus.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from training.service.store import Store
from training.testing import code_docs, make_tiny_bert, topic_rows


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from training.core.models import resolve_base

    return resolve_base("builtin:minilm-l6")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A 2-block GPT-2 (n_embd 32) with a byte-level BPE (vocab 300) trained on the test corpus."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from training.tasks.lm.pretrain import train_tokenizer

    out = tmp_path_factory.mktemp("tiny-gpt2")
    tok = train_tokenizer([d["text"] for d in code_docs(60) + code_docs(60, flavour="b")], 300)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory) -> Path:
    """A 2-block Llama with a ChatML tokenizer (see `training.testing.make_tiny_chat_llama`)."""
    from training.testing import make_tiny_chat_llama

    return make_tiny_chat_llama(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture
def chat_jsonl(tmp_path) -> Path:
    from training.testing import chat_rows

    path = tmp_path / "support.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in chat_rows(80)), encoding="utf-8")
    return path


@pytest.fixture
def topic_csv(tmp_path) -> Path:
    path = tmp_path / "topics.csv"
    pd.DataFrame(topic_rows(240)).to_csv(path, index=False)
    return path


@pytest.fixture
def code_jsonl(tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "corpus_a.jsonl", tmp_path / "corpus_b.jsonl"
    for path, flavour in ((a, "a"), (b, "b")):
        path.write_text("".join(json.dumps(d) + "\n" for d in code_docs(60, flavour=flavour)), encoding="utf-8")
    return a, b


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture(autouse=True, scope="session")
def _shared_table_cache(tmp_path_factory):
    """Built-in tables are cached once for the whole test session, not in the user's home."""
    import os

    os.environ.setdefault("HEADSTART_CACHE", str(tmp_path_factory.mktemp("headstart-cache")))




@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of our own for the session (Debian's `postgresql` package). Missing binaries skip the
    PostgreSQL half of the store tests, unless HEADSTART_REQUIRE_POSTGRES=1 (CI) makes that an error."""
    from tests.pg import start_or_skip

    server = start_or_skip()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch) -> str:
    """Run a test on both store backends: for `postgresql`, every Store (here and in the worker processes the test
    starts, which inherit the environment) uses a fresh database on the session's server."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("HEADSTART_DATABASE_URL", server.new_database())
    else:
        monkeypatch.delenv("HEADSTART_DATABASE_URL", raising=False)
    return request.param


# -- the real-browser tests (tests/test_browser*.py): one Chromium and two app servers for the whole session --------

@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (a launch costs about a second); tests use `browser`."""
    from tests.browser_fixtures import launch_chromium

    yield from launch_chromium()


@pytest.fixture
def browser(chromium):
    """The session's Chromium; every context and page a test opened is closed after it."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """(url, store root) of an app whose store trains: experiments launched from its pages share one dispatcher
    (started by the first launch). Each test finds its experiment as the store's newest."""
    from tests.browser_fixtures import serve

    yield from serve(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="session")
def static_app_server(tmp_path_factory):
    """(url, store root) of an app over a store the tests write directly and no page trains: no dispatcher serves
    it, so a run a test marks queued stays queued. Its gallery is the folder `store root`/../gallery (empty)."""
    from tests.browser_fixtures import serve

    root = tmp_path_factory.mktemp("static-app")
    (root / "gallery").mkdir()
    yield from serve(root, HEADSTART_GALLERY=str(root / "gallery"))


@pytest.fixture(autouse=True)
def _streamlit_options_restored():
    """Pages lower Streamlit's upload cap and error details to the deployment's (`ui.common.setup_page`) in the
    process that renders them: AppTest renders in this one, so each test starts from the same options."""
    from streamlit import config

    keys = ("server.maxUploadSize", "client.showErrorDetails")
    before = {k: config.get_option(k) for k in keys}
    yield
    for k, v in before.items():
        if config.get_option(k) != v:
            config.set_option(k, v)
