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

from training.delivery.inputs import read_inputs
from training.delivery.predict import export_model, predict, runs_of
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
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "model.pt2", "preprocessing.json", "headstart.json", "README.md"} <= files
    assert not any(f.endswith((".joblib", ".pkl", ".pickle")) for f in files)
    from_folder = predict(None, str(folder), rows)
    for a, b in zip(out["predictions"], from_folder["predictions"], strict=True):
        mine, theirs = a["by"][run.id], b["by"][run.id]
        if kind.classification:
            assert mine["label"] == theirs["label"]
            assert all(abs(mine["scores"][k] - theirs["scores"][k]) < 1e-6 for k in mine["scores"])
        else:
            assert theirs["value"] == pytest.approx(mine["value"], rel=1e-6)
    card = (folder / "README.md").read_text()
    assert "`torch`, `safetensors`, `numpy` and `pandas`" in card and "joblib" not in card and "rows.csv" in card
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
    # JSON lines' true is no number, an object or list no category (both were answered: true read as 1)
    lines.write_text('{"size": 0.5, "weight": 4.2, "colour": "red", "shape": "round"}\n'
                     '{"size": true, "weight": 4.2, "colour": "red", "shape": "round"}\n', encoding="utf-8")
    with pytest.raises(HeadStartError, match="row 2: column 'size' holds numbers, got true"):
        predict(store, exp, read_inputs(lines, rows=True))
    with pytest.raises(HeadStartError, match=r"row 1: column 'colour' holds categories \(a text or a number\), got an "
                                             r'object \({"a": \[1\]}\)'):
        predict(store, exp, [{"size": 1, "weight": 2, "colour": {"a": [1]}, "shape": "round"}])


def _txt(tmp_path: Path) -> Path:
    path = tmp_path / "rows.txt"
    path.write_text("0.5 4.2 red round\n", encoding="utf-8")
    return path


# -- an exported folder is data, never code (issue 39) ------------------------------------------------

def _as_rows(frame: pd.DataFrame) -> list[dict]:
    return [{c: (None if pd.isna(v) else v) for c, v in r.items()} for r in frame.to_dict("records")]


@pytest.mark.parametrize("source", ["builtin:penguins", "builtin:mpg", "rare-and-unseen"])
def test_preprocessing_json_gives_the_fitted_transformers_features(source):
    """preprocessing.json applied with numpy equals the fitted scikit-learn ColumnTransformer on real rows: penguins
    (missing numbers and categories), mpg (many categories, rare ones sharing a column) and a table whose eval rows hold
    categories never seen in training, a column with no rare category, infinities and blanks."""
    import numpy as np

    from training.tasks.tabular import fitted
    from training.tasks.tabular.data import fit_preprocessor, load_tabular_table, table_from_frame
    from training.tasks.tabular.model import rows_frame

    if source == "rare-and-unseen":
        frame = pd.DataFrame(tabular_rows(300))
        frame.loc[::7, "colour"] = "teal"  # frequent
        frame.loc[4, "colour"] = "mauve"  # rare: seen once, in training; shape has no rare value
        table = table_from_frame(frame, "tabular-classification", "label", None, "rare.csv")
    else:
        table = load_tabular_table(source, "tabular-classification" if "penguins" in source else "tabular-regression")
    train = np.arange(0, len(table), 2)
    prep = fit_preprocessor(table, train, table.label_names, table.task)
    spec = json.loads(json.dumps(fitted.parameters(prep.columns)))  # as the folder holds it
    mine = fitted.from_spec(spec, Path("preprocessing.json"))
    rows = _as_rows(table.frame.iloc[np.arange(1, len(table), 2)])
    rows += [{**rows[0], **{c: "never-seen" for c in prep.categorical}}, {c: None for c in rows[0]},
             {**rows[1], **{c: "inf" for c in prep.numeric}}]
    assert mine.feature_names == prep.feature_names
    if source != "builtin:penguins":
        assert any(c["other"] for c in spec["categorical"])
    if source == "rare-and-unseen":
        assert not all(c["other"] for c in spec["categorical"])
    frame = rows_frame(prep, rows)
    np.testing.assert_allclose(mine.transform(frame), prep.transform(frame), atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def exported_table(finished_table, tmp_path_factory):
    store, exp, _ = finished_table
    return export_model(store, runs_of(store, exp)[0].id, tmp_path_factory.mktemp("exported") / "model")


def _copy(folder: Path, to: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, to / "copy"))


def _pickle_that_touches(marker: Path) -> bytes:
    import os
    import pickle

    class Touch:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    return pickle.dumps(Touch())


def test_predict_never_unpickles_a_folders_preprocessing_joblib(exported_table, tmp_path):
    """A crafted preprocessing.joblib whose unpickling would create a marker file is never loaded: an older folder with
    only that file is refused with what to do, and beside a preprocessing.json it is ignored (CLI and library)."""
    marker = tmp_path / "unpickled"
    rows = tmp_path / "rows.csv"
    rows.write_text("size,weight,colour,shape\n0.5,4.2,red,round\n", encoding="utf-8")
    beside = _copy(exported_table, tmp_path / "beside")
    (beside / "preprocessing.joblib").write_bytes(_pickle_that_touches(marker))
    ran = subprocess.run([sys.executable, "-m", "training", "predict", str(beside), "--input", str(rows)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    older = _copy(exported_table, tmp_path / "older")
    (older / "preprocessing.json").unlink()
    (older / "preprocessing.joblib").write_bytes(_pickle_that_touches(marker))
    ran = subprocess.run([sys.executable, "-m", "training", "predict", str(older), "--input", str(rows)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 2 and "older Head Start" in ran.stderr and "export-model" in ran.stderr, ran.stderr
    with pytest.raises(HeadStartError, match="never loads a pickle"):
        predict(None, str(older), [{"size": 1, "weight": 2, "colour": "red", "shape": "round"}])
    assert not marker.exists()


def _edit_json(path: Path, edit) -> None:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


@pytest.mark.parametrize("file, edit, words", [
    ("preprocessing.json", lambda s: s.update(format="joblib"), "names no format"),
    ("preprocessing.json", lambda s: s["numeric"][0].update(scale=0), "numeric\\[0\\].scale must be above 0"),
    ("preprocessing.json", lambda s: s["numeric"][0].update(mean="1e999"), "numeric\\[0\\].mean must be a finite"),
    ("preprocessing.json", lambda s: s["categorical"][0].update(categories=["a", "a"]), "repeats a category"),
    ("preprocessing.json", lambda s: s["categorical"][0].update(categories=[str(i) for i in range(101)]),
     "at most 100 items"),
    ("preprocessing.json", lambda s: s["feature_names"].pop(), "names for the"),
    ("preprocessing.json", lambda s: s.update(missing_indicators=["colour"]), "must name numeric columns"),
    ("config.json", lambda c: c.update(width=10 ** 9), "width must be a whole number"),
    ("config.json", lambda c: c.update(n_features=c["n_features"] + 1), "feature count differ"),
    ("config.json", lambda c: c.update(depth=c["depth"] + 1), "do not match config.json"),
    ("config.json", lambda c: c.update(target_scale=float("nan")), "target_scale must be a finite"),
])
def test_a_tampered_folder_is_refused_naming_its_file(exported_table, tmp_path, file, edit, words):
    folder = _copy(exported_table, tmp_path)
    _edit_json(folder / file, edit)
    with pytest.raises(HeadStartError, match=words) as caught:
        predict(None, str(folder), [{"size": 1, "weight": 2, "colour": "red", "shape": "round"}])
    assert str(folder) in str(caught.value) and file in str(caught.value) and "export-model" in str(caught.value)


def test_a_folder_with_deep_or_huge_json_is_refused(exported_table, tmp_path):
    folder = _copy(exported_table, tmp_path)
    (folder / "preprocessing.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(HeadStartError, match="preprocessing.json is not JSON"):
        predict(None, str(folder), [{"size": 1, "weight": 2, "colour": "red", "shape": "round"}])


def test_export_model_out_never_removes_what_it_did_not_create(finished_table, tmp_path, capsys):
    """`--out W/mywork` beside the user's own W/mywork.tmp leaves it be; `--out` a file, a symbolic link or a folder
    holding anything is refused naming it (the CLI's user-error exit, 2), everything there untouched; a failed export
    leaves no folder behind, not even the parents it made."""
    import os

    from training.__main__ import main

    store, exp, _ = finished_table
    run = runs_of(store, exp)[0].id
    mine = tmp_path / "mywork.tmp"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    export_model(store, run, tmp_path / "mywork")
    assert (mine / "notes.txt").read_text() == "mine" and (tmp_path / "mywork" / "preprocessing.json").is_file()

    a_file, target = tmp_path / "a-file", tmp_path / "target"
    a_file.write_text("keep")
    target.mkdir()
    link = tmp_path / "link"
    os.symlink(target, link)
    for out, words in ((a_file, "is a file, not a folder"), (link, "is a symbolic link"),
                       (mine, "exists and is not empty"), (a_file / "model", "is a file, not a folder"),
                       (tmp_path / ("x" * 300), "File name too long; choose another folder")):  # was exit 3
        assert main(["export-model", run, "--store", str(store.root), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert words in err and str(out) in err, err
    assert a_file.read_text() == "keep" and link.is_symlink() and list(target.iterdir()) == []
    before = sorted(p.name for p in tmp_path.iterdir())

    assert main(["export-model", "r-no-such-run", "--store", str(store.root), "--out", str(tmp_path / "new" / "deep" /
                                                                                          "model")]) == 2
    assert "no run 'r-no-such-run'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing half-written, no parent left behind
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export-model", run, "--store", str(store.root), "--out", str(empty)]) == 0  # an empty folder is filled
    assert (empty / "headstart.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_predict_answers_a_file_of_many_batches_and_names_a_bad_row_by_its_place_in_the_file(exported_table, tmp_path,
                                                                                            capsys, monkeypatch):
    """Rows are read and answered a batch at a time (here 64): every row is answered as `predict` answers it alone,
    in order; a bad value in a later batch is named by its row in the file, and nothing is printed."""
    import csv

    from training.__main__ import main
    from training.delivery import inputs

    monkeypatch.setattr(inputs, "BATCH", 64)
    rows = [{k: ("" if v is None else v) for k, v in r.items() if k in ("size", "weight", "colour", "shape")}
            for r in tabular_rows(300, seed=5)]
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for fmt in ("json", "csv"):
        assert main(["predict", str(exported_table), "--input", str(path), "--format", fmt]) == 0
        printed = capsys.readouterr().out
        if fmt == "json":
            got = json.loads(printed)["predictions"]
    expected = predict(None, str(exported_table), read_inputs(path, rows=True))["predictions"]
    assert got == expected and len(got) == 300
    assert len(printed.strip().splitlines()) == 301
    rows[199]["size"] = "big"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["predict", str(exported_table), "--input", str(path)]) == 2
    out = capsys.readouterr()
    assert "rows.csv, row 200: column 'size' holds numbers, got 'big'" in out.err and out.out == ""


def test_a_table_folder_whose_weights_are_a_fifo_is_refused_not_waited_on(exported_table, tmp_path):
    """A FIFO named model.safetensors (tar archives carry FIFOs) blocked predict forever in safe_open."""
    import os

    folder = _copy(exported_table, tmp_path)
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    rows = tmp_path / "rows.csv"
    rows.write_text("size,weight,colour,shape\n0.5,4.2,red,round\n", encoding="utf-8")
    ran = subprocess.run([sys.executable, "-m", "training", "predict", str(folder), "--input", str(rows)], cwd=ROOT,
                         capture_output=True, text=True, timeout=90)
    assert ran.returncode == 2 and f"{folder / 'model.safetensors'} is not what export-model writes: it is not a " \
                                   "regular file" in ran.stderr, ran.stderr
