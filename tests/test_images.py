"""Image classification and the task-kind interface: each kind's collate, loss and metrics on tiny data; image
sources (folders, zips, tables, built-ins) with their errors; the built-in EfficientNet-Lite0; FLOPs; every
strategy one step on an image task (a tiny random ResNet stands in for the built-in); the image references and
forgetting probe."""
from __future__ import annotations

import contextlib
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from training.config import BudgetConfig, ModelConfig, ProbeConfig, StrategyConfig
from training.core.data.tokenize import Examples
from training.core.strategies import STRATEGIES, get_strategy
from training.errors import ConfigError, DataError
from training.service.execution import run_experiment
from training.service.planning import launch, plan_experiment
from training.tasks import kinds, prepare_task_data, task_kind
from training.tasks.images.data import ImageExamples, ImagePreprocessing, decode_table, load_image_table, size_note
from training.testing import make_image_folder, make_tiny_resnet, tiny_image_config

IMG = "image-classification"


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory) -> Path:
    return make_tiny_resnet(tmp_path_factory.mktemp("tiny-resnet"))


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "shapes")


def zipped(folder: Path, out: Path, prefix: str = "shapes/") -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for f in sorted(folder.rglob("*.png")):
            zf.write(f, prefix + str(f.relative_to(folder)))
    return out


# -- the task-kind interface ------------------------------------------------------------------------

def test_every_task_kind_collates_scores_and_counts_on_tiny_data():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    # text classification: padded token batches, cross-entropy, accuracy and macro-F1
    text = Examples([np.array([5, 6, 7]), np.array([5])], np.array([0, 1]))
    batch = text.collate([0, 1], pad_id=0, device=torch.device("cpu"))
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]] and batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    cls = task_kind("text-classification")
    labels = {"labels": torch.tensor([0, 1, 1])}
    assert cls.loss(logits, labels).item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels["labels"]).item())
    # images: uint8 NHWC → normalised float NCHW, the same classification loss
    px = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    px[1] = 255
    images = ImageExamples(px, np.array([0, 1]), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    b = images.collate([0, 1])
    assert b["pixel_values"].shape == (2, 3, 4, 4)
    assert b["pixel_values"][0].min().item() == -1.0 and b["pixel_values"][1].max().item() == 1.0
    assert task_kind(IMG).loss(logits, labels).item() == pytest.approx(cls.loss(logits, labels).item())

    class Fixed(torch.nn.Module):  # a "model" returning the logits above, to score metrics exactly
        def forward(self, **_):
            return logits

    metrics = task_kind(IMG).evaluate(Fixed(), [labels], 2, contextlib.nullcontext)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    # causal LM: next-token loss over real tokens, perplexity = exp(loss)
    lm = task_kind("causal-lm")
    ids = torch.tensor([[1, 2, 3]])
    lm_logits = torch.zeros(1, 3, 4)
    loss = lm.loss(lm_logits, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert loss.item() == pytest.approx(math.log(4))
    assert [k.unit for k in kinds().values()] == ["training examples", "training blocks", "training images",
                                                "training conversations", "training rows", "training rows"]
    assert {k: v.primary for k, v in kinds().items()} == {
        "text-classification": ("accuracy", True), "causal-lm": ("perplexity", False), IMG: ("accuracy", True),
        "chat": ("perplexity", False), "tabular-classification": ("accuracy", True), "tabular-regression": ("rmse", False)}


def test_strategies_that_do_not_apply_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="'qlora' does not apply to task 'image-classification': 4-bit quantisation"):
        get_strategy(StrategyConfig("qlora"), task_kind(IMG))
    with pytest.raises(ConfigError, match="'head' does not apply to task 'causal-lm': a language model's output layer"):
        get_strategy(StrategyConfig("head"), task_kind("causal-lm"))
    assert [n for n in STRATEGIES if not task_kind(IMG).refusal(n)] == [
        "scratch", "own", "full", "lora", "head", "freeze", "discriminative", "lp-ft"]
    with pytest.raises(ConfigError, match="'own' does not apply to task 'chat': no practitioner's model"):
        get_strategy(StrategyConfig("own"), task_kind("chat"))


# -- image sources ----------------------------------------------------------------------------------

def test_folders_zips_and_tables_read_alike_and_mixed_modes_are_noted(image_folder, tmp_path):
    folder = load_image_table(str(image_folder))
    assert folder.label_names == ["circle", "square"] and len(folder) == 48
    zip_table = load_image_table(str(zipped(image_folder, tmp_path / "shapes.zip")), display_name="my shapes.zip")
    assert zip_table.fingerprint == folder.fingerprint and zip_table.where == "my shapes.zip"
    rows = [{"path": f"shapes/{lab}/{Path(n).name}", "label": lab} for n, lab in zip(folder.names, folder.labels, strict=True)]
    pd.DataFrame(rows).to_csv(tmp_path / "images.csv", index=False)
    table = load_image_table(str(tmp_path / "images.csv"), image_column="path")
    assert table.fingerprint == folder.fingerprint
    pixels, modes = decode_table(folder, ImagePreprocessing(24, (0.5,) * 3, (0.5,) * 3), None)
    assert pixels.shape == (48, 24, 24, 3) and pixels.dtype == np.uint8 and modes == {"L": 32, "RGB": 16}


def test_image_data_errors_name_the_file_and_the_fix(image_folder, tmp_path):
    (image_folder / "square" / "broken.png").write_bytes(b"not an image at all")
    table = load_image_table(str(image_folder), display_name="shapes.zip")
    with pytest.raises(DataError, match=r"shapes.zip: square/broken.png is not a readable image.*re-save it as PNG"):
        decode_table(table, ImagePreprocessing(16, (0.5,) * 3, (0.5,) * 3), None)
    one = make_image_folder(tmp_path / "one", classes=("cats",), per_class=4)
    with pytest.raises(DataError, match="has one class \\('cats'\\); image classification needs at least two"):
        load_image_table(str(one))
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.new("L", (8, 8)).save(loose / "a.png")
    with pytest.raises(DataError, match="no class sub-folders"):
        load_image_table(str(loose))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        buf = io.BytesIO()
        Image.new("L", (8, 8)).save(buf, "PNG")
        zf.writestr("../outside/a.png", buf.getvalue())
    with pytest.raises(DataError, match="entry outside its folder"):
        load_image_table(str(evil))
    assert not (tmp_path / "outside").exists()
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    with pytest.raises(DataError, match="not a readable zip file"):
        load_image_table(str(tmp_path / "bad.zip"))


def test_builtin_image_sets_install_with_the_packages():
    mnist = load_image_table("builtin:mnist-5k")
    assert len(mnist) == 5000 and mnist.label_names == [str(d) for d in range(10)]
    assert mnist.items[0].shape == (28, 28) and mnist.items[0].dtype == np.uint8
    assert len(load_image_table("builtin:digits-8x8")) == 1797
    faces = load_image_table("builtin:lfw-faces")
    assert faces.label_names == ["face", "not a face"] and len(faces) == 200


def test_prepared_image_data_is_split_stratified_and_decoded_once(image_folder, tiny_resnet_dir, tmp_path):
    cfg = tiny_image_config(tiny_resnet_dir, image_folder)
    prep = task_kind(IMG).load_processor(tiny_resnet_dir, cfg.model)
    assert (prep.size, prep.mean, prep.std) == (32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    data = prepare_task_data(cfg.data, IMG, prep, 0, tmp_path / "cache")
    total = len(data.train) + len(data.validation) + len(data.eval)
    assert total == 48 and data.label_names == ["circle", "square"]
    assert data.info["modes"] == {"L": 32, "RGB": 16} and "converted to RGB" in data.info["note"]
    assert len(list((tmp_path / "cache" / "images").glob("*.npz"))) == 1
    again = prepare_task_data(cfg.data, IMG, prep, 0, tmp_path / "cache")
    assert np.array_equal(again.train.pixels, data.train.pixels)


# -- models ----------------------------------------------------------------------------------------

def test_the_builtin_efficientnet_loads_imagenet_weights_and_keeps_them_through_the_plain_convolutions():
    from efficientnet_lite_pytorch import EfficientNet

    from training.tasks.images.model import lora_targets

    kind = task_kind(IMG)
    base = kind.resolve_base("builtin:efficientnet-lite0")
    reference = EfficientNet.from_name("efficientnet-lite0", image_size=32)
    reference.load_state_dict(torch.load(base, weights_only=True))
    model = kind.build_model(base, pretrained=True, num_labels=3, cfg=ModelConfig(image_size=32), seed=0)
    reference.eval(), model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(reference.extract_features(x).mean((2, 3)), model.embed(x))
        assert model(pixel_values=x).shape == (2, 3)
    assert sum(p.numel() for p in model.backbone.parameters()) == 3_371_008
    targets = lora_targets(model.backbone)
    assert "_blocks.1._expand_conv" in targets and not any("depthwise" in t for t in targets)
    scratch = kind.build_model(base, pretrained=False, num_labels=3, cfg=ModelConfig(image_size=32), seed=0)
    assert not torch.equal(scratch.backbone._conv_head.weight, model.backbone._conv_head.weight)
    prep = kind.load_processor(base, ModelConfig())
    assert prep.size == 224 and prep.mean == (127 / 255,) * 3


def test_image_flops_count_convolutions_at_their_output_positions(tiny_resnet_dir):
    from training.core.accounting import FlopCounter
    from training.core.models import structure

    kind = task_kind(IMG)
    model = kind.build_model(tiny_resnet_dir, pretrained=True, num_labels=2, cfg=ModelConfig(image_size=32), seed=0)
    st = structure(model)
    forward = sum(p.numel() * st.positions[id(m)] * 2 for m in model.modules() if id(m) in st.positions
                  for p in m.parameters(recurse=False))
    counter = FlopCounter(model, st)
    assert counter.forward_flops(0, 0, 1) == pytest.approx(forward)
    assert counter.training_flops(0, 0, 1) == pytest.approx(3 * forward)  # everything trains: 6N per image
    stem = model.backbone.embedder.embedder.convolution
    assert st.positions[id(stem)] == 16 * 16  # a stride-2 convolution on 32×32
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    frozen = FlopCounter(model, st)
    head = sum(p.numel() for p in model.head.parameters()) * 2
    assert frozen.training_flops(0, 0, 1) == pytest.approx(forward - head + 3 * head)  # forward only below the head


# -- end to end ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["scratch", "full", "lora", "head", "freeze", "discriminative", "lp-ft"])
def test_every_strategy_runs_on_an_image_task(name, tiny_resnet_dir, image_folder, store):
    cfg = tiny_image_config(tiny_resnet_dir, image_folder, strategies=[name], budget=BudgetConfig(policy="steps", steps=2))
    exp = run_experiment(cfg, store)
    (run,) = [r for r in store.runs(exp) if r.role == "grid"]
    assert run.status == "done", run.error
    res = run.result
    assert 0 <= res["eval"]["accuracy"] <= 1 and res["flops"] > 0 and res["steps"] == (2 if name != "scratch" else res["steps"])
    assert set(res["probe_final"]) == {"probe/visual_knn"}
    if name in ("head", "lora", "freeze"):
        assert res["trainable_params"] < res["params"]


def test_an_image_experiment_plans_scores_references_and_probes_forgetting(tiny_resnet_dir, image_folder, store):
    cfg = tiny_image_config(tiny_resnet_dir, image_folder, strategies=["scratch", "full"], references=True,
                            probes=[ProbeConfig(kind="auto", max_examples=40)])
    plan = plan_experiment(cfg, store.cache_dir)
    fp = plan.info["footprint"]
    assert fp["full"]["flops_per_example"] > 0 and fp["full"]["memory"]["activations"] > 0
    assert plan.info["data"]["image_size"] == 32
    exp = run_experiment(cfg, store)
    runs = {r.strategy: r for r in store.runs(exp)}
    refs = {r["reference"] for r in runs["references"].result["references"]}
    assert refs == {"majority", "pixels"}
    assert "on 20 faces vs 20 non-faces" in runs["full"].result["probes"]["probe/visual_knn"]
    baseline = runs["full"].result["probe_baseline"]["probe/visual_knn"]
    assert 0 <= baseline <= 1


def test_image_probes_refuse_text_probes(tiny_resnet_dir, image_folder, store):
    cfg = tiny_image_config(tiny_resnet_dir, image_folder, probes=[ProbeConfig(kind="retrieval")])
    with pytest.raises(ConfigError, match="the retrieval probe is for text models; for images use auto"):
        launch(cfg, store)
    assert store.experiments() == []


def test_discriminative_trains_what_sits_above_the_last_block_at_the_top_rate():
    kind = task_kind(IMG)
    model = kind.build_model(kind.resolve_base("builtin:efficientnet-lite0"), pretrained=False, num_labels=2,
                             cfg=ModelConfig(image_size=32), seed=0)
    strategy = get_strategy(StrategyConfig("discriminative", lr=1e-3), task_kind(IMG))
    strategy.prepare(model)
    groups = strategy.param_groups(model, strategy.phases(10)[0], 0.01)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    n = len(model.backbone._blocks)
    assert lr_of[id(model.backbone._conv_head.weight)] == pytest.approx(1e-3)  # the final 1×1 convolution
    assert lr_of[id(next(model.backbone._blocks[0].parameters()))] == pytest.approx(1e-3 / 2.6 ** (n - 1))
    assert lr_of[id(model.backbone._conv_stem.conv.weight)] == pytest.approx(1e-3 / 2.6 ** n)
    assert len(lr_of) == len({id(p) for p in model.parameters()})


def test_on_a_confined_server_a_table_cannot_name_images_outside_its_folder(image_folder, tmp_path, monkeypatch):
    outside = next(image_folder.rglob("*.png"))
    table_dir = tmp_path / "uploads" / "abc"
    table_dir.mkdir(parents=True)
    pd.DataFrame([{"image": str(outside), "label": "a"}, {"image": str(outside), "label": "b"}]).to_csv(
        table_dir / "t.csv", index=False)
    assert len(load_image_table(str(table_dir / "t.csv"))) == 2  # a local install reads any path it is given
    monkeypatch.setenv("HEADSTART_MODE", "team")
    with pytest.raises(DataError, match="row 2 names an image outside the table's own folder"):
        load_image_table(str(table_dir / "t.csv"), display_name="t.csv")


def test_a_parquet_of_hugging_face_image_records_reads_like_the_folder(image_folder, tmp_path):
    """Hugging Face image datasets store each image as a {bytes, path} record (what `hf:` data and their parquet
    exports hold); a table of those needs no files beside it."""
    folder = load_image_table(str(image_folder))
    records = [{"img": {"bytes": Path(p).read_bytes(), "path": None}, "label": lab}
               for p, lab in zip(folder.items, folder.labels, strict=True)]
    pd.DataFrame(records).to_parquet(tmp_path / "hub.parquet")
    table = load_image_table(str(tmp_path / "hub.parquet"), image_column="img")
    assert table.fingerprint == folder.fingerprint and table.label_names == ["circle", "square"]
    with pytest.raises(DataError, match="has no image column 'image'; its columns are: img, label"):
        load_image_table(str(tmp_path / "hub.parquet"))


def test_a_vision_transformer_runs_at_another_image_size(tmp_path):
    from transformers import ViTConfig, ViTModel

    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32)).save_pretrained(str(tmp_path / "vit"))
    kind = task_kind(IMG)
    model = kind.build_model(tmp_path / "vit", pretrained=True, num_labels=3, cfg=ModelConfig(image_size=48), seed=0)
    assert model.interpolate and model(pixel_values=torch.randn(2, 3, 48, 48)).shape == (2, 3)


def test_frozen_batch_norms_stay_frozen_through_evaluations_and_checkpoints_keep_their_statistics(
        tiny_resnet_dir, image_folder, store):
    """LoRA freezes every batch norm: after a run with evaluations in it, their running statistics are still the
    base model's (evaluation used to put them back in training mode). A checkpoint carries the statistics, so the
    best checkpoint is scored with its own (it used to be paired with the end's)."""
    from safetensors.torch import load_file

    from training.core.checkpoint import load_best, norm_buffers, save_best

    cfg = tiny_image_config(tiny_resnet_dir, image_folder, strategies=["lora"],
                            budget=BudgetConfig(policy="steps", steps=6))
    cfg.train.evals_per_run = 3
    exp = run_experiment(cfg, store)
    (run,) = [r for r in store.runs(exp) if r.role == "grid"]
    assert run.status == "done", run.error
    saved = load_file(str(store.run_dir(run.id) / "checkpoint" / "trainable.safetensors"))
    means = [v for k, v in saved.items() if k.endswith("running_mean")]
    base = task_kind(IMG).build_model(tiny_resnet_dir, pretrained=True, num_labels=2, cfg=cfg.model, seed=0)
    expected = [v for k, v in norm_buffers(base).items() if k.endswith("running_mean")]
    assert len(means) == len(expected) > 0
    assert all(torch.equal(a, b) for a, b in zip(means, expected, strict=True))

    model = task_kind(IMG).build_model(tiny_resnet_dir, pretrained=True, num_labels=2, cfg=cfg.model, seed=0)
    ckpt = store.root / "ckpt-test" / "checkpoint"
    save_best(ckpt, model, 3)
    before = {k: v.clone() for k, v in norm_buffers(model).items()}
    model.train()
    model(pixel_values=torch.randn(4, 3, 32, 32))  # a training-mode forward moves the statistics
    assert any(not torch.equal(before[k], v) for k, v in norm_buffers(model).items())
    load_best(ckpt, model)
    assert all(torch.equal(before[k], v) for k, v in norm_buffers(model).items())


def test_training_far_below_the_models_own_size_is_named():
    """Images trained at 32 px on a model made for 224 used to get no caveat, although the size is what holds the
    pretrained strategies back (issue 27)."""
    note = size_note(ImagePreprocessing(32, (0.5,) * 3, (0.5,) * 3, native=224))
    assert "trained at 32 px" in note and "224-px" in note and "49× the compute" in note
    assert size_note(ImagePreprocessing(128, (0.5,) * 3, (0.5,) * 3, native=224)) is None  # above half: no caveat
    assert size_note(ImagePreprocessing(32, (0.5,) * 3, (0.5,) * 3)) is None  # the model's size unknown


def test_zip_bombs_lying_sizes_and_damaged_zips_are_refused_and_leave_nothing(tmp_path, monkeypatch):
    """Issue 28, item 2: a 3.8 MB upload unpacked 3.89 GB into the cache before anything was launched; a bad-CRC zip
    left a .tmp folder behind."""
    from training.tasks.images import data as image_data

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    unzipped = tmp_path / "cache" / "unzipped"
    png = io.BytesIO()
    Image.new("L", (8, 8)).save(png, "PNG")

    bomb = tmp_path / "bomb.zip"  # ~100 KB of zip, 100 MB unpacked: over 20× and over the 64 MB allowance
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", png.getvalue())
        zf.writestr("b/0.png", png.getvalue())
        zf.writestr("b/zeros.png", b"\0" * (100 * 1024 ** 2))
    assert bomb.stat().st_size < 1024 ** 2
    with pytest.raises(DataError, match=r"bomb.zip unpacks to 100 MB, more than the 64 MB allowed"):
        load_image_table(str(bomb), display_name="bomb.zip")
    assert not unzipped.exists() or not any(unzipped.iterdir())

    # Declared sizes that lie: the count of bytes actually written stops it.
    monkeypatch.setattr(image_data, "ZIP_ALLOWANCE", 1024 ** 2)
    liar = tmp_path / "liar.zip"
    with zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", png.getvalue())
        zf.writestr("b/big.png", b"\0" * (3 * 1024 ** 2))
    raw = bytearray(liar.read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # shrink every declared size of the big entry to 1,000 bytes
        at = 0
        while (at := raw.find(header, at)) != -1:
            name_at = at + (30 if header == b"PK\x03\x04" else 46)
            size_at = at + (22 if header == b"PK\x03\x04" else 24)
            if raw[name_at:name_at + 9] == b"b/big.png":
                raw[size_at:size_at + 4] = (1000).to_bytes(4, "little")
            at += 4
    liar.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"liar.zip unpacks to over|cannot be unpacked"):
        load_image_table(str(liar), display_name="liar.zip")
    assert not unzipped.exists() or not any(unzipped.iterdir())

    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a/0.png", png.getvalue())
        zf.writestr("b/0.png", png.getvalue())
    raw = bytearray(damaged.read_bytes())
    raw[raw.find(b"IHDR") + 6] ^= 0xFF  # one byte of the first image's data: its CRC no longer matches
    damaged.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"damaged.zip cannot be unpacked at 'a/0.png'.*Bad CRC"):
        load_image_table(str(damaged), display_name="damaged.zip")
    assert not unzipped.exists() or not any(unzipped.iterdir())  # no .tmp folder left


def test_a_zip_is_read_where_it_lies_and_leaves_nothing_on_disk(image_folder, tmp_path, monkeypatch):
    """Issue 39, item 4: each 65 KB zip upload left up to 63 MB unpacked in the shared cache for good, so a visitor
    could fill the disk (and below the 512 MB floor no run starts for anyone). A zip's images are now read from the
    zip itself: the preview and a run read the same images as the folder, and nothing is written."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("HEADSTART_CACHE", str(cache))
    (cache / "unzipped" / "0123abcd").mkdir(parents=True)  # what an earlier version left behind
    (cache / "unzipped" / "0123abcd" / "x.png").write_bytes(b"x" * 1000)
    padded = tmp_path / "padded.zip"  # 63 MB of one "image" in ~64 KB of zip: within the zip bomb rules
    with zipfile.ZipFile(padded, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(image_folder.rglob("*.png")):
            zf.write(f, "shapes/" + str(f.relative_to(image_folder)))
        zf.writestr("shapes/square/pad.bmp", b"\0" * (63 * 1024 ** 2))
    assert padded.stat().st_size < 200 * 1024
    folder = load_image_table(str(image_folder))
    table = load_image_table(str(padded), display_name="padded.zip")
    assert [n for n in table.names if n != "square/pad.bmp"] == folder.names
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file() and f != padded) < 10 * 1024 ** 2
    assert not (cache / "unzipped").exists()  # nothing unpacked, and the old folder removed
    shown = load_image_table(str(zipped(image_folder, tmp_path / "shapes.zip")), display_name="shapes.zip")
    prep = ImagePreprocessing(16, (0.5,) * 3, (0.5,) * 3)
    assert np.array_equal(decode_table(shown, prep, None)[0], decode_table(folder, prep, None)[0])
    with pytest.raises(DataError, match=r"padded.zip: square/pad.bmp is not a readable image"):
        decode_table(table, prep, None)


def test_an_image_over_the_pixel_cap_is_refused_by_its_header_before_it_is_decoded(image_folder, tmp_path, monkeypatch):
    """Issue 39, item 5: a 0.16 MB PNG declaring 13000×13000 pixels took half a gigabyte and seconds to decode, in a
    run and in Try it. Its header alone refuses it now, naming the file and the setting."""
    import time

    from training.tasks.images.data import image_size

    huge = image_folder / "square" / "huge.png"
    Image.new("L", (13000, 13000)).save(huge)
    assert huge.stat().st_size < 300_000
    table = load_image_table(str(zipped(image_folder, tmp_path / "shapes.zip")), display_name="shapes.zip")
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"shapes.zip: square/huge.png is 13,000×13,000 pixels \(169 megapixels\), "
                                        r"more than the 50 megapixels.*HEADSTART_IMAGE_MAX_MEGAPIXELS"):
        decode_table(table, ImagePreprocessing(16, (0.5,) * 3, (0.5,) * 3), None)
    assert time.perf_counter() - t0 < 0.5  # the small images before it, and a header
    with pytest.raises(DataError, match="huge.png is 13,000×13,000 pixels"):
        image_size(huge, "huge.png", "your input")
    monkeypatch.setenv("HEADSTART_IMAGE_MAX_MEGAPIXELS", "170")
    assert image_size(huge, "huge.png", "your input") == (13000, 13000)


def test_a_table_naming_images_that_are_not_there_is_refused_by_row(tmp_path):
    """Issue 28: an image table whose paths did not exist raised FileNotFoundError (a traceback) while fingerprinting.
    Now the rows are named, as the table wrote their paths, before any image is read."""
    from training.errors import DataError
    from training.tasks.images.data import load_image_table

    (tmp_path / "imgs").mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), i * 40, dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    table = tmp_path / "pets.csv"
    pd.DataFrame({"image": [f"imgs/{i}.png" for i in range(10)], "label": ["cat", "dog"] * 5}).to_csv(table, index=False)
    with pytest.raises(DataError, match=r"^pets.csv: 4 of 10 rows name an image file that is not there \(row 8: "
                                        r"imgs/6.png; row 9: imgs/7.png; row 10: imgs/8.png; …\)\. Paths are read "
                                        r"relative to the table's folder"):
        load_image_table(str(table), display_name="pets.csv")
    pd.DataFrame({"image": [f"imgs/{i}.png" for i in range(6)], "label": ["cat", "dog"] * 3}).to_csv(table, index=False)
    assert len(load_image_table(str(table), display_name="pets.csv").items) == 6
