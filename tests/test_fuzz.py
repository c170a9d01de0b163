"""Malformed configs and files, fed through the same path as `python -m training enqueue` (config from plain data,
then plan and store): every one must end in a HeadStartError that says what to change — never another exception
type, never a traceback — and leave the store untouched."""
import copy
import json

import pytest

from training.config import ExperimentConfig
from training.errors import HeadStartError
from training.service.planning import launch
from training.testing import tiny_classification_config

INF = float("inf")

# (where, value) patches of a valid tiny experiment; a tuple key path is set in the nested dict
CONFIG_CASES = [
    (("name",), ""), (("name",), 5), (("name",), None), (("task",), "translation"), (("task",), 3),
    (("data",), "abc"), (("data",), []), (("data", "source"), ""), (("data", "source"), 5),
    (("data", "eval_fraction"), 2), (("data", "eval_fraction"), "x"), (("data", "eval_max"), 1),
    (("data", "text_column"), 7), (("data", "label_column"), None), (("data", "group_column"), "nope"),
    (("data", "subset_policy"), "random"), (("data", "max_rows"), 0), (("data", "validation_fraction"), 1.5),
    (("data", "validation_max"), 0), (("data", "eval_source"), ""), (("data", "eval_source"), "/nowhere/test.csv"),
    (("data", "source"), "/etc/hostname"), (("data", "source"), "hf:"), (("data", "source"), "builtin:nope"),
    (("data", "split_seed"), -1), (("data", "split_seed"), 2 ** 70),
    (("model", "base"), ""), (("model", "base"), "/nowhere/model"), (("model", "max_length"), 2),
    (("model", "max_length"), 100000), (("model", "max_length"), 1000), (("model", "pooling"), "max"),
    (("model", "dropout"), 1.5), (("model", "dropout"), "high"), (("model", "init"), "orthogonal"),
    (("strategies",), []), (("strategies",), ["nope"]), (("strategies",), "full"),
    (("strategies",), [{"name": "lora", "options": {"dropout": "high"}}]),
    (("strategies",), [{"name": "lora", "options": {"alpha": "big"}}]),
    (("strategies",), [{"name": "lora", "options": {"r": 0}}]), (("strategies",), [{"name": "lora", "options": {"r": 1.5}}]),
    (("strategies",), [{"name": "lora", "options": {"targets": 5}}]),
    (("strategies",), [{"name": "freeze", "options": {"layers": -1}}]),
    (("strategies",), [{"name": "discriminative", "options": {"decay": "x"}}]),
    (("strategies",), [{"name": "lp-ft", "options": {"probe_fraction": 2}}]),
    (("strategies",), [{"name": "full", "lr": -1}]), (("strategies",), [{"name": "full", "lr": INF}]),
    (("strategies",), [{"name": "full", "budget_multiplier": INF}]),
    (("strategies",), [{"name": "full", "budget_multiplier": 0}]),
    (("strategies",), [{"name": "full", "weight_decay": -1}]), (("strategies",), [{"name": "full", "until_plateau": "yes"}]),
    (("strategies",), [{"name": "full", "options": {"x": 1}}]), (("strategies",), ["full", "full"]),
    (("strategies",), [{"name": "head", "lr": "fast"}]),
    (("sizes",), []), (("sizes",), [0]), (("sizes",), [-5]), (("sizes",), ["some"]), (("sizes",), [1.5]),
    (("sizes",), [100, 100]), (("sizes",), [10 ** 9]), (("sizes",), "100"),
    (("seeds",), []), (("seeds",), [2 ** 70]), (("seeds",), [-1]), (("seeds",), ["a"]), (("seeds",), [True]),
    (("seeds",), [0, 0]),
    (("budget", "policy"), "vibes"), (("budget", "epochs"), INF), (("budget", "epochs"), 0), (("budget", "steps"), 0),
    (("budget", "min_steps"), 0), (("budget", "patience"), 0), (("budget", "plateau_cap"), 0.5),
    (("budget",), {"policy": "flops", "flops_reference": "lora"}),
    (("optim", "name"), "lion"), (("optim", "betas"), [1, 2]), (("optim", "warmup_fraction"), 1),
    (("optim", "schedule"), "step"), (("optim", "grad_clip"), 0), (("optim", "momentum"), 2),
    (("train", "batch_size"), 0), (("train", "micro_batch_size"), 3), (("train", "eval_every"), 0),
    (("train", "evals_per_run"), 0),
    (("probes",), [{"kind": "knn"}]), (("probes",), [{"kind": "telepathy"}]),
    (("probes",), [{"kind": "retrieval", "max_examples": 1}]), (("probes",), [{"kind": "knn", "source": "/nowhere.csv"}]),
    (("speed", "device"), "tpu"), (("speed", "num_threads"), 0),
    (("lr_sweep",), {"factors": []}), (("lr_sweep",), {"factors": [-1]}), (("lr_sweep",), {"lrs": {"full": []}}),
    (("lr_sweep",), {"size": 0}), (("lr_sweep",), {"seed": -1}),
    (("lr",), 0.1), (("data", "colum"), "x"), (("model", "base"), "pretrain"),
]

FILE_CASES = {
    "empty.csv": b"",
    "header_only.csv": b"text,label\n",
    "latin1.csv": "text,label\n" .encode() + "\n".join(f"caf\xe9 {i},{i % 2}" for i in range(40)).encode("latin-1"),
    "random_bytes.csv": bytes(range(256)) * 40,
    "broken.jsonl": b'{"text": "a", "label": 1}\n{"text": "b", "lab',
    "garbage.parquet": b"PAR1 this is not parquet",
    "one_class.csv": "\n".join(["text,label"] + [f"row {i},same" for i in range(50)]).encode(),
    "no_label.csv": "\n".join(["text,stars"] + [f"row {i},{i % 3}" for i in range(50)]).encode(),
    "three_rows.csv": b"text,label\na,x\nb,y\nc,x\n",
    "image.png": b"\x89PNG\r\n\x1a\n",
}

MODEL_CASES = {
    "not_json": b"{this is not json",
    "a_list": b"[1, 2, 3]",
    "remote_code": json.dumps({"model_type": "bert", "auto_map": {"AutoModel": "x.Y"}}).encode(),
    "no_model_type": json.dumps({"hidden_size": 32}).encode(),
}


def _assert_untouched(store):
    assert store.experiments() == [] and store.runs() == []
    for d in ("runs", "experiments"):
        assert not (store.root / d).exists() or not any((store.root / d).iterdir())


def _set(d: dict, path: tuple, value):
    node = d
    for p in path[:-1]:
        node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else node[p]
    node[path[-1]] = value


@pytest.fixture
def base(tiny_bert_dir, topic_csv):
    return tiny_classification_config(tiny_bert_dir, topic_csv).to_dict()


def _enqueue(d: dict, store):
    launch(ExperimentConfig.from_dict(d), store)  # what `python -m training enqueue` does with a config file


@pytest.mark.parametrize("where, value", CONFIG_CASES, ids=[f"{'.'.join(w)}={v!r}"[:60] for w, v in CONFIG_CASES])
def test_malformed_config_is_a_clear_error_and_stores_nothing(where, value, base, store):
    d = copy.deepcopy(base)
    _set(d, where, value)
    with pytest.raises(HeadStartError) as e:
        _enqueue(d, store)
    assert str(e.value) and "Traceback" not in str(e.value)
    _assert_untouched(store)


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_malformed_data_file_is_a_clear_error_and_stores_nothing(name, base, store, tmp_path):
    path = tmp_path / name
    path.write_bytes(FILE_CASES[name])
    d = copy.deepcopy(base)
    d["data"].update(source=str(path), group_column=None)
    with pytest.raises(HeadStartError) as e:
        _enqueue(d, store)
    assert name in str(e.value) or "column" in str(e.value), str(e.value)  # the user's own file is named
    _assert_untouched(store)
    d["data"].update(source=base["data"]["source"], group_column=base["data"]["group_column"], eval_source=str(path))
    with pytest.raises(HeadStartError):  # the same file given as the eval set
        _enqueue(d, store)
    _assert_untouched(store)


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_malformed_model_directory_is_a_clear_error_and_stores_nothing(name, base, store, tmp_path, tiny_bert_dir):
    model = tmp_path / name
    model.mkdir()
    for f in tiny_bert_dir.iterdir():
        if f.name != "config.json":
            (model / f.name).symlink_to(f)
    (model / "config.json").write_bytes(MODEL_CASES[name])
    d = copy.deepcopy(base)
    d["model"]["base"] = str(model)
    with pytest.raises(HeadStartError) as e:
        _enqueue(d, store)
    assert "config.json" in str(e.value) or "remote" in str(e.value) or "model_type" in str(e.value)
    _assert_untouched(store)


def test_enough_cases():
    assert len(CONFIG_CASES) + 2 * len(FILE_CASES) + len(MODEL_CASES) >= 60


def test_a_too_long_max_length_is_refused_before_anything_runs(base, store):
    d = copy.deepcopy(base)
    d["model"]["max_length"] = 200  # the tiny BERT has 128 positions
    with pytest.raises(HeadStartError, match="model.max_length 200 is longer than the 128 positions"):
        _enqueue(d, store)
    _assert_untouched(store)


def test_a_valid_config_still_enqueues(base, store):
    _enqueue(copy.deepcopy(base), store)  # the cases above fail because of their one change, not the base
    assert len(store.experiments()) == 1
