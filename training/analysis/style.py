"""One colour per strategy across every chart (Okabe–Ito colour-blind-safe palette), readable on a projector."""
from __future__ import annotations

STRATEGY_COLORS = {
    "scratch": "#D55E00", "full": "#0072B2", "lora": "#009E73", "qlora": "#56B4E9", "head": "#E69F00",
    "freeze": "#CC79A7", "discriminative": "#7F3C8D", "lp-ft": "#332288", "pretrain": "#666666", "own": "#882255",
}
FALLBACK = ["#999933", "#44AA99", "#117733"]


def color(label: str) -> str:
    """Colour of a strategy label (`scratch×3` takes scratch's colour; its line is dashed)."""
    base = label.split("×")[0]
    if base in STRATEGY_COLORS:
        return STRATEGY_COLORS[base]
    return FALLBACK[sum(map(ord, base)) % len(FALLBACK)]


def dash(label: str) -> str:
    return "dash" if "×" in label else "solid"


LAYOUT = dict(font=dict(size=15), legend=dict(title=None), margin=dict(l=60, r=20, t=50, b=50),
              hoverlabel=dict(font_size=13))
