"""Shared bench helpers: the MiniLM classification job on the built-in docstrings, and a metadata line."""
from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from training.config import DataConfig, ModelConfig, OptimConfig, StrategyConfig
from training.core.control import NullControl
from training.core.loop import RunSetup, train
from training.core.models import load_tokenizer, resolve_base, structure
from training.core.strategies import get_strategy
from training.tasks import build_task_model, prepare_task_data, task_kind


def environment() -> str:
    import peft
    import transformers

    cpu = f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu
    return (f"device: {dev}; torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
            f"python {platform.python_version()}")


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class NullSink:
    def log(self, *a, **k):
        pass

    def event(self, *a, **k):
        pass

    def truncate(self, *a, **k):
        pass


def tiny_base(tmp: Path) -> Path:
    """The tests' 2-layer BERT with MiniLM's tokenizer (random weights): the tiny modes' stand-in for MiniLM,
    so that a CI smoke run of a bench takes seconds, not minutes."""
    from training.testing import make_tiny_bert  # only the tiny (CI) modes need the test helpers

    return make_tiny_bert(tmp / "tiny-bert")


def docstrings_job(max_length: int, cache: Path, tiny: bool = False):
    """(base_dir, tokenizer, task data) of the MiniLM classification job (tiny: a tiny BERT instead)."""
    base = tiny_base(cache.parent) if tiny else resolve_base("builtin:minilm-l6")
    tok = load_tokenizer(base)
    data = prepare_task_data(DataConfig(eval_max=64), "text-classification", tok, max_length, cache)
    return base, tok, data


def run_our_loop(base, tok, data, strategy_name: str, steps: int, batch: int, ckpt: Path, *, bf16: bool,
                 compile_: bool, options: dict | None = None) -> dict:
    """Train `steps` steps with the one loop; returns its result (wall_s excludes eval)."""
    strategy = get_strategy(StrategyConfig(strategy_name, options=options or {}), task_kind("text-classification"))
    model = build_task_model("text-classification", base, pretrained=True, num_labels=len(data.label_names),
                             cfg=ModelConfig(max_length=64), seed=0)
    strategy.prepare(model)
    setup = RunSetup(kind=strategy.kind, strategy=strategy, model=model, structure=structure(model),
                     pad_id=tok.pad_token_id, train=data.train, eval=data.eval, n_classes=len(data.label_names),
                     probes=[], seed=0, total_steps=steps, batch_size=batch, micro_batch_size=batch,
                     optim=OptimConfig(), weight_decay=0.01, eval_every=steps, checkpoint_every=10 ** 9,
                     probe_every_eval=False, device=device(), bf16=bf16, compile=compile_, ckpt_dir=ckpt,
                     keep_checkpoint=False, eval_at_start=False)
    t0 = time.perf_counter()
    result = train(setup, NullSink(), NullControl())
    result["total_s"] = time.perf_counter() - t0
    return result
