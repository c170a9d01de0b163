"""The home page against an empty store and a store with a finished experiment (AppTest, no browser)."""
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from training.config import ExperimentConfig
from training.store import Store

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def app_store(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_STORE", str(tmp_path / "store"))
    return Store(tmp_path / "store")


def test_home_with_an_empty_store(app_store):
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Head Start"
    assert any(b.label.startswith("Launch") for b in at.button)
    assert any("No experiments yet" in i.value for i in at.info)


def test_home_lists_a_finished_experiment(app_store):
    cfg = ExperimentConfig(name="finished one", sizes=[10], seeds=[0])
    exp = app_store.create_experiment(cfg, [{"strategy": "full", "n_train": 10, "seed": 0, "total_steps": 2}])
    run = app_store.runs(exp)[0]
    app_store.update_run(run["id"], status="done", result={"eval": {"accuracy": 0.5, "loss": 1.0}, "wall_s": 1.0})
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    frames = [df.value for df in at.dataframe]
    assert any("finished one" in f.to_string() for f in frames)
    assert any("0.5" in f.to_string() for f in frames)


def test_app_does_not_import_torch():
    code = ("import sys, runpy; sys.argv=['app.py']\n"
            "import streamlit.testing.v1 as t\n"
            "at = t.AppTest.from_file('app.py', default_timeout=60).run()\n"
            "assert not at.exception, at.exception\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=APP.parent)
    assert out.stdout.strip().splitlines()[-1] == "False"
