"""A finished run's delivered model answers new inputs (`python -m training predict`): rebuilt from its checkpoint, it
gives its own eval texts exactly the labels it was scored with, for every strategy; the CLI puts the strategies side by
side and names what is wrong with an input file."""
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.config import BudgetConfig
from training.delivery.predict import predict, runs_of
from training.service.execution import run_experiment
from training.service.store import Store
from training.tasks import task_kind
from training.testing import tiny_classification_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_bert_dir):
    from training.testing import topic_rows

    root = tmp_path_factory.mktemp("predict")
    data = root / "topics.csv"
    rows = topic_rows(240)
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cfg = tiny_classification_config(tiny_bert_dir, data, strategies=("scratch", "full", "lora", "head"),
                                     budget=BudgetConfig(policy="steps", steps=12))
    store = Store(root / "store")
    exp = run_experiment(cfg, store)
    return store, exp, cfg


def test_each_run_answers_its_eval_texts_with_the_labels_it_was_scored_with(finished):
    store, exp, cfg = finished
    kind = task_kind(cfg.task)
    base = kind.resolve_base(cfg.model.base)
    data = kind.prepare_data(cfg.data, kind.load_processor(base, cfg.model), cfg.model.max_length, store.cache_dir)
    texts, names = data.texts["eval"], data.label_names
    runs = runs_of(store, exp)
    assert sorted(r.strategy for r in runs) == ["full", "head", "lora", "scratch"]
    out = predict(store, exp, texts)
    assert len(out["predictions"]) == len(texts) and out["predictions"][0]["input"] == texts[0]
    for run in runs:
        answers = [p["by"][run.id] for p in out["predictions"]]
        items = run.result["eval_items"]["best" if answers[0]["weights"] == "best" else "end"]
        assert [a["label"] for a in answers] == [names[c] for c in items["y_pred"]], run.strategy
        assert all(abs(sum(a["scores"].values()) - 1) < 1e-4 and a["scores"][a["label"]] == max(a["scores"].values())
                   for a in answers)
        accuracy = sum(a["label"] == names[y] for a, y in zip(answers, items["y_true"], strict=True)) / len(texts)
        scored = run.result["eval_best" if answers[0]["weights"] == "best" else "eval"]["accuracy"]
        assert accuracy == pytest.approx(scored)
    # the four strategies did not all learn the same function: the side-by-side view has something to show
    assert len({tuple(p["by"][r.id]["label"] for p in out["predictions"]) for r in runs}) > 1


def test_the_cli_answers_side_by_side_and_names_a_bad_input(finished, tmp_path):
    store, exp, _ = finished
    texts = tmp_path / "texts.txt"
    texts.write_text("numpy arrays and broadcasting\n\nhttp requests and sockets\n", encoding="utf-8")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "training", "predict", *args, "--store", str(store.root)],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    out = cli(exp, "--input", str(texts))
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)["predictions"]
    assert [a["input"] for a in answers] == ["numpy arrays and broadcasting", "http requests and sockets"]
    assert sorted(a["strategy"] for a in answers[0]["by"].values()) == ["full", "head", "lora", "scratch"]

    one = runs_of(store, exp)[0].id
    table = tmp_path / "t.csv"
    table.write_text("id,text\n1,numpy arrays\n", encoding="utf-8")
    out = cli(one, "--input", str(table), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 1 and rows[0]["run_id"] == one and rows[0]["input"] == "numpy arrays"

    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,x\n", encoding="utf-8")
    out = cli(exp, "--input", str(bad))
    assert out.returncode == 2 and "bad.csv has no column 'text' (its columns: id, body)" in out.stderr
    out = cli(exp, "--input", str(tmp_path / "missing.txt"))
    assert out.returncode == 2 and "missing.txt does not exist" in out.stderr
    out = cli("nothing-here", "--input", str(texts))
    assert out.returncode == 2 and "'nothing-here' is neither a run nor an experiment" in out.stderr


def test_an_exported_folder_answers_as_the_store_does_and_its_card_loads_it_with_transformers(finished, tmp_path):
    from training.delivery.predict import export_model

    store, exp, _ = finished
    texts = ["numpy arrays and broadcasting", "a text to classify", "http requests and sockets"]
    from_store = predict(store, exp, texts)
    for run in runs_of(store, exp):
        folder = export_model(store, run.id, tmp_path / run.strategy)
        names = sorted(p.name for p in folder.iterdir())
        assert {"config.json", "model.safetensors", "head.safetensors", "headstart.json", "README.md"} <= set(names)
        assert any(n.startswith("tokenizer") or n == "vocab.txt" for n in names)
        assert ("adapter" in names) == (run.strategy == "lora")  # LoRA: its adapter as trained, merged weights
        config = json.loads((folder / "config.json").read_text())
        assert list(config["id2label"].values()) == json.loads((folder / "headstart.json").read_text())["labels"]
        from_folder = predict(None, str(folder), texts)
        for a, b in zip(from_store["predictions"], from_folder["predictions"], strict=True):
            mine, theirs = a["by"][run.id], b["by"][run.id]
            assert mine["label"] == theirs["label"] and mine["weights"] == theirs["weights"], run.strategy
            assert all(abs(mine["scores"][k] - theirs["scores"][k]) < 1e-5 for k in mine["scores"])
        card = (folder / "README.md").read_text()
        assert f"Run `{run.id}`" in card and "95% interval" in card
        snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
        ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300,
                             cwd=folder.parent)  # as the card says: from the folder that holds it
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip().splitlines()[-1] == repr([from_store["predictions"][1]["by"][run.id]["label"]])


def test_export_model_refuses_a_used_folder_and_leaves_nothing_half_written(finished, tmp_path):
    store, exp, _ = finished
    run = runs_of(store, exp)[0].id
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    out = subprocess.run([sys.executable, "-m", "training", "export-model", run, "--store", str(store.root),
                          "--out", str(used)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "used exists and is not empty" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]
    out = subprocess.run([sys.executable, "-m", "training", "export-model", run, "--store", str(store.root),
                          "--out", str(tmp_path / "model")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    texts = tmp_path / "t.txt"
    texts.write_text("numpy arrays\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "training", "predict", str(tmp_path / "model"), "--input", str(texts)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # no store: the folder is enough
    assert out.returncode == 0, out.stderr
    assert list(json.loads(out.stdout)["predictions"][0]["by"]) == [run]
