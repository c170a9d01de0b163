"""The one decision: for each training-set size, which strategy is best, which are as good as it, which cannot be told
apart from it, what to use and why — computed once, here. The recommendation, the verdict's sentences, the fairness
checks' "too wide to decide", the decision record's answer, the report and `python -m training recommend` render
this table; none of them applies a threshold of its own.

The rule (stated on the page and in the README):
- **Best**: the highest mean of the eval metric among the strategies whose runs passed the fairness checks (ties on
  the mean go to the cheaper one in training FLOPs).
- **As good as the best**: the 95% interval of the *difference* to the best lies inside ±margin (an equivalence
  test; `MARGINS`: 1 point of accuracy, 2% relative for perplexity and RMSE). **Below the best**: the whole interval
  is below zero. **Undecided**: anything else — the interval is too wide to tell, e.g. a strategy that failed on one
  seed; an undecided strategy is never picked as as-good.
- The difference is paired: by seed where both sides ran the same seeds (the same subsets and eval set), over the
  per-seed differences (a t-interval); with one seed, or where the seed-paired differences carry no spread, by a
  paired bootstrap over the eval examples (every run stores its per-example outcomes), for an accuracy widened to the
  exact paired interval (McNemar's: the examples one side gets right and the other wrong) where that is wider, as it
  is when few examples tell the two apart; for an accuracy without stored
  outcomes, Newcombe's score interval of two proportions (unpaired, wider). Otherwise there is no interval: undecided.
- **Pick**: the cheapest (training FLOPs) of the best and the as-good.
- **A classical reference** (TF-IDF, pixels or trees + a linear model) is recommended instead when the interval of its
  difference to the best network lies above −margin (as good or better) — it costs seconds of CPU; where every
  network failed, it is recommended when it is clearly above the trivial baseline (majority class or training mean).
  The trivial baseline itself is never recommended.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from training.analysis.stats import (
    METRIC_RANGE,
    MIN_BOOTSTRAP_EXAMPLES,
    cell_interval,
    items_size,
    mean_interval,
    resampled_metric,
    resamples,
    t_quantile,
    wilson_interval,
)

MARGINS = {"accuracy": (0.01, "absolute"), "macro_f1": (0.01, "absolute"), "perplexity": (0.02, "relative"),
           "rmse": (0.02, "relative"), "mae": (0.02, "relative"), "loss": (0.02, "relative")}
"""The default equivalence margin per metric: (size, kind). Absolute: in the metric's own units (0.01 = 1 point of
accuracy). Relative: a fraction of the best's mean (0.02 = 2%). Set another with `--margin` or Compare's sidebar."""
TRIVIAL = ("majority", "mean")
"""References that learn nothing from the features (never recommended; every other reference is a classical model)."""
REFERENCE_PREFIX = "reference: "


def default_margin(metric: str) -> tuple[float, str]:
    return MARGINS.get(metric, (0.02, "relative"))


# -- the difference between two cells ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """The 95% interval of sign·(a − b) in the margin's units (positive: a is better), and how it was made."""
    mean: float
    low: float
    high: float
    method: str
    """`seeds` (paired t over seeds), `bootstrap` (paired over eval examples), `exact paired` (McNemar's exact interval,
    where wider than the bootstrap), `newcombe` (two proportions)."""


@dataclass
class Sample:
    """One cell's runs: the metric per seed, the per-example outcomes per seed (None where not stored), and the eval
    set's size."""
    values: dict[int, float]
    items: dict[int, dict | None] = field(default_factory=dict)
    n_eval: int | None = None
    code: str | None = None
    """A reference's code (`majority`, `tfidf`, `gbdt`…); None for a strategy."""
    loss_se: dict[int, float] = field(default_factory=dict)
    """A language model's standard error of the eval loss per seed (records without per-example outcomes)."""

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.values.values()))) if self.values else math.nan


def difference(a: Sample, b: Sample, metric: str, higher: bool, scale: float = 1.0) -> Difference | None:
    """sign·(a − b) / scale with its 95% interval (see the module docstring for the pairing), or None where no interval
    can be had. `scale`: 1 for an absolute margin, |best mean| for a relative one (a best of exactly 0 — a perfect
    RMSE — makes every other value infinitely worse in relative terms: it is scaled by a tiny number)."""
    sign = 1.0 if higher else -1.0
    scale = (scale if scale > 0 else 1e-12) if math.isfinite(scale) else 1.0
    d = _difference(a, b, metric, sign, scale)
    return None if d is None else _clip(d, a, b, metric, sign, scale)


def _difference(a: Sample, b: Sample, metric: str, sign: float, scale: float) -> Difference | None:
    mean = sign * (a.mean - b.mean) / scale
    if _deterministic(a) and len(b.values) >= 2:  # a reference that gave one answer on every seed pairs with each
        diffs = [sign * (a.mean - v) / scale for v in b.values.values()]
    elif _deterministic(b) and len(a.values) >= 2:
        diffs = [sign * (v - b.mean) / scale for v in a.values.values()]
    elif set(a.values) == set(b.values):  # the same seeds: the same subsets and eval set, paired seed by seed
        diffs = [sign * (a.values[k] - b.values[k]) / scale for k in sorted(a.values)]
    elif len(a.values) >= 2 and len(b.values) >= 2:  # seeds still to come on one side: unpaired, every seed counted
        return _welch(a, b, sign, scale)
    else:
        return None  # one seed against several that differ: wait for the other seeds
    if len(diffs) >= 2 and np.std(diffs) > 0:
        m, lo, hi, _ = mean_interval(diffs)
        return Difference(m, lo, hi, "seeds")
    ia = [i for i in a.items.values() if items_size(i)]
    ib = [i for i in b.items.values() if items_size(i)]
    sizes = {items_size(i) for i in ia + ib}
    if ia and ib and len(sizes) == 1 and sizes.pop() >= MIN_BOOTSTRAP_EXAMPLES:
        idx = resamples(items_size(ia[0]))
        da = np.mean([resampled_metric(metric, i, idx) for i in ia], axis=0)
        db = np.mean([resampled_metric(metric, i, idx) for i in ib], axis=0)
        dist = sign * (da - db) / scale
        lo, hi = float(np.percentile(dist, 2.5)), float(np.percentile(dist, 97.5))
        exact = _exact_paired(a, b, sign, scale) if metric == "accuracy" else None
        if exact is not None and (exact[0] < lo or exact[1] > hi):
            return Difference(mean, min(exact[0], lo, mean), max(exact[1], hi, mean), "exact paired")
        return Difference(mean, min(lo, mean), max(hi, mean), "bootstrap")
    if metric == "perplexity" and len(a.values) == len(b.values) == 1 and a.loss_se and b.loss_se:
        return _perplexity_from_losses(a, b, sign, scale)
    if metric == "accuracy" and (a.n_eval or 0) >= MIN_BOOTSTRAP_EXAMPLES and (b.n_eval or 0) >= MIN_BOOTSTRAP_EXAMPLES:
        lo, hi = _newcombe(a.mean, a.n_eval, b.mean, b.n_eval)
        lo, hi = (lo, hi) if sign > 0 else (-hi, -lo)
        return Difference(mean, lo / scale, hi / scale, "newcombe")
    if len(diffs) >= 2:  # seeds that all moved together and nothing else to go by: the t-interval, of width zero
        return Difference(diffs[0], diffs[0], diffs[0], "seeds")
    return None


def _exact_paired(a: Sample, b: Sample, sign: float, scale: float) -> tuple[float, float] | None:
    """The exact conditional interval of a paired accuracy difference (McNemar's view): only the examples one side
    gets right and the other wrong tell the two apart; of those D, the share π that favours `a` gets a Clopper–Pearson
    interval, and the difference is D/n·(2π − 1). The percentile bootstrap is too narrow when D is small — 4 of 36
    images flipping one way already put its interval below zero, where McNemar's exact test says p = 0.125 — so the
    two are joined (each end the farther of the two). Seeds present on both sides are pooled; None without paired
    per-example outcomes."""
    from scipy.stats import beta

    favour = against = total = 0
    for seed, ia in a.items.items():
        ib = b.items.get(seed)
        if not (items_size(ia) and items_size(ib)) or items_size(ia) != items_size(ib) or "y_pred" not in ia:
            return None
        ra = np.asarray(ia["y_true"]) == np.asarray(ia["y_pred"])
        rb = np.asarray(ib["y_true"]) == np.asarray(ib["y_pred"])
        favour, against, total = favour + int((ra & ~rb).sum()), against + int((~ra & rb).sum()), total + len(ra)
    if not total:
        return None
    d = favour + against
    if d == 0:
        return 0.0, 0.0
    low = float(beta.ppf(0.025, favour, against + 1)) if favour else 0.0
    high = float(beta.ppf(0.975, favour + 1, against)) if against else 1.0
    ends = sorted(sign * d / total * (2 * x - 1) / scale for x in (low, high))
    return ends[0], ends[1]


def _welch(a: Sample, b: Sample, sign: float, scale: float) -> Difference:
    """Unpaired t-interval of two means over seeds (Welch–Satterthwaite degrees of freedom)."""
    xa, xb = list(a.values.values()), list(b.values.values())
    va, vb = np.var(xa, ddof=1) / len(xa), np.var(xb, ddof=1) / len(xb)
    mean = sign * (a.mean - b.mean) / scale
    if va + vb == 0:
        return Difference(mean, mean, mean, "seeds")
    dof = (va + vb) ** 2 / ((va ** 2 / (len(xa) - 1) if va else 0) + (vb ** 2 / (len(xb) - 1) if vb else 0))
    half = t_quantile(max(1, int(dof))) * math.sqrt(va + vb) / scale
    return Difference(mean, mean - half, mean + half, "seeds (unpaired)")


def _clip(d: Difference, a: Sample, b: Sample, metric: str, sign: float, scale: float) -> Difference:
    """An interval of a difference never reaches past what the metric's range allows (accuracy: ±1; an RMSE cannot
    fall below 0, so it cannot be more than 100% better)."""
    lo_r, hi_r = METRIC_RANGE.get(metric, (-math.inf, math.inf))
    bounds = sorted(sign * (x - b.mean) / scale for x in (lo_r, hi_r))  # where sign·(a − b) can lie at all
    low, high = max(d.low, bounds[0]), min(d.high, bounds[1])
    return Difference(d.mean, min(low, d.mean), max(high, d.mean), d.method)


def independent_difference(a: dict, b: dict, higher: bool, scale: float = 1.0) -> Difference | None:
    """sign·(a − b) / scale for two cells of *different* experiments (nothing to pair: other seeds, maybe another eval
    set), from their means and 95% intervals: the half-widths add in quadrature (each side's interval taken as
    symmetric at its wider half). None where either side has no interval."""
    sign = 1.0 if higher else -1.0
    vals = [a.get(k) for k in ("mean", "low", "high")] + [b.get(k) for k in ("mean", "low", "high")]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in vals):
        return None
    half = math.hypot(max(a["high"] - a["mean"], a["mean"] - a["low"]), max(b["high"] - b["mean"], b["mean"] - b["low"]))
    if half <= 0:
        return None
    mean = sign * (a["mean"] - b["mean"]) / scale
    return Difference(mean, mean - half / scale, mean + half / scale, "independent")


def _perplexity_from_losses(a: Sample, b: Sample, sign: float, scale: float) -> Difference:
    """One seed each and no stored outcomes (an older record): the eval losses' difference ± 1.96 of their standard
    errors combined unpaired (wider than a paired one), mapped to perplexity: a − b = b·(exp(Δloss) − 1)."""
    pa, pb = a.mean, b.mean
    d = math.log(pa) - math.log(pb)
    half = 1.96 * math.hypot(next(iter(a.loss_se.values())), next(iter(b.loss_se.values())))
    ends = sorted(sign * pb * (math.exp(x) - 1) / scale for x in (d - half, d + half))
    mean = sign * (pa - pb) / scale
    return Difference(mean, min(ends[0], mean), max(ends[1], mean), "loss_se")


def _deterministic(s: Sample) -> bool:
    """A reference that gave one value (on one seed, or the same on every seed): fitted on subsets the seeds do not
    change, it pairs with each seed of the other side."""
    return s.code is not None and len(set(s.values.values())) == 1


def _newcombe(p1: float, n1: int, p2: float, n2: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 − p2 (two proportions, each from its own Wilson interval)."""
    l1, u1 = wilson_interval(p1, n1)
    l2, u2 = wilson_interval(p2, n2)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


# -- the table --------------------------------------------------------------------------------------------------------
@dataclass
class Cell:
    strategy: str
    """A strategy code, or `reference: NAME` (as the verdict's table names it)."""
    kind: str
    """`strategy` or `reference`."""
    status: str
    """`ok`, or `FAILED: why` (a fairness check failed: no conclusion is drawn from it)."""
    mean: float
    low: float
    high: float
    seeds: int
    flops: float
    wall_s: float
    forgetting: float
    relation: str
    """best · as good · undecided · below the best · failed · reference (trivial) · as good or better · below · …"""
    vs_best: Difference | None = None
    reference_code: str | None = None


@dataclass
class SizeDecision:
    n_train: int
    best: str | None
    as_good: list[str]
    undecided: list[str]
    below: list[str]
    failed: list[str]
    recommended: str | None
    recommended_kind: str | None
    why: str
    """`cheapest as good`, `best`, `reference as good`, `reference above trivial`, `none`."""
    cells: list[Cell]
    sentence: str = ""

    def cell(self, strategy: str) -> Cell | None:
        return next((c for c in self.cells if c.strategy == strategy), None)


@dataclass
class DecisionTable:
    metric: str
    higher_is_better: bool
    margin: float
    margin_kind: str
    sizes: list[SizeDecision]
    notice: str | None = None
    """Partial results while runs are going."""
    probe: str | None = None
    planned_seeds: int | None = None
    """Seeds per cell in the config (a cell with fewer has seeds still to come)."""
    forecast: object | None = None  # a `training.analysis.forecast.Forecast` (it imports this module, not the reverse)
    """Where each strategy trained from random weights is forecast to reach each pretrained one's level, per size, and
    the forecast's backtests (`training.analysis.forecast`; set by `verdict.conclude`)."""

    def at(self, n: int) -> SizeDecision | None:
        return next((s for s in self.sizes if s.n_train == n), None)

    @property
    def sentences(self) -> list[str]:
        return ([self.notice] if self.notice else []) + [s.sentence for s in self.sizes]

    def to_json(self) -> dict:
        """The machine-readable decision (`python -m training recommend --format json`)."""
        def num(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

        def cell(c: Cell) -> dict:
            return {"strategy": c.strategy, "kind": c.kind, "status": c.status, "relation": c.relation,
                    "mean": num(c.mean), "low": num(c.low), "high": num(c.high), "seeds": int(c.seeds),
                    "flops": num(c.flops), "wall_s": num(c.wall_s), "forgetting": num(c.forgetting),
                    "vs_best": None if c.vs_best is None else {"low": num(c.vs_best.low), "high": num(c.vs_best.high),
                                                               "mean": num(c.vs_best.mean), "method": c.vs_best.method}}

        def numbers(entry: dict) -> dict:  # ∞ and NaN are null: `status` says which (a high of null: no upper end)
            return {k: num(v) if isinstance(v, float) else v for k, v in entry.items()}

        fc = self.forecast
        return {"metric": self.metric, "higher_is_better": self.higher_is_better, "margin": self.margin,
                "margin_kind": self.margin_kind, "notice": self.notice,
                "sizes": [{"n_train": s.n_train, "best": s.best, "as_good": s.as_good, "undecided": s.undecided,
                           "below": s.below, "failed": s.failed, "recommended": s.recommended,
                           "recommended_kind": s.recommended_kind, "why": s.why, "sentence": s.sentence,
                           "cells": [cell(c) for c in s.cells],
                           "crossover": [numbers(e) for e in fc.at(s.n_train)] if fc else []} for s in self.sizes],
                "backtest": [numbers(b) for b in fc.backtest] if fc else [],
                "forecast": {"form": fc.form, "notes": fc.notes} if fc else None}

    def table(self) -> pd.DataFrame:
        """One row per cell: what the verdict's table shows, with the difference to the best and the relation."""
        rows = []
        for s in self.sizes:
            for c in s.cells:
                d = asdict(c)
                d.pop("vs_best")
                d.pop("kind")
                d.pop("reference_code")
                rows.append({**d, "n_train": s.n_train,
                             "vs_best_low": c.vs_best.low if c.vs_best else math.nan,
                             "vs_best_high": c.vs_best.high if c.vs_best else math.nan})
        return pd.DataFrame(rows)


def samples(runs: pd.DataFrame, refs: pd.DataFrame, metric_col: str) -> dict[tuple[str, int], Sample]:
    """Every cell's per-seed metric and per-example outcomes: grid runs (finished) and reference rows."""
    out: dict[tuple[str, int], Sample] = {}
    metric = metric_col.removeprefix("eval_")
    if runs is not None and not runs.empty:
        values = pd.to_numeric(runs[metric_col], errors="coerce").astype(float)
        done = runs[(runs["status"] == "done") & np.isfinite(values)]
        for (strategy, n), g in done.groupby(["strategy", "n_train"], sort=True):
            se = ({int(k): float(v) for k, v in zip(g["seed"], g["eval_loss_se"], strict=True) if v is not None
                   and not pd.isna(v)} if "eval_loss_se" in g else {})
            out[(strategy, int(n))] = _sample(g, metric_col, "eval_items", loss_se=se)
    if refs is not None and not refs.empty and metric in refs:
        for (code, n), g in refs[refs[metric].notna()].groupby(["reference", "n_train"], sort=True):
            out[(REFERENCE_PREFIX + g["name"].iloc[0], int(n))] = _sample(g, metric, "items", code=str(code))
    return out


def _sample(g: pd.DataFrame, value: str, items_col: str, **extra) -> Sample:
    """One cell's rows (one per seed) as a Sample."""
    items = g[items_col] if items_col in g else pd.Series([None] * len(g), index=g.index)
    n_eval = int(g["eval_examples"].max()) if "eval_examples" in g and g["eval_examples"].notna().any() else None
    return Sample({int(k): float(v) for k, v in zip(g["seed"], g[value], strict=True)},
                  {int(k): (i if isinstance(i, dict) else None) for k, i in zip(g["seed"], items, strict=True)},
                  n_eval, **extra)


def decide(cells: pd.DataFrame, sample_of: dict[tuple[str, int], Sample], metric: str, higher: bool,
           margin: float | None = None, progress: tuple[int, int] | None = None, probe: str | None = None,
           planned_seeds: int | None = None) -> DecisionTable:
    """The decision per size from `cells` (one row per strategy and size, and per reference: strategy, n_train,
    metric, metric_low, metric_high, seeds, flops, wall_s, forgetting, status — see `verdict.verdict_table`) and the
    cells' samples (for the paired differences). `margin`: in the metric's units (absolute) or as a fraction
    (relative), default `MARGINS`."""
    m_default, kind = default_margin(metric)
    margin = m_default if margin is None else check_margin(margin, metric)
    sign = 1.0 if higher else -1.0
    notice = None
    if progress is not None and progress[0] < progress[1]:
        notice = (f"Partial results ({progress[0]} of {progress[1]} runs finished): this covers the finished runs only "
                  "and will change as the rest finish.")
    out = DecisionTable(metric, higher, margin, kind, [], notice, probe, planned_seeds)
    if cells is None or cells.empty:
        return out
    is_ref = cells["strategy"].str.startswith(REFERENCE_PREFIX)
    for n in sorted(int(x) for x in cells["n_train"].unique()):
        at = cells[cells["n_train"] == n]
        out.sizes.append(_decide_size(n, at, is_ref[at.index], sample_of, metric, sign, margin, kind))
    return out


def check_margin(margin: float, metric: str) -> float:
    """A margin the user set (CLI `--margin`, Compare's sidebar): above 0, below 1 (a fraction, or a proportion's
    points)."""
    from training.errors import ConfigError

    try:
        m = float(margin)
    except (TypeError, ValueError):
        raise ConfigError(f"the equivalence margin must be a number, not {margin!r}") from None
    if not (0 < m < 1):
        size, kind = default_margin(metric)
        raise ConfigError(f"the equivalence margin must lie between 0 and 1, not {margin!r} (for {metric} it is "
                          + (f"in the metric's units, default {size:g}" if kind == "absolute" else
                             f"a fraction of the best's value, default {size:g} = {size:.0%}") + ")")
    return m


def _num(x) -> float:
    return math.nan if x is None or pd.isna(x) else float(x)


def _decide_size(n, at, ref_mask, sample_of, metric, sign, margin, kind) -> SizeDecision:
    cells: list[Cell] = []
    for r, ref in zip(at.to_dict("records"), ref_mask, strict=True):
        s = sample_of.get((r["strategy"], n))
        lo, hi = _num(r.get("metric_low")), _num(r.get("metric_high"))
        if ref and s is not None:
            lo, hi = cell_interval(metric, list(s.values.values()), [i for i in s.items.values() if i], s.n_eval)
        seeds = len(s.values) if s is not None else (0 if pd.isna(r.get("seeds")) else int(r["seeds"]))
        status = "ok" if r["status"] in ("ok", "reference") else str(r["status"])
        cells.append(Cell(r["strategy"], "reference" if ref else "strategy", status, _num(r["metric"]), lo, hi,
                          seeds, _num(r.get("flops")), _num(r.get("wall_s")), _num(r.get("forgetting")),
                          "failed" if status != "ok" else "reference" if ref else "",
                          reference_code=s.code if s is not None else None))
    nets = [c for c in cells if c.kind == "strategy" and c.status == "ok" and not math.isnan(c.mean)]
    failed = [c.strategy for c in cells if c.kind == "strategy" and c.status != "ok"]
    refs = [c for c in cells if c.kind == "reference" and not math.isnan(c.mean)]

    def cost(c: Cell) -> float:
        return c.flops if math.isfinite(c.flops) and c.flops > 0 else math.inf

    def diff(a: Cell, b: Cell, scale: float) -> Difference | None:
        sa, sb = sample_of.get((a.strategy, n)), sample_of.get((b.strategy, n))
        if sa is None or sb is None:
            return None
        return difference(sa, sb, metric, sign > 0, scale)

    best = min(nets, key=lambda c: (-sign * round(c.mean, 9), cost(c))) if nets else None
    as_good, undecided, below = [], [], []
    if best is not None:
        best.relation = "best"
        scale = abs(best.mean) if kind == "relative" else 1.0
        for c in nets:
            if c is best:
                continue
            c.vs_best = diff(c, best, scale)
            c.relation = relation(c.vs_best, margin)
            {"as good": as_good, "undecided": undecided, "below the best": below}[c.relation].append(c.strategy)
        for c in refs:
            c.vs_best = diff(c, best, scale)
            code = c.reference_code
            if code in TRIVIAL:
                c.relation = "trivial baseline"
            elif c.vs_best is not None and c.vs_best.low >= -margin:
                c.relation = "as good or better"
            elif c.vs_best is not None and c.vs_best.high < 0:
                c.relation = "below the best network"
            else:
                c.relation = "undecided"
        group = [best] + [c for c in nets if c.strategy in as_good]
        pick = min(group, key=lambda c: (cost(c), -sign * c.mean))
        classical = [c for c in refs if c.relation == "as good or better"]
        if classical:
            ref = max(classical, key=lambda c: sign * c.mean)
            return SizeDecision(n, best.strategy, as_good, undecided, below, failed, ref.strategy, "reference",
                                "reference as good", cells)
        why = "cheapest as good" if pick is not best else "best"
        return SizeDecision(n, best.strategy, as_good, undecided, below, failed, pick.strategy, "strategy", why, cells)
    # every network failed (or none finished): a classical reference clearly above the trivial baseline
    trivial = next((c for c in refs if c.reference_code in TRIVIAL), None)
    above = []
    for c in refs:
        if c is trivial or c.reference_code in TRIVIAL:
            c.relation = "trivial baseline"
            continue
        scale = abs(trivial.mean) if trivial is not None and kind == "relative" else 1.0
        d = diff(c, trivial, scale) if trivial is not None else None
        c.relation = "above the trivial baseline" if d is not None and d.low > 0 else "not clearly above the trivial baseline"
        if d is not None and d.low > 0:
            above.append(c)
    if above:
        ref = max(above, key=lambda c: sign * c.mean)
        return SizeDecision(n, None, [], [], [], failed, ref.strategy, "reference", "reference above trivial", cells)
    return SizeDecision(n, None, [], [], [], failed, None, None, "none", cells)


def relation(d: Difference | None, margin: float) -> str:
    """A strategy's place against the best, from the interval of its difference (positive = better)."""
    if d is None or math.isnan(d.low) or math.isnan(d.high):
        return "undecided"
    if d.low >= -margin and d.high <= margin:
        return "as good"
    if d.high < 0:
        return "below the best"
    return "undecided"

