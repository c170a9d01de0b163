"""An exported text classifier folder is data from anyone (issue 39, attack of 2026-12-07 B3, B4, P1-P3): predict
checks every file before it opens it — regular files inside the folder, safetensors weights only, no adapter in place of
the model, a config.json whose model matches the weights' header (built on the meta device, stopped past the weights'
tensor count), a head that fits, every field of headstart.json — and refuses anything else naming the file (exit 2),
never hanging, unpickling or stopping on "something it did not expect". A long line costs the tokenizer only the part
the model reads."""
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.config import BudgetConfig
from training.delivery.predict import export_model, predict, runs_of
from training.errors import HeadStartError
from training.service.execution import run_experiment
from training.service.store import Store
from training.testing import tiny_classification_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported_text(tmp_path_factory, tiny_bert_dir):
    from training.testing import topic_rows

    root = tmp_path_factory.mktemp("folders")
    data = root / "topics.csv"
    rows = topic_rows(120)
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cfg = tiny_classification_config(tiny_bert_dir, data, strategies=("full",),
                                     budget=BudgetConfig(policy="steps", steps=4))
    store = Store(root / "store")
    exp = run_experiment(cfg, store)
    return export_model(store, runs_of(store, exp)[0].id, root / "model")


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


def _edit(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _cli(folder: Path, tmp_path: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    texts = tmp_path / "in.txt"
    texts.write_text("numpy arrays\n", encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "training", "predict", str(folder), "--input", str(texts)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _pickle_that_touches(marker: Path) -> bytes:
    import pickle

    class Touch:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    return pickle.dumps(Touch())


@pytest.mark.parametrize("case", ["bin", "index", "adapter"])
def test_a_text_folder_loads_only_its_safetensors(exported_text, tmp_path, case):
    """pytorch_model.bin (a pickle) in place of model.safetensors, or an index naming ../other/pytorch_model.bin, reached
    torch.load (exit 3, advising weights_only=False); a top-level adapter_config.json switched transformers to loading
    an adapter (exit 3). Each is now refused naming the file, and nothing is unpickled."""
    folder = _copy(exported_text, tmp_path)
    marker = tmp_path / "unpickled"
    (folder / "model.safetensors").unlink()
    if case == "bin":
        (folder / "pytorch_model.bin").write_bytes(_pickle_that_touches(marker))
        named = "pytorch_model.bin"
    elif case == "index":
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "pytorch_model.bin").write_bytes(_pickle_that_touches(marker))
        (folder / "pytorch_model.bin.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "../other/pytorch_model.bin"}}))
        named = "pytorch_model.bin.index.json"
    else:
        shutil.copy(exported_text / "model.safetensors", folder / "model.safetensors")
        (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "x"}))
        named = "adapter_config.json"
    ran = _cli(folder, tmp_path)
    assert ran.returncode == 2, ran.stderr
    assert f"{folder / named} is not what export-model writes" in ran.stderr and "export-model" in ran.stderr
    assert "did not expect" not in ran.stderr and "weights_only" not in ran.stderr
    assert not marker.exists()


@pytest.mark.parametrize("file, change, words", [
    ("config.json", {"num_hidden_layers": 200_000}, "config.json is not what export-model writes: it describes a model "
                                                    "of more tensors than the"),  # was built for minutes (timeout)
    ("config.json", {"vocab_size": 2 ** 34}, "model.safetensors is not what export-model writes: its tensors do not "
                                             "fit config.json"),  # exit 3
    ("config.json", {"hidden_size": 2 ** 20}, "its tensors do not fit config.json"),  # exit 3
    ("headstart.json", {"pooling": "evil"}, "pooling must be \"cls\" or \"mean\""),  # answered
    ("headstart.json", {"max_length": -5}, "max_length must be a whole number of tokens"),  # answered
    ("headstart.json", {"labels": []}, "labels must be a list of class names"),
])
def test_a_crafted_config_is_refused_naming_it_before_anything_is_built(exported_text, tmp_path, file, change, words):
    folder = _copy(exported_text, tmp_path)
    _edit(folder / file, **change)
    start = time.monotonic()
    ran = _cli(folder, tmp_path, timeout=90)
    assert ran.returncode == 2 and words in ran.stderr, ran.stderr
    assert time.monotonic() - start < 60


def test_a_head_that_does_not_fit_the_labels_is_refused(exported_text, tmp_path):
    """A head of 1 class for 4 labels stopped with zip()'s ValueError (exit 3)."""
    from safetensors.torch import load_file, save_file

    folder = _copy(exported_text, tmp_path)
    head = load_file(str(folder / "head.safetensors"))
    save_file({"weight": head["weight"][:1].contiguous(), "bias": head["bias"][:1].contiguous()},
              str(folder / "head.safetensors"))
    with pytest.raises(HeadStartError, match="head.safetensors is not what export-model writes: it must hold weight"):
        predict(None, str(folder), ["numpy arrays"])


@pytest.mark.parametrize("kind", ["fifo", "devzero", "outside", "loop"])
def test_a_file_that_is_not_a_regular_file_inside_the_folder_is_refused(exported_text, tmp_path, kind):
    """model.safetensors a FIFO (tar archives carry them) blocked predict forever; config.json linked to /dev/zero
    stopped with exit 3; a link to a file outside the folder was followed."""
    folder = _copy(exported_text, tmp_path)
    if kind == "fifo":
        (folder / "model.safetensors").unlink()
        os.mkfifo(folder / "model.safetensors")
        named, words = "model.safetensors", "it is not a regular file"
    elif kind == "devzero":
        (folder / "config.json").unlink()
        os.symlink("/dev/zero", folder / "config.json")
        named, words = "config.json", "it is a symbolic link leading out of the folder (to /dev/zero)"
    elif kind == "loop":  # a link to itself: "did not expect" (RuntimeError: Symlink loop), exit 3
        (folder / "model.safetensors").unlink()
        os.symlink("model.safetensors", folder / "model.safetensors")
        named, words = "model.safetensors", "it cannot be read"
    else:
        outside = tmp_path / "elsewhere.json"
        shutil.move(folder / "tokenizer.json", outside)
        os.symlink(outside, folder / "tokenizer.json")
        named, words = "tokenizer.json", "it is a symbolic link leading out of the folder"
    ran = _cli(folder, tmp_path, timeout=90)
    assert ran.returncode == 2 and f"{folder / named} is not what export-model writes: {words}" in ran.stderr, \
        ran.stderr


def test_an_exported_folder_still_answers_as_exported(exported_text, tmp_path):
    """The checks refuse nothing export-model writes, a symbolic link to a file inside the folder included."""
    folder = _copy(exported_text, tmp_path)
    shutil.move(folder / "tokenizer.json", folder / "tok.json")
    os.symlink("tok.json", folder / "tokenizer.json")
    ran = _cli(folder, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["predictions"][0]["input"] == "numpy arrays"


def test_a_long_text_is_tokenised_only_as_far_as_the_model_reads(tiny_bert_dir):
    """A 10 M-character line was tokenised whole (2 M tokens' encodings, 0.55 GB) to keep max_length tokens; now the
    tokenizer sees a prefix a few times max_length long, and the ids are those truncating the whole text gives."""
    import random

    from transformers import AutoTokenizer

    from training.core.data.tokenize import encode_texts
    from training.tasks.text.model import read_prefix

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    words = ["numpy", "arrays", "pandas,", "frame.", "x" * 150, "中文", "the", "Über", "a-b", "\n", "  "]
    rng = random.Random(0)
    texts = ["word " * 2 ** 20, " ".join(rng.choice(words) for _ in range(200_000)), "x" * 300_000 + " tail",
             "中" * 100_000, " " * 200_000 + "late words", "short text"]
    seen = []

    class Spy:
        def __call__(self, text, **kwargs):
            seen.append(max(map(len, [text] if isinstance(text, str) else text)))
            return tokenizer(text, **kwargs)

    for max_length in (24, 128):
        for text in texts:
            prefix = read_prefix(Spy(), text, max_length)
            assert text.startswith(prefix)
            assert [list(x) for x in encode_texts(tokenizer, [prefix], max_length, cache_dir=None, fingerprint="")] \
                == [list(x) for x in encode_texts(tokenizer, [text], max_length, cache_dir=None, fingerprint="")]
    seen.clear()
    assert len(read_prefix(Spy(), texts[0], 128)) <= 4096
    assert seen and max(seen) <= 4096  # of the 5 M-character line, the tokenizer saw 4,096 characters
