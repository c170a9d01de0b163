"""An image run's delivered classifier answers image files as it scored its eval images (the same decoding, RGB
conversion, resize and crop): scratch, full fine-tuning, LoRA and the linear probe; the exported folder (model.pt2,
merged weights, preprocessing.json) answers the same, and its model card's code runs with torch, numpy and Pillow."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.delivery.predict import export_model, predict, runs_of
from training.errors import HeadStartError
from training.service.execution import run_experiment
from training.service.store import Store
from training.testing import make_image_folder, make_tiny_resnet, tiny_image_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    folder = make_image_folder(root / "shapes")
    cfg = tiny_image_config(make_tiny_resnet(root / "resnet"), folder, strategies=("scratch", "full", "lora", "head"),
                            probes=[])
    store = Store(root / "store")
    return store, run_experiment(cfg, store), folder


def test_each_image_run_answers_its_eval_images_as_scored_and_its_folder_answers_the_same(finished_images, tmp_path):
    store, exp, folder = finished_images
    names = store.eval_inputs(exp)
    paths = [str(folder / n) for n in names]
    assert all(Path(p).is_file() for p in paths)  # the eval images by their names in the folder
    labels = store.experiment(exp).info["label_names"]
    runs = runs_of(store, exp)
    assert sorted(r.strategy for r in runs) == ["full", "head", "lora", "scratch"]
    out = predict(store, exp, paths)
    for run in runs:
        answers = [p["by"][run.id] for p in out["predictions"]]
        items = run.result["eval_items"]["best" if answers[0]["weights"] == "best" else "end"]
        assert [a["label"] for a in answers] == [labels[c] for c in items["y_pred"]], run.strategy
    for run in (r for r in runs if r.strategy in ("lora", "full")):
        exported = export_model(store, run.id, tmp_path / run.strategy)
        assert {"model.pt2", "model.safetensors", "preprocessing.json", "headstart.json", "README.md"} <= \
               {p.name for p in exported.iterdir()}
        from_folder = predict(None, str(exported), paths)
        for a, b in zip(out["predictions"], from_folder["predictions"], strict=True):
            mine, theirs = a["by"][run.id], b["by"][run.id]
            assert mine["label"] == theirs["label"], run.strategy
            assert all(abs(mine["scores"][k] - theirs["scores"][k]) < 1e-4 for k in mine["scores"])
        card = (exported / "README.md").read_text()
        assert "`torch`, `numpy` and `Pillow`" in card
        shutil.copy(paths[0], tmp_path / "my-image.png")  # the card's example input, beside the folder
        snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
        ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip().splitlines()[-1] == repr([out["predictions"][0]["by"][run.id]["label"]])
    with pytest.raises(HeadStartError, match="is not an image file"):
        predict(store, exp, [str(tmp_path / "missing.png")])


def test_try_it_answers_uploaded_images_and_refuses_any_other_file(finished_images):
    """Try it's path for images: the page saves the uploads into the store and asks; the predictor answers as `predict`
    does. A question naming any other file on the host is refused where it is asked and where it is answered."""
    from training.delivery.predictor import Predictor, ask, save_uploads

    store, exp, folder = finished_images
    runs = [r.id for r in runs_of(store, exp)]
    files = [folder / n for n in store.eval_inputs(exp)[:2]]
    saved = save_uploads(store, [(f.name, f.read_bytes()) for f in files])
    qid = ask(store, exp, runs, [str(p) for p in saved], "local")
    Predictor(store).handle(store.claim_prediction())
    q = store.prediction(qid)
    assert q["status"] == "answered", q["error"]
    direct = predict(store, exp, [str(f) for f in files])
    assert [{r: p["by"][r]["label"] for r in runs} for p in q["answer"]["predictions"]] == \
           [{r: p["by"][r]["label"] for r in runs} for p in direct["predictions"]]
    with pytest.raises(HeadStartError, match="input 1 is not an image uploaded to Try it"):
        ask(store, exp, runs, [str(files[0])], "local")
    qid = store.ask_prediction(exp, runs, ["/etc/passwd"], "local")  # past the page
    Predictor(store).handle(store.claim_prediction())
    assert store.prediction(qid)["status"] == "failed" and "not an image uploaded" in store.prediction(qid)["error"]


def test_an_image_folder_answers_from_its_weights_and_never_loads_a_crafted_model_pt2(finished_images, tmp_path):
    """`torch.export.load` unpickles parts of a .pt2 archive: predict rebuilds the classifier from model.safetensors
    and JSON instead, so a model.pt2 crafted to run code is never read (the marker stays absent); a folder whose
    weights do not fit the backbone it names is refused naming the file."""
    import json
    import os
    import pickle
    import zipfile

    store, exp, folder = finished_images
    run = next(r for r in runs_of(store, exp) if r.strategy == "lora")
    exported = export_model(store, run.id, tmp_path / "model")
    paths = [str(folder / n) for n in store.eval_inputs(exp)[:4]]
    before = predict(None, str(exported), paths)
    marker = tmp_path / "unpickled"

    class Touch:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with zipfile.ZipFile(exported / "model.pt2") as src:  # its first weight declared a pickle, and made one
        files = {info: src.read(info.filename) for info in src.infolist()}
    settings = next(i for i in files if i.filename.endswith("model_weights_config.json"))
    config = json.loads(files[settings])
    first = next(iter(config["config"].values()))
    first["use_pickle"] = True
    files[settings] = json.dumps(config).encode()
    victim = next(i for i in files if i.filename.endswith(f"weights/{first['path_name']}"))
    files[victim] = pickle.dumps(Touch())
    with zipfile.ZipFile(exported / "model.pt2", "w") as out:
        for info, data in files.items():
            out.writestr(info, data)
    after = predict(None, str(exported), paths)
    assert [p["by"][run.id]["label"] for p in after["predictions"]] == \
           [p["by"][run.id]["label"] for p in before["predictions"]]
    assert not marker.exists()
    spec = json.loads((exported / "preprocessing.json").read_text())
    (exported / "preprocessing.json").write_text(json.dumps({**spec, "backbone": None}))
    with pytest.raises(HeadStartError, match="preprocessing.json is not what export-model writes.*never loads"):
        predict(None, str(exported), paths)
    config = json.loads((exported / "backbone" / "config.json").read_text())
    (exported / "preprocessing.json").write_text(json.dumps(spec))
    (exported / "backbone" / "config.json").write_text(json.dumps({**config, "hidden_sizes": [8, 8, 8, 8]}))
    with pytest.raises(HeadStartError, match="model.safetensors is not what export-model writes: its tensors do not fit"):
        predict(None, str(exported), paths)
    assert not marker.exists()


@pytest.mark.parametrize("change, words", [
    ({"depths": [1, 300_000]}, "backbone/config.json is not what export-model writes: it describes a model of more "
                               "tensors than the"),  # built on the meta device for minutes, memory growing
    ({"hidden_sizes": [8, 2 ** 31]}, "backbone/config.json is not what export-model writes: transformers cannot "
                                     "build it"),  # RuntimeError, exit 3
    ("fifo", "model.safetensors is not what export-model writes: it is not a regular file"),  # blocked forever
])
def test_a_crafted_image_folder_is_refused_naming_its_file_without_hanging(finished_images, tmp_path, change, words):
    import json
    import os

    store, exp, folder = finished_images
    exported = export_model(store, runs_of(store, exp)[0].id, tmp_path / "model")
    if change == "fifo":
        (exported / "model.safetensors").unlink()
        os.mkfifo(exported / "model.safetensors")
    else:
        config = exported / "backbone" / "config.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), **change}))
    images = tmp_path / "images.txt"
    images.write_text(str(next(folder.rglob("*.png"))) + "\n")
    ran = subprocess.run([sys.executable, "-m", "training", "predict", str(exported), "--input", str(images)],
                         cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert ran.returncode == 2 and words in ran.stderr, ran.stderr
