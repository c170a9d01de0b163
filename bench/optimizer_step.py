"""One AdamW step over MiniLM-L6's parameters (22.4M, its 11.7M-row embedding included, as scratch trains it): torch's
foreach implementation against the fused one, interleaved in one run, on this machine's device.

    python bench/optimizer_step.py           # 30 steps each, medians and their ratio
    python bench/optimizer_step.py --tiny    # a smoke run
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import device, environment, sync


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    print(environment())
    dev = device()
    shapes = ([(300, 16)] + [(16, 16)] * 4) if args.tiny else ([(30522, 384)] + [(384, 384)] * 24 + [(1536, 384)] * 12
                                                               + [(384,)] * 60)
    torch.manual_seed(0)

    def params():
        ps = [torch.nn.Parameter(torch.randn(*s, device=dev) * 0.02) for s in shapes]
        for p in ps:
            p.grad = torch.randn_like(p) * 1e-3
        return ps

    opts = {"foreach": torch.optim.AdamW(params(), lr=1e-3, foreach=True),
            "fused": torch.optim.AdamW(params(), lr=1e-3, fused=True)}
    times: dict[str, list[float]] = {k: [] for k in opts}
    for _ in range(3 if args.tiny else 30):
        for name, opt in opts.items():
            t = time.perf_counter()
            opt.step()
            sync()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = sum(p.numel() for g in opts["fused"].param_groups for p in g["params"])
    print(f"AdamW step over {n / 1e6:.1f}M parameters: foreach {med['foreach'] * 1e3:.1f} ms, fused {med['fused'] * 1e3:.1f} ms "
          f"(fused is {med['foreach'] / med['fused']:.1f}× faster)")


if __name__ == "__main__":
    main()
