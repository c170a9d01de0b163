"""A chat run's delivered model answers prompts as it answered its own eval prompts (the same greedy generation); a
language model continues a text. Each exports as a folder transformers loads (a LoRA run's adapters merged, the
adapter kept), answers from the folder as from the store, and its model card's code runs with transformers alone."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.delivery.predict import export_model, predict, runs_of
from training.errors import HeadStartError
from training.service.execution import run_experiment
from training.service.store import Store
from training.tasks import task_kind
from training.testing import chat_rows, code_docs, tiny_chat_config, tiny_lm_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished_chat(tmp_path_factory, tiny_chat_dir):
    root = tmp_path_factory.mktemp("chat")
    data = root / "support.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in chat_rows(80)), encoding="utf-8")
    cfg = tiny_chat_config(tiny_chat_dir, data, probes=[])
    store = Store(root / "store")
    return store, run_experiment(cfg, store), cfg


def test_each_chat_run_answers_its_eval_prompts_as_it_did_and_its_folder_answers_the_same(finished_chat, tmp_path):
    from training.tasks.chat.samples import build_samples

    store, exp, cfg = finished_chat
    kind = task_kind(cfg.task)
    tokenizer = kind.load_processor(kind.resolve_base(cfg.model.base), cfg.model)
    data = kind.prepare_data(cfg.data, tokenizer, cfg.model.max_length, store.cache_dir)
    prompts = build_samples(cfg, data, tokenizer)["eval"].prompts  # in the order the run answered them
    runs = runs_of(store, exp)
    assert sorted(r.strategy for r in runs) == ["full", "lora", "scratch"]
    out = predict(store, exp, prompts)
    for run in runs:
        weights = out["predictions"][0]["by"][run.id]["weights"]
        logged = [e for e in store.events(run.id) if e["kind"] == "generations"]
        shown = next(json.loads(e["data_json"]) for e in logged
                     if json.loads(e["data_json"])["split"] == "eval" and json.loads(e["data_json"])["weights"] == weights)
        answers = [p["by"][run.id]["answer"] for p in out["predictions"]]
        assert answers[: len(shown["items"])] == [i["output"] for i in shown["items"]], run.strategy
    for run in (r for r in runs if r.strategy in ("lora", "full")):
        folder = export_model(store, run.id, tmp_path / run.strategy)
        names = {p.name for p in folder.iterdir()}
        assert {"config.json", "model.safetensors", "headstart.json", "README.md"} <= names
        assert ("adapter" in names) == (run.strategy == "lora")
        one = ["How do I reset my password?"]
        from_store = predict(store, run.id, one)["predictions"][0]["by"][run.id]["answer"]
        assert predict(None, str(folder), one)["predictions"][0]["by"][run.id]["answer"] == from_store
        card = (folder / "README.md").read_text()
        snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
        ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300,
                             cwd=folder.parent)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip().splitlines()[-1] == repr(from_store)
    with pytest.raises(HeadStartError, match="input 1: a chat input is a text"):
        predict(store, exp, [[{"speaker": "me", "text": "hi"}]])


def test_a_language_model_continues_a_text_and_exports_for_transformers(tmp_path, tiny_gpt2_dir):
    data = tmp_path / "code.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in code_docs(60)), encoding="utf-8")
    cfg = tiny_lm_config(tiny_gpt2_dir, data, strategies=("full",), probes=[])
    store = Store(tmp_path / "store")
    exp = run_experiment(cfg, store)
    run = runs_of(store, exp)[0]
    answer = predict(store, exp, ["def "])["predictions"][0]["by"][run.id]["answer"]
    assert isinstance(answer, str)
    folder = export_model(store, run.id, tmp_path / "model")
    assert predict(None, str(folder), ["def "])["predictions"][0]["by"][run.id]["answer"] == answer
    snippet = (folder / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
    ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == repr(answer)


def test_try_it_asks_the_chat_runs_and_the_base_model_beside_them(finished_chat):
    from training.delivery.predict import BASE, load_base
    from training.delivery.predictor import Predictor, ask
    from training.tasks.chat.generate import answer_conversations

    store, exp, cfg = finished_chat
    runs = [r.id for r in runs_of(store, exp)]
    qid = ask(store, exp, runs + [BASE], ["How do I reset my password?"], "local")
    Predictor(store).handle(store.claim_prediction())
    q = store.prediction(qid)
    assert q["status"] == "answered", q["error"]
    by = q["answer"]["predictions"][0]["by"]
    assert set(by) == set(runs) | {BASE} and by[BASE]["strategy"] == "base model"
    base = load_base(store, exp)
    assert by[BASE]["answer"] == answer_conversations(base.model, base.processor, ["How do I reset my password?"],
                                                      cfg.train.generation_tokens)[0]["answer"]
