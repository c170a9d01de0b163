"""Numbers for people: FLOPs, bytes and seconds with their units, and plain names for strategies and probes.

Every page and the report format through these, so a table never shows `687562640640` or `None`; a value
that does not apply (MFU on a CPU) is "—" and the caller says why."""
from __future__ import annotations

import math
import re
import time

NOT_APPLICABLE = "—"

PLAIN_NAMES = {
    "scratch": "training from scratch",
    "own": "your own model from scratch (tokenizer and size fitted to your data)",
    "full": "full fine-tuning",
    "lora": "LoRA fine-tuning",
    "qlora": "QLoRA fine-tuning",
    "head": "a new head on the frozen model (linear probe)",
    "freeze": "fine-tuning the top layers",
    "discriminative": "discriminative fine-tuning",
    "lp-ft": "linear probe, then full fine-tuning (LP-FT)",
}
"""What each strategy code means, for sentences a newcomer reads ("use LoRA fine-tuning")."""
SHORT_NAMES = {"scratch": "scratch", "own": "your own model", "full": "full fine-tuning", "lora": "LoRA",
               "qlora": "QLoRA", "head": "the linear probe (head)", "freeze": "top layers", "discriminative":
               "discriminative fine-tuning", "lp-ft": "LP-FT"}
"""Each strategy in a headline, where two or three are named in one line."""


def short_name(strategy: str) -> str:
    base, _, times = str(strategy).partition("×")
    name = SHORT_NAMES.get(base, base)
    return f"{name} ({times}×)" if times else name

PROBE_SKILLS = {
    "retrieval_r1": ("general language understanding",
                     "matching a function's one-line summary to its full docstring among texts it never trained on "
                     "(retrieval recall@1 of the model's sentence embeddings)"),
    "knn_accuracy": ("general topic understanding",
                     "grouping texts it never trained on by topic from its embeddings alone (k-nearest-neighbour "
                     "accuracy)"),
    "visual_knn": ("general visual skill",
                   "telling apart images of a task it never trained on — by default faces from non-faces — from its "
                   "features alone (k-nearest-neighbour accuracy)"),
    "perplexity": ("general text prediction",
                   "predicting general text it was not fine-tuned on (perplexity on held-out text; lower is better)"),
    "chat_perplexity": ("general chat skill",
                        "answering general conversations outside the fine-tuning data (perplexity of the answers in "
                        "chatterbot's other topics; lower is better) — read the general prompts' answers beside it"),
}
"""The skill each forgetting probe measures, in words."""


def plain_name(strategy: str) -> str:
    """`lora` → "LoRA fine-tuning"; `scratch×3` → "training from scratch (3× longer)"; unknown codes as given."""
    base, _, times = str(strategy).partition("×")
    name = PLAIN_NAMES.get(base, base)
    return f"{name} ({times}× longer)" if times else name


def probe_skill(key: str | None, long: bool = False) -> str:
    """The skill a probe key (with or without its `probe/` prefix) measures, in words: short ("general language
    understanding") or long (what the probe does)."""
    if not key:
        return "its general skill"
    k = key.removeprefix("probe/")
    short, detail = PROBE_SKILLS.get(k, (k.replace("_", " "), k.replace("_", " ")))
    return detail if long else short


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def human_flops(x: float | None) -> str:
    """6.9e11 → "688 GFLOP"."""
    if _missing(x):
        return NOT_APPLICABLE
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} FLOP"


def human_bytes(x: float | None) -> str:
    """441444896 → "441 MB" (decimal units, as memory is quoted on device sheets)."""
    if _missing(x):
        return NOT_APPLICABLE
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.0f} B"


def human_seconds(x: float | None) -> str:
    """35.4975 → "35 s"; 754 → "12.6 min"; 9000 → "2.5 h"."""
    if _missing(x):
        return NOT_APPLICABLE
    if x < 1:
        return f"{x:.2f} s" if x > 0 else "0 s"
    if x < 90:
        return f"{x:.0f} s"
    if x < 5400:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.1f} h"


def human_time(t: float | None, form: str = "%Y-%m-%d %H:%M UTC") -> str:
    """Seconds since the epoch as "2026-11-24 09:31 UTC" (or in `form`); a time no calendar reaches (1e308, stored
    before bundles' times were checked) is "—", never an error on the page."""
    if _missing(t):
        return NOT_APPLICABLE
    try:
        return time.strftime(form, time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return NOT_APPLICABLE


def human_number(x: float | None, digits: int = 3) -> str:
    """A metric value: 0.7431 → "0.743"; 400.0 → "400"; 1234567 → "1,234,567"; missing → "—"."""
    if _missing(x):
        return NOT_APPLICABLE
    if float(x).is_integer():
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if abs(x) >= 10 else f"{x:.{digits}f}"


def human_count(x: float | None) -> str:
    """22568456 → "22.6M"; 1,200 → "1,200"."""
    if _missing(x):
        return NOT_APPLICABLE
    if abs(x) >= 1e9:
        return f"{x / 1e9:.3g}B"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.3g}M"
    return f"{x:,.0f}"


def human_estimate(x: float | None) -> str:
    """A forecast count, to the 2 significant figures it can carry: 12,345 → "12,000"; 2,345,678 → "2.3M"."""
    if _missing(x) or x <= 0:
        return human_count(x)
    step = 10 ** (math.floor(math.log10(x)) - 1)
    return human_count(round(x / step) * step)


def _pct(x) -> str:
    return NOT_APPLICABLE if _missing(x) else f"{x:.1%}"


def _money(x) -> str:
    """Dollars to the cent ("$0.07", "$12.40"); a cost under a cent is "< $0.01", not "$0.0035"."""
    if _missing(x):
        return NOT_APPLICABLE
    return "< $0.01" if 0 < x < 0.005 else f"${x:,.2f}"


def _int(x) -> str:
    if isinstance(x, str):
        return x  # already written for people (e.g. "2/3 seeds")
    return NOT_APPLICABLE if _missing(x) else f"{int(x):,}"


def _reached(x) -> str:
    """`cost.cost_to_target`'s "2/3" (seeds that reached the target / seeds) in words: "2 of 3 seeds"; none is "not
    reached (0 of 3 seeds)", so a row of "—" reads as the target missed, not as data missing."""
    hit, _, of = str(x).partition("/")
    if not (hit.isdigit() and of.isdigit()):
        return _int(x)
    seeds = f"{hit} of {of} seed{'s' if int(of) != 1 else ''}"
    return f"not reached ({seeds})" if hit == "0" else seeds


COLUMNS = {
    "strategy": ("strategy", str), "n_train": ("N (training examples)", _int), "seeds": ("seeds", _int),
    "seed": ("seed", _int), "total_steps": ("steps", _int), "steps": ("steps", _int), "reached": ("seeds reached", _reached),
    "examples": ("examples seen", human_count),
    "flops": ("training compute", human_flops), "flops_with_pretraining": ("compute incl. pretraining", human_flops),
    "flops_amortised": ("compute, pretraining amortised", human_flops),
    "wall_s": ("training time", human_seconds), "est_s": ("time (est.)", human_seconds),
    "gpu_seconds": ("GPU time", human_seconds), "mfu": ("MFU", _pct),
    "peak_mem_gb": ("peak memory", lambda g: human_bytes(None if _missing(g) else g * 1e9)),
    "peak_mem_bytes": ("peak memory", human_bytes), "mem_estimate": ("memory (est.)", human_bytes),
    "trainable_params": ("trainable parameters", human_count), "params": ("parameters", human_count),
    "cost": ("cost", _money), "lr": ("learning rate", lambda x: NOT_APPLICABLE if _missing(x) else f"{x:.2g}"),
    "metric_low": ("95% low", human_number), "metric_high": ("95% high", human_number),
    "metric_end": ("at end", human_number), "metric_best": ("at best checkpoint", human_number),
    "low": ("95% low", human_number), "high": ("95% high", human_number),
    "probe": ("skill tested", probe_skill),
    "best_val": ("best on validation", human_number),
    "train_loss": ("training loss", human_number), "val_loss": ("validation loss", human_number),
    "best_val_loss": ("best validation loss", human_number), "eval_loss": ("eval loss", human_number),
    "gap": ("gap (validation − training loss)", human_number),
    "rouge_l": ("ROUGE-L", human_number), "stopped": ("why it stopped", str), "search": ("where the search ran", str),
}
"""How each known column is headed and written for people; other columns are headed by `header`, numbers via
`human_number`."""

PREFIXES = {"val_": "validation ", "eval_": "eval ", "probe/": "", "val/": "validation ", "eval/": "eval "}
"""Prefixes of metric columns (`val_accuracy`, `eval/rmse`) and how a header reads them."""


def header(col: str) -> str:
    """A column's header in words: "validation accuracy" for `val_accuracy`, the probe's skill for `retrieval_r1` or
    `probe/retrieval_r1`, otherwise the name with spaces for underscores."""
    if str(col).removeprefix("probe/") in PROBE_SKILLS:
        return probe_skill(col)
    name = str(col)
    for prefix, words in PREFIXES.items():
        if name.startswith(prefix):
            name = words + name.removeprefix(prefix)
            break
    return name.replace("_", " ")


def readable(df, rename: dict[str, str] | None = None):
    """A copy of `df` with every cell a string for people (units, "—" where a value does not apply) and column
    headers in words. `rename` overrides headers (e.g. {"metric": "accuracy"})."""
    import pandas as pd

    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        head, fmt = COLUMNS.get(col, (header(col), None))
        head = (rename or {}).get(col, head)
        if fmt is None and pd.api.types.is_bool_dtype(df[col]):
            fmt = lambda v: "yes" if v else "no"  # noqa: E731
        if fmt is None:
            fmt = human_number if pd.api.types.is_numeric_dtype(df[col]) else (lambda v: NOT_APPLICABLE if v is None
                                                                               or v is pd.NA or v != v else str(v))
        while head in out.columns:
            head += " "
        out[head] = [fmt(None if v is pd.NA else v) for v in df[col]]
    return out


_MARKDOWN = re.compile(r"([\\`*_\[\]!<>$~|#@])")
_BARE_LINK = re.compile(r"(?i)(://|(?<![\w.])www\.)")


def plain(text: str) -> str:
    """Stored text (a run's error, an experiment's, strategy's, file's, class's or person's name, a comment) for a
    Markdown page, shown as typed and inert: the marks that make links, images, HTML, code, emphasis, headings, tables
    and maths escaped, so `![x](http://…)` is not an image every viewer's browser fetches, `<img …>` not HTML and `$…$`
    not maths; a bare `http://…`, `www.…` or `name@host` is not made a link either (`:`, `.` and `@` escaped there).
    Every page and the Markdown report put stored text through this one function."""
    text = _MARKDOWN.sub(r"\\\1", str(text))
    return _BARE_LINK.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1] if m.group(1) != "://" else "\\://",
                          text).replace("\n", "  \n")


def shown_source(source: str | None) -> str:
    """A data source as people read it: a built-in or hub name as it is, a file by its name alone (the full path is
    the machine's, e.g. the store's uploads folder; it stays in the config)."""
    if not source:
        return ""
    if source.startswith(("builtin:", "hf:")):
        return source
    return source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
