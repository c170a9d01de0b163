"""(b) GPT-2-124M shape causal LM: tokens/s and MFU against the datasheet peak and a measured matmul peak.

    python bench/gpt2_mfu.py                # CUDA: bf16 autocast, fused AdamW, torch.compile, SDPA
    python bench/gpt2_mfu.py --tiny         # a 2-layer model on CPU (CI smoke)

FLOPs per token are the analytic count of training/core/accounting.py (6N + attention, every layer trains).
"""
from __future__ import annotations

import argparse
import time

import torch
from common import device, environment, sync

from training.core.accounting import FlopCounter
from training.core.hardware import peak_flops_for
from training.core.models import structure
from training.tasks.lm.model import CausalLM


def matmul_peak(dtype) -> float:
    n = 8192 if device().type == "cuda" else 1024
    a = torch.randn(n, n, device=device(), dtype=dtype)
    b = torch.randn(n, n, device=device(), dtype=dtype)
    for _ in range(3):
        a @ b
    sync()
    reps = 20 if device().type == "cuda" else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def main() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    cuda = device().type == "cuda"
    if args.tiny:
        cfg = GPT2Config(n_layer=2, n_embd=128, n_head=4, n_positions=128, vocab_size=1024)
        batch, T, steps = args.batch or 4, 128, args.steps or 4
    else:
        cfg = GPT2Config(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50304)  # 124M shape
        batch, T, steps = args.batch or (16 if cuda else 1), 1024, args.steps or (30 if cuda else 2)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = CausalLM(GPT2LMHeadModel(cfg)).to(device())
    counter = FlopCounter(model, structure(model))
    flops_per_step = counter.training_flops(batch * T, batch * T * T, batch)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, fused=cuda)
    step_fn = torch.compile(model) if cuda and not args.no_compile else model
    x = torch.randint(0, cfg.vocab_size, (batch, T), device=device())
    mask = torch.ones_like(x)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            logits = step_fn(input_ids=x, attention_mask=mask)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3 if cuda else 1):  # warm-up (and compile)
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    achieved = flops_per_step / dt
    peak_sheet = peak_flops_for(torch.cuda.get_device_name()) if cuda else None
    peak_measured = matmul_peak(torch.bfloat16 if cuda else torch.float32)
    print(environment())
    print(f"model: GPT-2 shape n_layer={cfg.n_layer} n_embd={cfg.n_embd} vocab={cfg.vocab_size}, batch {batch} × {T} tokens")
    print(f"{batch * T / dt:,.0f} tokens/s, {achieved / 1e12:.2f} TFLOP/s achieved")
    if peak_sheet:
        print(f"MFU vs datasheet peak {peak_sheet / 1e12:.0f} TFLOP/s: {achieved / peak_sheet:.1%} (target ≥ 45% on an H100)")
    print(f"vs measured matmul peak {peak_measured / 1e12:.2f} TFLOP/s: {achieved / peak_measured:.1%}")


if __name__ == "__main__":
    main()
