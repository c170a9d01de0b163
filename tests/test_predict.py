"""A finished run's delivered model answers new inputs (`python -m training predict`): rebuilt from its checkpoint, it
gives its own eval texts exactly the labels it was scored with, for every strategy; the CLI puts the strategies side by
side and names what is wrong with an input file."""
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    cfg = tiny_classification_config(tiny_bert_dir, data, strategies=("scratch", "own", "full", "lora", "head"),
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
    assert sorted(r.strategy for r in runs) == ["full", "head", "lora", "own", "scratch"]
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
    # the five strategies did not all learn the same function: the side-by-side view has something to show
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
    assert sorted(a["strategy"] for a in answers[0]["by"].values()) == ["full", "head", "lora", "own", "scratch"]

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
        assert any(n.startswith("tokenizer") or n == "vocab.txt" for n in names)
        if run.strategy == "own":  # a bag of words: its embeddings and head, the tokenizer fitted on its texts
            assert {"model.safetensors", "headstart.json", "README.md"} <= set(names) and "config.json" not in names
        else:
            assert {"config.json", "model.safetensors", "head.safetensors", "headstart.json", "README.md"} <= set(names)
            config = json.loads((folder / "config.json").read_text())
            assert list(config["id2label"].values()) == json.loads((folder / "headstart.json").read_text())["labels"]
        assert ("adapter" in names) == (run.strategy == "lora")  # LoRA: its adapter as trained, merged weights
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


def test_where_they_disagree_renders_the_answers_the_tables_scored(finished):
    """Compare's per-example view is the runs' own stored answers: each column's accuracy is the run's scored accuracy,
    the examples are the eval texts in their order, the confidences are the model's, and the confusion matrices and
    "what pretraining knew" count the same rows."""
    from training.analysis.disagreement import (
        answer_sources,
        answers_table,
        confident_mistakes,
        confusion,
        disagreements,
        pretraining_knew,
    )
    from training.analysis.frames import references_frame
    from training.analysis.report import analyse

    store, exp, cfg = finished
    kind = task_kind(cfg.task)
    base = kind.resolve_base(cfg.model.base)
    data = kind.prepare_data(cfg.data, kind.load_processor(base, cfg.model), cfg.model.max_length, store.cache_dir)
    assert store.eval_inputs(exp) == data.texts["eval"]
    a = analyse(store, exp)
    labels = store.experiment(exp).info["label_names"]
    n = int(a.runs["n_train"].max())
    refs = references_frame(store, exp)
    sources = answer_sources(a.runs, refs, n, 0)
    names = [s for s, _ in sources]
    assert {"scratch", "full", "lora", "head"} <= set(names)
    assert any(s.startswith("classical: ") for s in names) == (not refs.empty)
    table = answers_table(sources, store.eval_inputs(exp), labels, classification=True)
    assert len(table) == len(data.texts["eval"]) and list(table["input"]) == data.texts["eval"]
    runs = a.runs[(a.runs["n_train"] == n) & (a.runs["seed"] == 0)].set_index("strategy")
    for s in ("scratch", "full", "lora", "head"):
        assert (table[s] == table["true"]).mean() == pytest.approx(runs.loc[s, "eval_accuracy"]), s
        assert table[f"confidence: {s}"].between(1 / len(labels) - 1e-3, 1.0).all()
    # the stored confidence is the delivered model's own probability for its answer
    answered = predict(store, exp, data.texts["eval"][:5], [runs.loc["full", "run_id"]])
    assert [p["by"][runs.loc["full", "run_id"]]["scores"][table["full"][i]] for i, p in enumerate(answered["predictions"])] \
        == pytest.approx(list(table["confidence: full"][:5]), abs=1e-3)
    dis = disagreements(table, True)
    assert len(dis) == int((~table["agree"]).sum()) and (dis["right"].diff().dropna() >= 0).all()
    for s, items in sources:
        m = confusion(items, labels)
        assert m.to_numpy().sum() == len(table) and m.to_numpy().trace() == int((table[s] == table["true"]).sum())
    wrong = confident_mistakes(table, "scratch", k=1000)
    assert len(wrong) == int((table["scratch"] != table["true"]).sum())
    assert wrong["confidence: scratch"].is_monotonic_decreasing
    knew = pretraining_knew(table, names)
    pre = ["full", "lora", "head"]
    assert knew["pretrained"] == [s for s in names if s in pre]
    expect = (table["scratch"] != table["true"]) & np.logical_and.reduce([table[s] == table["true"] for s in pre])
    assert len(knew["knew"]) == int(expect.sum())


def test_the_predictor_answers_through_the_store_and_keeps_its_models(finished, monkeypatch):
    """Try it's path: a page asks through the store, the predictor process answers what `predict` answers; the second
    question does not load the models again; policy is checked where the question is asked and again where it is
    answered."""
    import time

    from training.delivery.predictor import Predictor, ask, check_question
    from training.errors import HeadStartError

    store, exp, _ = finished
    runs = [r.id for r in runs_of(store, exp)]
    proc = subprocess.Popen([sys.executable, "-m", "training", "predictor", "--store", str(store.root), "--idle", "120"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def wait(qid, timeout=240):
            t0 = time.monotonic()
            while time.monotonic() - t0 < timeout:
                q = store.prediction(qid)
                if q["status"] in ("answered", "failed"):
                    return q
                time.sleep(0.05)
            raise AssertionError(f"no answer to {qid} in {timeout} s")

        assert wait(ask(store, exp, runs, [], "local"))["status"] == "answered"  # loads the four models
        texts = ["numpy arrays and broadcasting", "http requests and sockets"]
        q = wait(ask(store, exp, runs, texts, "local"))
        assert q["status"] == "answered", q["error"]
        direct = predict(store, exp, texts)
        assert [{r: p["by"][r]["label"] for r in runs} for p in q["answer"]["predictions"]] == \
               [{r: p["by"][r]["label"] for r in runs} for p in direct["predictions"]]
        assert q["answer"]["seconds"] < 5  # computing only: the models were loaded by the first question
        bad = wait(store.ask_prediction(exp, ["r-nope"], texts, "local"))  # straight into the store, past `ask`
        assert bad["status"] == "failed" and "not a finished run" in bad["error"]
        # a second predictor on the same store steps aside
        second = subprocess.run([sys.executable, "-m", "training", "predictor", "--store", str(store.root)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 0 and "already serves" in second.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # policy, in the page's words
    with pytest.raises(HeadStartError, match="at most 20 inputs"):
        check_question(store, exp, runs, ["x"] * 21, "local")
    monkeypatch.setenv("HEADSTART_MODE", "team")
    with pytest.raises(HeadStartError, match="only the experiment's owner"):
        ask(store, exp, runs, ["x"], "mallory")
    qid = store.ask_prediction(exp, runs, ["x"], "mallory")  # asked past the page: refused where it is answered
    Predictor(store).handle(store.claim_prediction())
    assert store.prediction(qid)["status"] == "failed" and "owner" in store.prediction(qid)["error"]
    monkeypatch.setenv("HEADSTART_MODE", "demo")
    monkeypatch.setenv("HEADSTART_DEMO_PREDICTIONS_PER_HOUR", "1")
    store.set_owner(exp, "ann")
    try:
        ask(store, exp, runs, ["x"], "ann")
        with pytest.raises(HeadStartError, match="at most 1 questions an hour"):
            ask(store, exp, runs, ["x"], "ann")
    finally:
        store.set_owner(exp, "local")


def test_finished_runs_keep_only_their_weights_and_unused_checkpoints_are_freed(finished, tmp_path):
    """A finished grid run's checkpoint keeps the weights it answers with, not the optimizer state only resuming needs;
    Runs' disk figures split what answers from what no one can answer with, and freeing removes only the latter."""
    from training.service.records import Status
    from training.testing import make_finished_experiment

    store, exp, _ = finished
    for run in runs_of(store, exp):
        ckpt = store.run_dir(run.id) / "checkpoint"
        assert (ckpt / "trainable.safetensors").is_file() and not (ckpt / "state.pt").exists(), run.strategy
    use = store.disk_use(exp)
    assert use["models"] > 0 and use["unused"] == 0 and use["other"] > 0

    other = Store(tmp_path / "store")
    eid = make_finished_experiment(other)
    done, stopped = [r for r in other.runs(eid) if r.role == "grid"][:2]
    other.update_run(stopped.id, status=Status.CANCELLED)
    for run, size in ((done, 1000), (stopped, 3000)):
        (other.run_dir(run.id) / "checkpoint").mkdir(parents=True)
        (other.run_dir(run.id) / "checkpoint" / "trainable.safetensors").write_bytes(b"w" * size)
    (other.run_dir(stopped.id) / "best").mkdir()
    (other.run_dir(stopped.id) / "best" / "trainable.safetensors").write_bytes(b"b" * 500)
    use = other.disk_use(eid)
    assert (use["models"], use["unused"]) == (1000, 3500)
    assert other.free_disk(eid) == 3500
    assert not (other.run_dir(stopped.id) / "checkpoint").exists() and not (other.run_dir(stopped.id) / "best").exists()
    assert (other.run_dir(done.id) / "checkpoint" / "trainable.safetensors").is_file()
    assert other.disk_use(eid)["unused"] == 0 and other.free_disk(eid) == 0


def test_an_exported_folder_pushes_to_the_hub_through_huggingface_hub(finished, tmp_path, monkeypatch):
    """The real push (huggingface_hub's create_repo and upload_folder) against a mocked network edge: every file of the
    folder arrives in one commit with the user's token; a refusal is said without the token; no token, no push."""
    import base64
    import gzip

    import httpx
    import huggingface_hub
    from huggingface_hub.utils._http import close_session, default_client_factory

    from training.delivery.hub import push_model
    from training.delivery.predict import export_model
    from training.errors import HeadStartError

    store, exp, _ = finished
    run = next(r for r in runs_of(store, exp) if r.strategy == "head")
    folder = export_model(store, run.id, tmp_path / "model")
    seen, committed = [], {}
    refuse = {"on": False}

    def edge(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append((request.method, path, request.headers.get("authorization")))
        if refuse["on"]:
            return httpx.Response(403, json={"error": "You don't have the rights to create a model under this namespace"})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            assert (body["name"], body["organization"]) == ("topics", "ann")
            assert body.get("private") is True or body.get("visibility") == "private", body  # private by default
            return httpx.Response(200, json={"url": "https://huggingface.co/ann/topics", "name": "ann/topics"})
        if path == "/api/validate-yaml":
            return httpx.Response(200, json={"errors": [], "warnings": []})
        if path == "/api/models/ann/topics/preupload/main":
            return httpx.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                       for f in json.loads(request.content)["files"]]})
        if path == "/api/models/ann/topics/commit/main":
            body = gzip.decompress(request.content) if request.headers.get("content-encoding") == "gzip" else request.content
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item.get("key") == "file":
                    committed[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            return httpx.Response(200, json={"commitUrl": "https://huggingface.co/ann/topics/commit/" + "a" * 40,
                                             "commitOid": "a" * 40})
        return httpx.Response(200, json={})  # anything else the client asks on the way (e.g. its own settings)

    huggingface_hub.set_client_factory(lambda: httpx.Client(transport=httpx.MockTransport(edge)))
    try:
        assert push_model(folder, "ann/topics", token="hf_secret_token") == "https://huggingface.co/ann/topics"
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        assert committed == files
        auth = {path: a for _, path, a in seen}
        assert {auth[p] for p in ("/api/repos/create", "/api/models/ann/topics/preupload/main",
                                  "/api/models/ann/topics/commit/main")} == {"Bearer hf_secret_token"}
        refuse["on"] = True
        with pytest.raises(HeadStartError, match="the hub refused the push to ann/topics") as e:
            push_model(folder, "ann/topics", token="hf_secret_token")
        assert "hf_secret_token" not in str(e.value)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with pytest.raises(HeadStartError, match="needs a write token: set HF_TOKEN"):
            push_model(folder, "ann/topics")
        with pytest.raises(HeadStartError, match="USER/NAME"):
            push_model(folder, "topics", token="t")
    finally:
        huggingface_hub.set_client_factory(default_client_factory)
        close_session()


def test_the_page_says_own_read_more_of_each_text_than_the_pretrained_models(finished):
    """own's bag of words reads up to 512 tokens where the experiment's max length is 24: a warning says so, with what to
    change to compare on the same text (on film reviews cut at 64 tokens own was recommended over fine-tuning)."""
    from training.analysis.report import analyse

    store, exp, _ = finished
    own = next(r for r in store.runs(exp) if r.role == "grid" and r.strategy == "own")
    assert own.result["max_length"] == 512
    (said,) = [f for f in analyse(store, exp).findings if f["kind"] == "input_length"]
    assert said["severity"] == "warning" and said["message"].startswith("own read up to 512 tokens")
    assert "raise model.max_length (now 24)" in said["advice"]
