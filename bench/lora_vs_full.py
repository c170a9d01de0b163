"""(c) LoRA vs full fine-tuning step time on MiniLM, side by side (steady state: runs of S and 2S steps).

    python bench/lora_vs_full.py            # CUDA (bf16, compile) or CPU
    python bench/lora_vs_full.py --tiny     # CI smoke
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import device, docstrings_job, environment, run_our_loop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    args = ap.parse_args()
    cuda = device().type == "cuda"
    steps = args.steps or (4 if args.tiny else 200 if cuda else 25)
    batch = args.batch or (8 if args.tiny else 256 if cuda else 16)
    tmp = Path(tempfile.mkdtemp())
    base, tok, data = docstrings_job(32 if args.tiny else 64, tmp / "cache", tiny=args.tiny)
    print(environment())
    times = {}
    for label, name, options in (("full", "full", {}), ("lora r16 (dropout 0.05)", "lora", {"dropout": 0.05}),
                                 ("lora r16 (dropout 0)", "lora", {"dropout": 0.0})):
        t = [run_our_loop(base, tok, data, name, s, batch, tmp / f"{name}{s}", bf16=cuda, compile_=cuda,
                          options=options)["total_s"] for s in (steps, 2 * steps)]
        times[label] = (t[1] - t[0]) / steps
        print(f"{label:26} {times[label] * 1000:8.1f} ms/step")
    for label in list(times)[1:]:
        print(f"{label} / full step time: {times[label] / times['full']:.2f} (target ≤ 1.00)"
              + (" — tiny mode: smoke run, not a measurement" if args.tiny else ""))


if __name__ == "__main__":
    main()
