"""(a) Our loop vs the Hugging Face Trainer on the same MiniLM classification job, side by side.

    python bench/trainer_vs_loop.py            # CUDA: bf16, fused AdamW, compile for our loop
    python bench/trainer_vs_loop.py --tiny     # a few CPU steps (CI smoke; no timing claims)

Both train the same model (MiniLM-L6 + mean pooling + linear head) on the same docstrings with the same
batch, learning rate, schedule and clipping. Throughput is steady-state: each side runs S and 2S steps
and the difference is timed, so start-up and compile warm-up cancel out.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import device, docstrings_job, environment, run_our_loop

from training.config import ModelConfig
from training.tasks import build_task_model


class TrainerModel(torch.nn.Module):
    """The same classifier, returning the loss the way Trainer expects."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask, labels=None):
        logits = self.inner(input_ids=input_ids, attention_mask=attention_mask)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def run_trainer(base, tok, data, steps: int, batch: int, out: Path) -> float:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    cuda = device().type == "cuda"
    rows = [{"input_ids": ids.tolist(), "attention_mask": [1] * len(ids), "labels": int(y)}
            for ids, y in zip(data.train.ids, data.train.labels, strict=True)]
    model = TrainerModel(build_task_model("text-classification", base, pretrained=True,
                                          num_labels=len(data.label_names), cfg=ModelConfig(max_length=64), seed=0))
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-4,
                             warmup_steps=0.1, lr_scheduler_type="linear", weight_decay=0.01, max_grad_norm=1.0,
                             bf16=cuda, optim="adamw_torch_fused" if cuda else "adamw_torch", logging_steps=10 ** 6,
                             save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=not cuda,
                             dataloader_pin_memory=cuda, remove_unused_columns=False, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tok))
    t0 = time.perf_counter()
    trainer.train()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--max-length", type=int, default=None)
    args = ap.parse_args()
    cuda = device().type == "cuda"
    steps = args.steps or (5 if args.tiny else 200 if cuda else 30)
    batch = args.batch or (8 if args.tiny else 256 if cuda else 16)
    max_len = args.max_length or (32 if args.tiny else 64)
    tmp = Path(tempfile.mkdtemp())
    base, tok, data = docstrings_job(max_len, tmp / "cache", tiny=args.tiny)
    print(environment())
    model = "a tiny BERT" if args.tiny else "MiniLM-L6"
    print(f"job: {model} full fine-tuning, docstrings, max length {max_len}, batch {batch}, "
          f"steady state over {steps} steps")
    ours = [run_our_loop(base, tok, data, "full", s, batch, tmp / f"ck{s}", bf16=cuda, compile_=cuda)["total_s"]
            for s in (steps, 2 * steps)]
    theirs = [run_trainer(base, tok, data, s, batch, tmp / f"hf{s}") for s in (steps, 2 * steps)]
    ours_sps = steps * batch / max(ours[1] - ours[0], 1e-9)
    theirs_sps = steps * batch / max(theirs[1] - theirs[0], 1e-9)
    print(f"our loop:   {ours_sps:,.0f} samples/s (runs of {steps} and {2 * steps} steps: {ours[0]:.1f} s, {ours[1]:.1f} s)")
    print(f"HF Trainer: {theirs_sps:,.0f} samples/s (runs: {theirs[0]:.1f} s, {theirs[1]:.1f} s)")
    print(f"ratio ours / Trainer: {ours_sps / theirs_sps:.2f}× (targets: ≥ 2.5× on CUDA, ≥ 1.3× on CPU)"
          + (" — tiny mode is a smoke run; this ratio is not a measurement" if args.tiny else ""))


if __name__ == "__main__":
    main()
