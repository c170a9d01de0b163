"""Checks on a folder `export-model` wrote before `predict` opens any of its files (issue 39): a folder is data from
anyone, so every file must be a regular file inside it (never a FIFO, a device or a link leading out), files other than
weights are bounded in size, a transformers folder holds no pickled weights and no adapter that would replace its model,
and the model a config describes is built on the meta device — stopped as soon as it holds more tensors than the
weights file — and compared with the safetensors header before any memory is spent on it. Every refusal names the file.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from training.errors import HeadStartError

MAX_FILES = 10_000
"""The most entries a folder may hold (an export writes about ten)."""
MAX_FILE_BYTES = 64 * 2 ** 20
"""The largest file predict reads other than the weights (a big vocabulary's tokenizer.json is about 35 MB)."""
UNREAD = (".safetensors", ".pt2")
"""Files that may be larger: safetensors weights (read through their header, memory-mapped) and model.pt2 (never read)."""
PICKLED = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".h5", ".msgpack", ".npy", ".npz")
"""Weights or state in formats that unpickle or that transformers would load instead of model.safetensors."""


def refusal(folder: Path, file: str, what: str) -> HeadStartError:
    return HeadStartError(f"{Path(folder) / file} is not what export-model writes: {what}. Export the model again "
                          "(python -m training export-model RUN --out FOLDER)")


def check_files(folder: Path) -> None:
    """Every entry under `folder` is a folder or a regular file (a symbolic link only to a regular file inside the
    folder), at most MAX_FILES of them, and every file but the weights at most MAX_FILE_BYTES. Nothing is opened."""
    folder = Path(folder)
    root = folder.resolve()
    n = 0
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            n += 1
            path = Path(top) / name
            rel = str(path.relative_to(folder))
            if n > MAX_FILES:
                raise refusal(folder, "", f"it holds more than {MAX_FILES:,} files")
            try:
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(root):
                        raise refusal(folder, rel, f"it is a symbolic link leading out of the folder (to {target})")
                    if not target.is_file():
                        raise refusal(folder, rel, "it is a symbolic link to something other than a regular file")
                    stat = target.stat()
                else:
                    stat = path.lstat()
                    if name in dirs:
                        continue
                    if not path.is_file():
                        raise refusal(folder, rel, "it is not a regular file (a FIFO, a device or a socket)")
            except (OSError, RuntimeError) as e:  # RuntimeError: a symbolic link loop (Python 3.11's resolve)
                raise refusal(folder, rel, f"it cannot be read ({getattr(e, 'strerror', None) or e})") from None
            if stat.st_size > MAX_FILE_BYTES and not name.endswith(UNREAD):
                raise refusal(folder, rel, f"it is {stat.st_size / 2 ** 20:,.0f} MB (predict reads at most "
                                           f"{MAX_FILE_BYTES // 2 ** 20} MB of a file other than the weights)")


def read_json(folder: Path, file: str, most: int = 16 * 2 ** 20):
    """A JSON file of the folder, bounded (`check_files` first: a regular file)."""
    path = Path(folder) / file
    if not path.is_file():
        raise refusal(folder, file, "it is missing")
    if path.stat().st_size > most:
        raise refusal(folder, file, f"it is larger than {most // 2 ** 20} MB")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise refusal(folder, file, "it is not JSON") from None


def check_transformers_files(folder: Path) -> None:
    """A folder transformers' from_pretrained will read: only safetensors weights (no pickled or other-format weights,
    which from_pretrained falls back to), an index only of safetensors files beside it, and no adapter_config.json at
    its top (transformers would load an adapter in place of the model; an export keeps a LoRA adapter under adapter/)."""
    folder = Path(folder)
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.name.lower().endswith(PICKLED) or ".bin." in path.name or path.name.endswith(".index.json") \
                and not path.name.endswith(".safetensors.index.json"):
            raise refusal(folder, rel, "predict loads only model.safetensors and JSON files, never weights in another "
                                       "format (they may be pickles); remove it")
    if (folder / "adapter_config.json").exists():
        raise refusal(folder, "adapter_config.json", "an adapter at the top of the folder would be loaded in place of "
                                                     "the model (an export keeps a LoRA run's adapter under adapter/)")
    if not (folder / "model.safetensors").is_file() and not (folder / "model.safetensors.index.json").is_file():
        raise refusal(folder, "model.safetensors", "it is missing")


def safetensors_header(folder: Path, file: str = "model.safetensors") -> dict[str, tuple[int, ...]]:
    """{tensor name: shape} from a weights file's header (or every shard an index names, each a file beside it)."""
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    files = [file]
    if not (folder / file).is_file() and (folder / f"{file}.index.json").is_file():
        index = read_json(folder, f"{file}.index.json")
        shards = index.get("weight_map") if isinstance(index, dict) else None
        if not (isinstance(shards, dict) and shards and all(
                isinstance(s, str) and s.endswith(".safetensors") and "/" not in s and "\\" not in s
                and s not in (".", "..") and (folder / s).is_file() for s in shards.values())):
            raise refusal(folder, f"{file}.index.json", "its weight_map must name safetensors files beside it")
        files = sorted(set(shards.values()))
    found: dict[str, tuple[int, ...]] = {}
    for name in files:
        try:
            with safe_open(str(folder / name), framework="pt") as f:
                found.update({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
        except (SafetensorError, OSError, ValueError) as e:
            raise refusal(folder, name, f"it cannot be read ({str(e)[:120]})") from None
    if not found:
        raise refusal(folder, file, "it holds no tensors")
    return found


class _TooMany(Exception):
    pass


@contextmanager
def tensor_budget(most: int):
    """Stop a model's construction (an exception out of the constructor) once it has registered more than `most`
    parameters and buffers: a config claiming 200,000 layers is stopped after a few, not built for minutes."""
    import threading

    from torch.nn.modules.module import (
        register_module_buffer_registration_hook,
        register_module_parameter_registration_hook,
    )

    me, count = threading.get_ident(), [0]

    def hook(*_):
        if threading.get_ident() == me:
            count[0] += 1
            if count[0] > most:
                raise _TooMany

    handles = [register_module_parameter_registration_hook(hook), register_module_buffer_registration_hook(hook)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def build_on_meta(folder: Path, file: str, found: dict[str, tuple[int, ...]], build):
    """`build()` on the meta device within a tensor budget of the weights' own count; refusals name `file` (the
    config). Returns the built (meta) model."""
    import torch

    try:
        with tensor_budget(2 * len(found) + 64), torch.device("meta"):
            return build()
    except _TooMany:
        raise refusal(folder, file, f"it describes a model of more tensors than the {len(found):,} the weights "
                                    "hold") from None
    except HeadStartError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError, IndexError, OverflowError,
            ZeroDivisionError, MemoryError) as e:
        raise refusal(folder, file, f"it cannot be built ({type(e).__name__}: {str(e)[:120]})") from None


def check_fits(folder: Path, file: str, found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) \
        -> None:
    """The weights' tensors are the model's: every one is a tensor of the model with its shape, and what the model
    has beyond them (tied output layers, an unused pooler) is no larger than the weights themselves."""
    import math

    extra = sorted(set(found) - set(expected))
    wrong = [k for k in found if k in expected and found[k] != expected[k]]
    if extra or wrong:
        k = (wrong or extra)[0]
        raise refusal(folder, "model.safetensors", f"its tensors do not fit {file} (first difference: {k[:80]!r}, "
                                                   f"{found[k]} in the weights, "
                                                   f"{expected.get(k, 'absent')} in the model {file} describes)")
    missing = sum(math.prod(expected[k]) for k in set(expected) - set(found))
    if missing > sum(math.prod(s) for s in found.values()):
        raise refusal(folder, file, "it describes a model larger than its weights")


def load_transformers(folder: Path, auto_cls, **kwargs):
    """`auto_cls.from_pretrained(folder)` once the folder is checked: safetensors only, the model its config.json
    describes built on the meta device and matched with the weights' header first."""
    from transformers import AutoConfig

    folder = Path(folder)
    check_transformers_files(folder)
    found = safetensors_header(folder)
    if not isinstance(read_json(folder, "config.json"), dict):
        raise refusal(folder, "config.json", "it is not a mapping")
    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise refusal(folder, "config.json", f"transformers cannot read it ({type(e).__name__}: "
                                             f"{str(e)[:120]})") from None
    meta = build_on_meta(folder, "config.json", found,
                         lambda: auto_cls.from_config(config, trust_remote_code=False, **kwargs))
    check_fits(folder, "config.json", found, {k: tuple(v.shape) for k, v in meta.state_dict().items()})
    del meta
    try:
        return auto_cls.from_pretrained(str(folder), config=config, use_safetensors=True, local_files_only=True,
                                        trust_remote_code=False, **kwargs)
    except (OSError, ValueError, RuntimeError) as e:
        raise refusal(folder, "model.safetensors", f"transformers cannot load it ({type(e).__name__}: "
                                                   f"{str(e)[:160]})") from None
