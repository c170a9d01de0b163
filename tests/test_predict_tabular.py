"""A table's delivered MLP answers new rows through the preprocessing its run fitted on its own training rows: it gives
its own eval rows exactly the classes (or values) it was scored with; the exported folder — model.pt2, the weights and
the scikit-learn preprocessing — answers the same, and its model card's code runs in a fresh Python with torch, pandas
and scikit-learn alone; bad rows are named."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from training.delivery.predict import export_model, predict, read_inputs, runs_of
from training.errors import HeadStartError
from training.service.execution import run_experiment
from training.service.store import Store
from training.tasks import task_kind
from training.testing import tabular_rows, tiny_tabular_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["tabular-classification", "tabular-regression"])
def finished_table(request, tmp_path_factory):
    task = request.param
    root = tmp_path_factory.mktemp(task)
    data = root / "table.csv"
    pd.DataFrame(tabular_rows(200, task=task)).to_csv(data, index=False)
    cfg = tiny_tabular_config(data, task)
    store = Store(root / "store")
    return store, run_experiment(cfg, store), cfg


def test_each_table_run_answers_its_eval_rows_as_it_was_scored_and_its_folder_answers_the_same(finished_table, tmp_path):
    store, exp, cfg = finished_table
    kind = task_kind(cfg.task)
    data = kind.prepare_data(cfg.data, kind.load_processor(kind.resolve_base(cfg.model.base), cfg.model), 0, None)
    table, (_, _, eval_idx) = data.extra["table"], data.extra["indices"]
    rows = [{c: (None if pd.isna(v) else v) for c, v in r.items()} for r in table.frame.iloc[eval_idx].to_dict("records")]
    assert store.eval_inputs(exp)[0].startswith("size = ")  # Compare's disagreement rows, in words
    runs = runs_of(store, exp)
    out = predict(store, exp, rows)
    for run in runs:
        answers = [p["by"][run.id] for p in out["predictions"]]
        items = run.result["eval_items"]["best" if answers[0]["weights"] == "best" else "end"]
        if kind.classification:
            assert [a["label"] for a in answers] == [data.label_names[c] for c in items["y_pred"]]
        else:
            assert [a["value"] for a in answers] == pytest.approx(items["y_pred"], rel=1e-6, abs=1e-6)

    run = runs[0]
    folder = export_model(store, run.id, tmp_path / "model")
    assert {"config.json", "model.safetensors", "model.pt2", "preprocessing.joblib", "headstart.json",
            "README.md"} <= {p.name for p in folder.iterdir()}
    from_folder = predict(None, str(folder), rows)
    for a, b in zip(out["predictions"], from_folder["predictions"], strict=True):
        mine, theirs = a["by"][run.id], b["by"][run.id]
        if kind.classification:
            assert mine["label"] == theirs["label"]
            assert all(abs(mine["scores"][k] - theirs["scores"][k]) < 1e-6 for k in mine["scores"])
        else:
            assert theirs["value"] == pytest.approx(mine["value"], rel=1e-6)
    card = (folder / "README.md").read_text()
    assert "`torch`, `pandas` and `scikit-learn`" in card and "rows.csv" in card
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300, cwd=folder.parent)
    assert ran.returncode == 0, ran.stderr
    example = json.loads((folder / "headstart.json").read_text())["example"]
    expected = predict(None, str(folder), [example])["predictions"][0]["by"][run.id]
    printed = ran.stdout.strip().splitlines()[-1]
    assert printed == (repr([expected["label"]]) if kind.classification else repr([round(expected["value"], 4)]))


def test_table_rows_come_from_csv_or_json_lines_and_a_bad_row_is_named(finished_table, tmp_path):
    store, exp, cfg = finished_table
    good = tmp_path / "rows.csv"
    good.write_text("size,weight,colour,shape\n0.5,4.2,red,round\n-1,,,square\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "training", "predict", exp, "--input", str(good), "--store",
                          str(store.root), "--format", "csv"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 1 + 2 * len(runs_of(store, exp))
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"size": 0.5, "weight": 4.2, "colour": "red", "shape": "round"}\n', encoding="utf-8")
    assert read_inputs(lines, rows=True) == [{"size": 0.5, "weight": 4.2, "colour": "red", "shape": "round"}]
    with pytest.raises(HeadStartError, match="row 1 has no column 'colour'"):
        predict(store, exp, [{"size": 1, "weight": 2, "shape": "round"}])
    with pytest.raises(HeadStartError, match="row 2: column 'size' holds numbers, got 'big'"):
        predict(store, exp, [{"size": 1, "weight": 2, "colour": "red", "shape": "round"},
                             {"size": "big", "weight": 2, "colour": "red", "shape": "round"}])
    with pytest.raises(HeadStartError, match="reads rows from a CSV file or JSON lines"):
        read_inputs(tmp_path / "rows.csv", rows=True) and read_inputs(_txt(tmp_path), rows=True)


def _txt(tmp_path: Path) -> Path:
    path = tmp_path / "rows.txt"
    path.write_text("0.5 4.2 red round\n", encoding="utf-8")
    return path
