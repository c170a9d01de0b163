"""Whole experiments: bad input stores nothing; a user CSV runs end to end on MiniLM; the CLI; the hybrid."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from training.analysis.results import run_rows
from training.config import (
    BudgetConfig,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    PretrainConfig,
    ProbeConfig,
    StrategyConfig,
    TrainConfig,
)
from training.errors import DataError, HeadStartError
from training.service.execution import run_experiment
from training.service.planning import launch
from training.testing import tiny_classification_config, topic_rows


def _assert_store_empty(store):
    assert store.experiments() == []
    assert store.runs() == []
    assert not (store.root / "runs").exists() or not any((store.root / "runs").iterdir())
    assert not (store.root / "experiments").exists() or not any((store.root / "experiments").iterdir())


def _write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case, message", [
    ("unknown column", "label column 'label' not found .*columns are: text, sentiment"),
    ("one class", "only one class"),
    ("empty file", "is empty"),
    ("non-utf8", "not UTF-8"),
    ("too large N", "training-set size 5,000 is larger than the .* training examples .* or 'all'"),
])
def test_bad_data_gives_a_clear_error_and_stores_nothing(case, message, tmp_path, tiny_bert_dir, store):
    rows = topic_rows(80)
    if case == "unknown column":
        data = tmp_path / "d.csv"
        pd.DataFrame({"text": [r["text"] for r in rows], "sentiment": [r["label"] for r in rows]}).to_csv(data, index=False)
    elif case == "one class":
        data = tmp_path / "d.csv"
        pd.DataFrame({"text": [r["text"] for r in rows], "label": "sports"}).to_csv(data, index=False)
    elif case == "empty file":
        data = _write(tmp_path, "d.csv", b"")
    elif case == "non-utf8":
        latin1 = "\n".join(f"caf\xe9 {i},{i % 2}" for i in range(40)).encode("latin-1")
        data = _write(tmp_path, "d.csv", b"text,label\n" + latin1)
    else:
        data = tmp_path / "d.csv"
        pd.DataFrame(rows).to_csv(data, index=False)
    cfg = tiny_classification_config(tiny_bert_dir, data)
    cfg.data.group_column = None
    if case == "too large N":
        cfg.sizes = [20, 5000]
    with pytest.raises(DataError, match=message):
        launch(cfg, store)
    _assert_store_empty(store)


def test_unknown_model_directory_stores_nothing(tmp_path, topic_csv, store):
    with pytest.raises(HeadStartError, match="not builtin:minilm-l6, hf:ORG/NAME or an existing directory"):
        launch(tiny_classification_config(tmp_path / "nowhere", topic_csv), store)
    _assert_store_empty(store)


def test_user_csv_runs_end_to_end_on_minilm(tmp_path, store):
    """A CSV with text and label columns, built here, fine-tuned from the real MiniLM weights."""
    data = tmp_path / "tickets.csv"
    pd.DataFrame(topic_rows(160)).drop(columns=["doc"]).to_csv(data, index=False)
    cfg = ExperimentConfig(
        name="my csv", task="text-classification", data=DataConfig(source=str(data), eval_max=40),
        model=ModelConfig(base="builtin:minilm-l6", max_length=16),
        strategies=[StrategyConfig("full"), StrategyConfig("head")], sizes=[48], seeds=[0],
        budget=BudgetConfig(policy="steps", steps=8), train=TrainConfig(batch_size=8, evals_per_run=1),
        probes=[ProbeConfig(kind="retrieval", max_examples=16)],
        lr_sweep=None, references=False)  # the search and the references have tests of their own; two runs here
    exp = run_experiment(cfg, store)
    rows = {r["strategy"]: r for r in run_rows(store, exp)}
    assert all(r["status"] == "done" for r in rows.values()), rows
    assert rows["head"]["forgetting"] == 0.0  # the encoder never changed
    assert rows["full"]["trainable_params"] > 100 * rows["head"]["trainable_params"]
    assert rows["full"]["eval_metric"] > 0.25 and rows["head"]["eval_metric"] > 0.25  # 4 balanced classes
    assert (store.experiment_dir(exp) / "config.yaml").is_file()
    assert json.loads((store.run_dir(rows["full"]["run_id"]) / "config.json").read_text())["strategy"] == "full"


def test_cli_runs_a_config_file_and_exports(tmp_path, tiny_bert_dir, topic_csv):
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["scratch", "lora"])
    path = tmp_path / "exp.yaml"
    cfg.save(path)
    store = tmp_path / "cli-store"
    run = subprocess.run([sys.executable, "-m", "training", "run", str(path), "--store", str(store),
                          "--set", "budget.steps=4"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    exp_id = run.stdout.strip().splitlines()[-1]
    out = subprocess.run([sys.executable, "-m", "training", "export", exp_id, "--store", str(store), "--format", "csv"],
                         capture_output=True, text=True, check=True)
    header = out.stdout.splitlines()[0].split(",")
    for col in ("strategy", "n_train", "seed", "status", "eval_metric", "eval_loss", "probe_baseline", "probe_final",
                "wall_s", "flops", "peak_mem_bytes", "trainable_params"):
        assert col in header
    assert len(out.stdout.strip().splitlines()) == 3
    rows = json.loads(subprocess.run([sys.executable, "-m", "training", "export", exp_id, "--store", str(store),
                                      "--format", "json"], capture_output=True, text=True, check=True).stdout)
    steps = {r["strategy"]: r["steps"] for r in rows}
    assert steps["lora"] == 4 and steps["scratch"] <= 16  # scratch trains until a plateau, at most 4× the budget
    bad = subprocess.run([sys.executable, "-m", "training", "run", "quik", "--store", str(store)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "neither a preset (quick" in bad.stderr


def test_hybrid_pretrains_counts_the_cost_and_fine_tunes_from_it(code_jsonl, store):
    a, b = code_jsonl
    cfg = ExperimentConfig(
        name="tiny hybrid", task="causal-lm",
        data=DataConfig(source=str(b), group_column="file", eval_max=10),
        model=ModelConfig(base="pretrain", max_length=32),
        strategies=[StrategyConfig("scratch", lr=3e-3), StrategyConfig("full", lr=1e-3), StrategyConfig("lora", lr=3e-3)],
        sizes=[8], seeds=[0], budget=BudgetConfig(policy="steps", steps=6), train=TrainConfig(batch_size=4, evals_per_run=1),
        probes=[ProbeConfig(kind="auto", max_examples=10)],
        pretrain=PretrainConfig(data=DataConfig(source=str(a), group_column="file"), vocab_size=300, n_layer=1,
                                n_embd=32, n_head=2, steps=20, lr=3e-3))
    exp = run_experiment(cfg, store)
    runs = store.runs(exp)
    assert runs[0].strategy == "pretrain" and sorted(r.strategy for r in runs[1:]) == ["full", "lora", "scratch"]
    assert all(r.status == "done" for r in runs), [r.error for r in runs]
    assert all(r.depends_on == (runs[0].id,) for r in runs[1:])
    pre = runs[0].result
    assert pre["steps"] == 20 and pre["flops"] > 0  # the pretraining's cost is a stored run
    assert (store.run_dir(runs[0].id) / "model" / "config.json").is_file()
    rows = {r["strategy"]: r for r in run_rows(store, exp)}
    assert rows["full"]["probe"] == "probe/perplexity" and rows["full"]["probe_baseline"] > 1
    # the base is the pretrained model: before training, full starts where pretraining ended
    assert rows["scratch"]["probe_final"] > rows["full"]["probe_baseline"]


def test_knn_probe_on_a_user_old_task(tmp_path, tiny_bert_dir, topic_csv, store):
    old = tmp_path / "old_task.jsonl"
    pd.DataFrame(topic_rows(60, seed=7)).to_json(old, orient="records", lines=True)
    cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full", "head"],
                                     probes=[ProbeConfig(kind="knn", source=str(old), max_examples=40)])
    exp = run_experiment(cfg, store)
    rows = {r["strategy"]: r for r in run_rows(store, exp)}
    assert rows["full"]["probe"] == "probe/knn_accuracy"
    assert 0.0 <= rows["full"]["probe_final"] <= 1.0 and rows["head"]["forgetting"] == 0.0
    assert rows["full"]["forgetting"] == pytest.approx(rows["full"]["probe_baseline"] - rows["full"]["probe_final"])


def test_probe_kind_must_fit_the_task(tiny_gpt2_dir, code_jsonl, store):
    from training.testing import tiny_lm_config

    cfg = tiny_lm_config(tiny_gpt2_dir, code_jsonl[1], probes=[ProbeConfig(kind="retrieval")])
    with pytest.raises(HeadStartError, match="retrieval probe scores encoder embeddings"):
        launch(cfg, store)
    _assert_store_empty(store)
