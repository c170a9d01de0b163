"""Checkpoints that let a run resume exactly: trainable weights, optimizer, scheduler, RNG and counters.

Layout of `runs/<run_id>/checkpoint/`:
  trainable.safetensors   the parameters that train (all of them for full/scratch; adapters + head for
                          LoRA; the head for head-only) — frozen ones are the base's and are rebuilt — and the
                          batch norms' running statistics
  state.pt                step, phase, counters, optimizer and scheduler state, torch RNG states
  adapter/                (LoRA/QLoRA, final checkpoint) the PEFT adapter, loadable with PeftModel
A checkpoint is written to a sibling temporary directory and renamed into place, so a crash mid-write
leaves the previous checkpoint intact.

`runs/<run_id>/best/` holds the trainable weights at the lowest validation loss so far (`best.json` names
the step), so a run can be scored at its best checkpoint (early stopping) as well as at its end.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STATE = "state.pt"
WEIGHTS = "trainable.safetensors"


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Trainable parameters by name, each shared tensor once (safetensors refuses aliases), and the running
    statistics of batch norms (buffers that training changes: without them a restored checkpoint would pair its
    weights with the statistics of the run's end)."""
    seen, out = set(), {}
    for name, p in model.named_parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            out[name] = p.detach().to("cpu").contiguous()
    for name, b in norm_buffers(model).items():
        out[name] = b.detach().to("cpu").contiguous()
    return out


def norm_buffers(model) -> dict[str, torch.Tensor]:
    """The batch norms' running mean, variance and update count, by name."""
    out = {}
    for prefix, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            for name, b in m.named_buffers(recurse=False):
                if b is not None:
                    out[f"{prefix}.{name}" if prefix else name] = b
    return out


DISK_FULL_WORDS = ("No space left on device", "os error 28", "Disk quota exceeded")
"""How libraries that raise their own exception types (safetensors' SafetensorError) say the disk was full."""


def save(ckpt_dir: Path, model, state: dict, export_adapter: bool = False) -> None:
    """Write the checkpoint beside the old one and swap it in: a failed write leaves the previous checkpoint whole.
    A write that failed for want of room raises OSError(ENOSPC) whatever the library said (safetensors and torch.save
    report it in their own words), so the run is interrupted to resume, not failed."""
    tmp = ckpt_dir.with_name(ckpt_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file(trainable_state(model), str(tmp / WEIGHTS))
        torch.save(state, tmp / STATE)
        backbone = getattr(model, "backbone", None)  # a practitioner's bag of words has none
        if export_adapter and hasattr(backbone, "save_pretrained") and hasattr(backbone, "peft_config"):
            model.backbone.save_pretrained(str(tmp / "adapter"))
    except Exception as e:
        # said in the library's own words ("os error 28"), or no room left (checked before the cleanup frees it): a
        # write that failed short of its last megabyte leaves more than the room check's megabyte free
        said = any(w in str(e) for w in DISK_FULL_WORDS)
        full = not isinstance(e, OSError) and (said or not _disk_has_room(ckpt_dir.parent))
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp)) from e
        raise
    old = ckpt_dir.with_name(ckpt_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt_dir.exists():
        ckpt_dir.rename(old)
    tmp.rename(ckpt_dir)
    shutil.rmtree(old, ignore_errors=True)


def _disk_has_room(folder: Path, need: int = 1024 ** 2) -> bool:
    try:
        return shutil.disk_usage(folder).free >= need
    except OSError:
        return True


def exists(ckpt_dir: Path) -> bool:
    return (ckpt_dir / STATE).is_file() and (ckpt_dir / WEIGHTS).is_file()


def drop_training_state(ckpt_dir: Path) -> int:
    """Remove what only resuming needs (optimizer and scheduler state, RNG: twice the weights' size under AdamW) from a
    finished run's checkpoint, keeping the weights it answers with; returns the bytes freed."""
    path = ckpt_dir / STATE
    size = path.stat().st_size if path.is_file() else 0
    path.unlink(missing_ok=True)
    return size


def load_state(ckpt_dir: Path) -> dict:
    # weights_only: the state holds only tensors, numbers, strings and containers of them.
    return torch.load(ckpt_dir / STATE, map_location="cpu", weights_only=True)


def load_weights(ckpt_dir: Path, model) -> None:
    """Copy saved trainable parameters into the model (names must match the prepared model)."""
    saved = load_file(str(ckpt_dir / WEIGHTS))
    params = {**dict(model.named_parameters()), **norm_buffers(model)}
    missing = [k for k in saved if k not in params]
    if missing:
        raise RuntimeError(f"checkpoint has parameters the model lacks (e.g. {missing[0]}); "
                           "was it written by a different strategy or model?")
    with torch.no_grad():
        for name, tensor in saved.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def best_dir(ckpt_dir: Path) -> Path:
    return ckpt_dir.with_name("best")


def save_best(ckpt_dir: Path, model, step: int) -> None:
    """Keep the trainable weights of a new best validation loss (atomically, with the step they belong to)."""
    d = best_dir(ckpt_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "best.json").unlink(missing_ok=True)  # a crash below leaves no best rather than a mislabelled one
    tmp = d / f"{WEIGHTS}.{os.getpid()}.tmp"
    save_file(trainable_state(model), str(tmp))
    tmp.replace(d / WEIGHTS)
    (d / "best.json.tmp").write_text(json.dumps({"step": step}), encoding="utf-8")
    (d / "best.json.tmp").replace(d / "best.json")


def has_best(ckpt_dir: Path, step: int) -> bool:
    """True when the kept best weights are those of `step` (a resumed run may have overwritten them later)."""
    meta = best_dir(ckpt_dir) / "best.json"
    try:
        return json.loads(meta.read_text(encoding="utf-8"))["step"] == step and (best_dir(ckpt_dir) / WEIGHTS).is_file()
    except (OSError, ValueError, KeyError):
        return False


def load_best(ckpt_dir: Path, model) -> None:
    load_weights(best_dir(ckpt_dir), model)
