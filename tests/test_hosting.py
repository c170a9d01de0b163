"""Hosted demos: Dockerfile agrees with the README, security rules, demo quotas, bundles, replay."""
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from training.analysis.frames import metrics_frame, runs_frame
from training.analysis.replay import at_time, total_duration
from training.analysis.report import analyse, html_report, markdown_report
from training.config import BudgetConfig
from training.errors import ConfigError, HeadStartError
from training.service.bundle import export_bundle, gallery_bundles, import_bundle, read_bundle, write_bundle
from training.service.execution import execute_run
from training.service.planning import launch
from training.service.policy import PolicyError, check_upload_size, redact
from training.settings import load_settings
from training.testing import make_finished_experiment, tiny_classification_config, topic_rows

ROOT = Path(__file__).resolve().parents[1]


# -- Dockerfile ---------------------------------------------------------------------------------------

def _pip_steps(text: str) -> set[str]:
    steps = set()
    for m in re.finditer(r"pip install[^\n&]*", text):
        words = [w for w in m.group(0).split() if w != "--no-cache-dir"]
        steps.add(" ".join(words).strip())
    return steps


def test_dockerfile_installs_as_the_readme_says_and_follows_streamlit_conventions():
    readme, docker = (ROOT / "README.md").read_text(), (ROOT / "Dockerfile").read_text()
    install_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert _pip_steps(install_block) == _pip_steps(docker) == {"pip install -r requirements.txt"}
    assert "streamlit run app.py" in install_block and "streamlit run app.py" in (ROOT / "docker/entrypoint.sh").read_text()
    assert "EXPOSE 8501" in docker and "_stcore/health" in docker and "HEALTHCHECK" in docker
    user = re.search(r"^USER (\S+)", docker, re.M)
    assert user and user.group(1) not in ("root", "0")
    assert "python -m training worker" in (ROOT / "docker/entrypoint.sh").read_text()
    config = (ROOT / ".streamlit/config.toml").read_text()
    assert "headless = true" in config and "gatherUsageStats = false" in config and "maxUploadSize" in config


# -- security -----------------------------------------------------------------------------------------

@pytest.fixture
def team(monkeypatch, store, tiny_bert_dir):
    monkeypatch.setenv("HEADSTART_MODE", "team")
    monkeypatch.setenv("HEADSTART_MODEL_ROOTS", str(tiny_bert_dir.parent))
    uploads = store.root / "uploads"
    uploads.mkdir()
    data = uploads / "topics.csv"
    pd.DataFrame(topic_rows(240)).to_csv(data, index=False)
    return store, data


def test_path_traversal_is_refused_and_stores_nothing(team, tiny_bert_dir):
    store, data = team
    sneaky = str(store.root / "uploads" / ".." / ".." / "etc.csv")
    with pytest.raises(PolicyError, match="contains '..'"):
        launch(tiny_classification_config(tiny_bert_dir, sneaky), store)
    with pytest.raises(PolicyError, match="outside the allowed folders"):
        launch(tiny_classification_config(tiny_bert_dir, "/etc/passwd.csv"), store)
    assert store.experiments() == []


def test_symlink_escape_is_refused(team, tiny_bert_dir, tmp_path):
    store, data = team
    outside = tmp_path / "secret.csv"
    pd.DataFrame(topic_rows(40)).to_csv(outside, index=False)
    link = store.root / "uploads" / "innocent.csv"
    link.symlink_to(outside)
    with pytest.raises(PolicyError, match="outside the allowed folders"):
        launch(tiny_classification_config(tiny_bert_dir, str(link)), store)
    model_link = store.root / "uploads" / "model"
    model_link.symlink_to(tiny_bert_dir)
    os.environ["HEADSTART_MODEL_ROOTS"] = str(store.root / "uploads")
    with pytest.raises(PolicyError, match="model directory .* outside"):
        launch(tiny_classification_config(model_link, data), store)
    assert store.experiments() == []


def test_an_allowed_upload_runs(team, tiny_bert_dir):
    store, data = team
    exp = launch(tiny_classification_config(tiny_bert_dir, data, strategies=["head"]), store)
    assert execute_run(store, store.runs(exp)[0].id).status == "done"


def test_oversized_upload_is_refused(monkeypatch):
    monkeypatch.setenv("HEADSTART_MODE", "demo")
    settings = load_settings()
    assert settings.upload_max_mb == 10
    check_upload_size(9_000_000, settings)
    with pytest.raises(PolicyError, match="uploads up to 10 MB"):
        check_upload_size(11_000_000, settings)


def test_remote_code_model_config_is_refused(tmp_path, tiny_bert_dir, topic_csv, store):
    import shutil

    d = tmp_path / "remote"
    shutil.copytree(tiny_bert_dir, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "evil.Model"}
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="never runs remote code"):
        launch(tiny_classification_config(d, topic_csv), store)
    assert store.experiments() == []


def test_secrets_are_redacted_in_errors_events_reports_and_bundles(monkeypatch, tiny_bert_dir, topic_csv, store):
    token = "hf_" + "a1B2" * 8
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "correct-horse-battery")
    assert token not in redact(f"401 for url with token {token}")
    assert "correct-horse-battery" not in redact("login failed for correct-horse-battery")
    assert redact("api_key=abcd1234efgh and https://bob:hunter2@example.com/x") == \
        "api_key=[REDACTED] and https://bob:[REDACTED]@example.com/x"
    exp = launch(tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full"]), store)
    run = store.runs(exp)[0]
    store.update_run(run.id, status="failed", error=f"download failed: Authorization: Bearer {token}")
    store.add_event(run.id, "error", f"token={token}", {"env": token})
    text = json.dumps(export_bundle(store, exp)) + html_report(analyse(store, exp)) + markdown_report(analyse(store, exp))
    text += store.run(run.id).error + json.dumps(store.events(run.id))
    assert token not in text and "[REDACTED]" in text


# -- demo quotas ---------------------------------------------------------------------------------------

@pytest.fixture
def demo(monkeypatch, store, tiny_bert_dir):
    monkeypatch.setenv("HEADSTART_MODE", "demo")
    monkeypatch.setenv("HEADSTART_MODEL_ROOTS", str(tiny_bert_dir.parent))
    monkeypatch.setenv("HEADSTART_MODEL_ALLOWLIST", f"builtin:minilm-l6,{tiny_bert_dir}")
    uploads = store.root / "uploads"
    uploads.mkdir()
    data = uploads / "topics.csv"
    pd.DataFrame(topic_rows(240)).to_csv(data, index=False)
    return store, data


@pytest.mark.parametrize("change, env, message", [
    ({"seeds": [0, 1, 2, 3, 4, 5, 6, 7, 8]}, {"HEADSTART_DEMO_MAX_RUNS": "16"}, "18 runs is over this demo's cap of 16"),
    ({"sizes": [40, 120]}, {"HEADSTART_DEMO_MAX_N": "100"}, "size 120 is over this demo's cap of 100"),
    ({"budget": BudgetConfig(policy="steps", steps=500), "strategies": ["full"]}, {}, "500 steps is over this demo's cap of 300"),
    ({"budget": BudgetConfig(policy="steps", steps=100)}, {},
     "a run of 400 steps \\(scratch trains until it stops improving, up to 4× its budget\\) is over this demo's cap of 300"),
    ({}, {"HEADSTART_MODEL_ALLOWLIST": "builtin:minilm-l6"}, "allows only these models: builtin:minilm-l6"),
    ({}, {"HEADSTART_DEMO_RUNS_PER_HOUR": "1"}, "allows 1 runs per hour per user"),
])
def test_each_demo_cap_refuses_with_a_clear_message_and_stores_nothing(demo, monkeypatch, tiny_bert_dir, change, env, message):
    store, data = demo
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = tiny_classification_config(tiny_bert_dir, data, **change)
    with pytest.raises(PolicyError, match=message):
        launch(cfg, store, owner="ada")
    assert store.experiments() == []


def test_demo_allows_one_active_experiment_per_user(demo, tiny_bert_dir):
    store, data = demo
    launch(tiny_classification_config(tiny_bert_dir, data), store, owner="ada")
    with pytest.raises(PolicyError, match="already have 1 experiment"):
        launch(tiny_classification_config(tiny_bert_dir, data), store, owner="ada")
    launch(tiny_classification_config(tiny_bert_dir, data), store, owner="grace")  # others are not blocked
    assert len(store.experiments()) == 2


def test_demo_refuses_hub_datasets(demo, tiny_bert_dir):
    store, _ = demo
    with pytest.raises(PolicyError, match="does not download Hugging Face datasets"):
        launch(tiny_classification_config(tiny_bert_dir, "hf:stanfordnlp/imdb"), store)


def test_demo_presets_are_exempt_from_size_caps(monkeypatch):
    from training.presets import get_preset
    from training.service.policy import is_exempt_preset

    monkeypatch.setenv("HEADSTART_MODE", "demo")
    quick = get_preset("quick")
    assert is_exempt_preset(quick, load_settings())
    quick.sizes = [64, 4000]
    assert not is_exempt_preset(quick, load_settings())


# -- bundles, gallery, replay --------------------------------------------------------------------------

def test_export_import_round_trip_gives_identical_tables(store, tmp_path):
    exp = make_finished_experiment(store, seeds=(0, 1))
    path = tmp_path / "exp.json.gz"
    write_bundle(export_bundle(store, exp), path)
    copy = import_bundle(store, read_bundle(path), owner="bob")
    assert import_bundle(store, read_bundle(path), owner="bob") == copy  # idempotent
    ignore = ["run_id", "started_at", "ended_at", "heartbeat_at", "device"]
    a, b = runs_frame(store, exp).drop(columns=ignore), runs_frame(store, copy).drop(columns=ignore)
    pd.testing.assert_frame_equal(a, b)
    order = ["strategy", "n_train", "seed", "step", "key"]
    ma, mb = (metrics_frame(store, e).drop(columns=["run_id"]).sort_values(order).reset_index(drop=True) for e in (exp, copy))
    pd.testing.assert_frame_equal(ma, mb)
    assert analyse(store, exp).verdict == analyse(store, copy).verdict
    assert store.experiment(copy).owner == "bob"


def test_bad_bundles_are_refused(tmp_path):
    with pytest.raises(HeadStartError, match="not a Head Start bundle"):
        read_bundle(b"\x80\x04\x95 pickle bytes")
    with pytest.raises(HeadStartError, match="format"):
        read_bundle(json.dumps({"hello": 1}).encode())


def test_shipped_gallery_bundles_are_valid(store):
    paths = gallery_bundles()
    assert paths, "the app ships at least one recorded experiment"
    for path in paths:
        bundle = read_bundle(path)
        assert bundle["runs"] and bundle["metrics"]
        a = analyse(store, import_bundle(store, bundle))  # opens in Compare: every table and the verdict
        assert a.verdict and not [f for f in a.findings if f["kind"] == "failed"], a.findings


def test_replay_reveals_runs_and_curves_over_time(store):
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50, 200))
    grid = [r for r in store.runs(exp) if r.role == "grid"]
    for i, r in enumerate(grid):
        store.update_run(r.id, started_at=1000.0 + 30 * i, ended_at=1000.0 + 30 * i + 25)
    runs, metrics = runs_frame(store, exp), metrics_frame(store, exp)
    runs = runs[runs["role"] == "grid"].reset_index(drop=True)
    assert total_duration(runs) == pytest.approx(30 * 7 + 25)
    early, m_early = at_time(runs, metrics, 5.0)
    assert list(early["status"][:2]) == ["running", "queued"] and set(m_early["run_id"]) == {runs["run_id"][0]}
    late, m_late = at_time(runs, metrics, 1e9)
    assert (late["status"] == "done").all() and len(m_late) == len(metrics)


def test_parallel_launches_by_one_demo_user_store_one_experiment_against_a_cap_of_one(backend, tmp_path, monkeypatch):
    """Issue 28, item 4: 8 parallel launches by one demo user stored 3 experiments against a cap of 1 — each checked
    the quota before any was stored. The check now runs again inside the transaction that stores the experiment."""
    import threading

    from training.service.policy import demo_quota
    from training.service.store import Store

    monkeypatch.setenv("HEADSTART_MODE", "demo")
    monkeypatch.setenv("HEADSTART_DEMO_MAX_ACTIVE", "1")
    settings = load_settings()
    store = Store(tmp_path / "store")
    cfg = tiny_classification_config(tmp_path / "model", tmp_path / "x.csv")
    runs = [{"strategy": "full", "n_train": 10, "seed": 0, "total_steps": 5}]
    assert demo_quota(store.owner_activity("visitor"), len(runs), settings) is None  # the early check passes for all
    go, outcomes = threading.Barrier(8), []

    def launch_one():
        go.wait()
        try:
            outcomes.append(Store(tmp_path / "store").create_experiment(
                cfg, runs, owner="visitor", admit=lambda activity: demo_quota(activity, len(runs), settings)))
        except PolicyError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=launch_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = [o for o in outcomes if isinstance(o, str)]
    assert len(stored) == 1 and [e.id for e in store.experiments()] == stored
    assert all("already have 1 experiment(s) running" in str(o) for o in outcomes if not isinstance(o, str))
    assert not [p for p in (store.root / "experiments").iterdir() if p.name != stored[0]]  # refused ones left nothing
    assert store.owner_activity("visitor") == (1, 1) and store.owner_activity("someone else") == (0, 0)


def test_redaction_keeps_paths_and_peoples_words_render_as_typed():
    """Issue 28, item 10: "/etc/passwd: unsupported" was redacted to "[REDACTED]"; a markdown image in a comment made
    every viewer's browser fetch an outside URL."""
    from training.analysis.units import plain

    assert redact("/etc/passwd: unsupported") == "/etc/passwd: unsupported"
    assert redact(r"C:\keys\secret: kept") == r"C:\keys\secret: kept"
    assert redact("password: hunter22 and api_key=sk-12345678") == "password: [REDACTED] and api_key=[REDACTED]"
    assert plain("look ![x](http://evil.example/a.png) $5") == r"look \!\[x\](http\://evil.example/a.png) \$5"


def test_a_hosted_app_shows_an_unexpected_errors_type_not_its_traceback(monkeypatch, tmp_path):
    """Issue 28: tracebacks reached visitors (24 kinds). Expected errors are said in words where they happen; for
    anything else a hosted app (team, demo) shows the error's type only, the server's log keeps the rest; a laptop
    (local mode) keeps the whole traceback for whoever runs it."""
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    before, cap = config.get_option("client.showErrorDetails"), config.get_option("server.maxUploadSize")
    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    try:
        AppTest.from_file("../app.py", default_timeout=60).run()
        assert config.get_option("client.showErrorDetails") == before  # local: unchanged
        monkeypatch.setenv("HEADSTART_MODE", "demo")
        AppTest.from_file("../app.py", default_timeout=60).run()
        assert config.get_option("client.showErrorDetails") == "type"
    finally:  # this process's other tests run with the defaults
        config.set_option("client.showErrorDetails", before)
        config.set_option("server.maxUploadSize", cap)


LOCAL_NAMES_ANYONE = ("198.51.100.9", "198.51.100.9", ())
"""Issue 39, item 7: from this machine, `X-Forwarded-For: 198.51.100.9` made Streamlit's server (uvicorn trusts a local
peer's header) report the named address, so a demo visitor became whomever they named."""


@pytest.mark.parametrize("ip, forwarded, trusted, visitor", [
    (None, None, (), "unknown"),  # a browser on this machine
    ("203.0.113.7", None, (), "203.0.113.7"),
    # the server took a local peer's header at its word, or the visitor at that address named itself (the attack that
    # made a remote visitor this machine's): neither is this machine's visitor nor the one at that address
    LOCAL_NAMES_ANYONE + ("198.51.100.9 (as X-Forwarded-For names it)",),
    ("10.0.0.5", "10.0.0.5", (), "10.0.0.5 (as X-Forwarded-For names it)"),
    ("203.0.113.7", "198.51.100.9", (), "203.0.113.7"),  # a remote peer's header: the server ignored it, so do we
    ("198.51.100.9", "198.51.100.9", ("127.0.0.1/32",), "198.51.100.9"),  # the operator's proxy on this machine
    ("10.0.0.5", "198.51.100.9", ("10.0.0.0/8",), "198.51.100.9"),  # the operator's proxy elsewhere
    ("10.0.0.5", "6.6.6.6, 198.51.100.9", ("10.0.0.0/8",), "198.51.100.9"),  # what the client wrote before it: ignored
    ("203.0.113.7", "198.51.100.9", ("10.0.0.0/8",), "203.0.113.7"),  # not one of the operator's proxies
])
def test_only_a_trusted_proxy_names_a_visitors_address(ip, forwarded, trusted, visitor):
    from ui.auth import client_address

    assert client_address(ip, forwarded, trusted) == visitor


def test_a_demo_visitor_cannot_become_someone_else_by_a_header(monkeypatch):
    from types import SimpleNamespace

    import ui.auth as auth

    def visitor(ip, forwarded):
        monkeypatch.setattr(auth.st, "context", SimpleNamespace(ip_address=ip, headers={"X-Forwarded-For": forwarded}))
        return auth._client()

    monkeypatch.delenv("HEADSTART_TRUSTED_PROXIES", raising=False)
    named = visitor("198.51.100.9", "198.51.100.9")
    # neither this machine's visitor, nor the one at that address, nor another named one
    assert named not in (visitor(None, None), visitor("198.51.100.9", None), visitor("198.51.100.10", "198.51.100.10"))
    monkeypatch.setenv("HEADSTART_TRUSTED_PROXIES", "127.0.0.1")
    assert visitor("198.51.100.9", "198.51.100.9") == "198.51.100.9"
    monkeypatch.setenv("HEADSTART_TRUSTED_PROXIES", "a proxy")
    with pytest.raises(ConfigError, match="HEADSTART_TRUSTED_PROXIES must list IP addresses"):
        load_settings()
