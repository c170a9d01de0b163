"""Image classification: an image network (EfficientNet-Lite0 by default, or a transformers image model) with a
linear head, scored by accuracy and macro-F1; references are the majority class and logistic regression on the
pixels; the forgetting probe is the k-NN accuracy of the image features on faces vs non-faces."""
from __future__ import annotations

from pathlib import Path

from training.config import ModelConfig
from training.tasks.base import Column, Form, TaskKind
from training.tasks.images.words import WORDS, probe_note

IMAGE_LR = 3e-3
"""LOG.md 2026-11-24: the images-cpu search chose 3e-3 (checked on digits-8x8; MNIST at 48 px chose it at the edge of a
1e-3 grid for LP-FT's head): image networks with batch norm want higher rates than transformers."""


class ImageClassification(TaskKind):
    name = "image-classification"
    title = "Image classification"
    help = "an image network with a linear head, scored by accuracy and macro-F1"
    unit = "training images"
    refused = {
        "qlora": "4-bit quantisation (bitsandbytes) covers linear layers only; an image model's weights are mostly "
                 "convolutions, so use lora",
    }
    default_lrs = {name: IMAGE_LR for name in ("scratch", "own", "full", "lora", "freeze", "discriminative", "lp-ft")}
    own_model = ("a small residual convolutional network sized to the images and their number, the pixels normalised "
                 "by the run's training images, from random weights")
    default_base = "builtin:efficientnet-lite0"
    probe_default = ("5-NN accuracy of the image features on 100 faces vs 100 non-faces (scikit-image), which no "
                     "preset trains on: the base model's general visual skill")
    words = WORDS
    form = Form(upload_label="A zip of class folders (cats/…, dogs/…), or a table with an image column", zip_folders=True,
                columns=(Column("image_column", "Image column", "image"), Column("label_column", "Label column", "label")),
                column_note="The image column holds a path (relative to the file), the image's bytes, or a Hugging Face "
                            "image record. A zip of class folders needs no columns.",
                hub_placeholder="uoft-cs/cifar10", builtin_model="Built-in EfficientNet-Lite0 (ImageNet)",
                model_placeholder="microsoft/resnet-18", model_files="preprocessor_config.json", max_length=None,
                image_size=True)

    @property
    def builtins(self) -> dict[str, str]:
        from training.tasks.images.data import BUILTIN_IMAGES

        return {n: what for n, what in BUILTIN_IMAGES.items() if n != "lfw-faces"}  # the faces are the probe's

    def note(self, key: str, config) -> str:
        return probe_note(config) if key == "probe" else ""

    def prepare_data(self, cfg, processor, max_length: int, cache_dir: Path | None):
        from training.tasks.images.data import prepare

        return prepare(cfg, processor, cache_dir, self.unit)

    def resolve_base(self, base: str) -> Path:
        from training.tasks.images.model import resolve_image_base

        return resolve_image_base(base)

    def load_processor(self, base_dir: Path, cfg: ModelConfig):
        from training.tasks.images.model import load_image_preprocessing

        return load_image_preprocessing(base_dir, cfg)

    def check_model(self, cfg: ModelConfig, base_dir: Path, label: str) -> None:
        """Image models take any square size the config allows (checked in ModelConfig)."""

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.tasks.images.model import build_image_model, load_image_preprocessing

        size = load_image_preprocessing(base_dir, cfg).size
        return build_image_model(base_dir, pretrained=pretrained, num_labels=num_labels, cfg=cfg, seed=seed,
                                 image_size=size)

    def own_base(self, data, cfg, n: int, seed: int, options: dict, folder: Path) -> Path:
        from training.tasks.images.own import write_base

        pixels = data.train.pixels[data.subset_indices(cfg.data, n, seed)]
        return write_base(pixels, n, int(pixels.shape[1]), float(data.info.get("crop_pct", 1.0)), options, folder)

    def eval_inputs(self, data) -> list[str] | None:
        return data.extra.get("eval_names")

    exports = True
    input_form = "image"

    def predict(self, model, processor, inputs: list, cfg, label_names: list[str]) -> list[dict]:
        from training.tasks.images.model import predict_images

        return predict_images(model, processor, inputs, label_names)

    def export(self, model, processor, out: Path, label_names: list[str], cfg) -> dict:
        from training.tasks.images.model import export_images

        return export_images(model, processor, out, label_names)

    def load_exported(self, folder: Path):
        from training.tasks.images.model import load_exported_images

        return load_exported_images(folder)

    def card_snippet(self, folder: Path, meta: dict) -> str:
        from training.tasks.images.model import CARD_SNIPPET

        return CARD_SNIPPET.format(folder=str(folder).replace("\\", "/"), example='["my-image.png"]')

    def lora_targets(self, backbone, targets):
        if targets != "all-linear":
            return targets
        from training.tasks.images.model import lora_targets  # a CNN's weights are convolutions

        return lora_targets(backbone)

    def batch_flops(self, counter, micro, data, cached: bool) -> float:
        return counter.training_flops(0, 0, len(micro), units=slice(-1, None) if cached else slice(None))

    def encode_flops(self, counter, data) -> float:
        return counter.forward_flops(0, 0, len(data), units=slice(None, -1))

    def example_flops(self, counter, data, cached: bool) -> float:
        return counter.training_flops(0, 0, 1, units=slice(-1, None) if cached else slice(None))

    def probes(self, cfg, processor, cache_dir: Path | None, held_out=None) -> list:
        from training.tasks.images.probe import build

        return build(cfg, processor, cache_dir)

    def reference_rows(self, data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
        from training.tasks.images.references import rows

        return rows(data, cfg, sizes, seeds)


KINDS = (ImageClassification(),)
