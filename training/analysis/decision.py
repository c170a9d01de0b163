"""The one decision: for each training-set size, which strategy is best, which are as good as it, which cannot be told
apart from it, what to use and why — computed once, here. The recommendation, the verdict's sentences, the fairness
checks' "too wide to decide", the decision record's answer, the report and `python -m training recommend` render
this table; none of them applies a threshold of its own.

The rule (stated on the page and in the README):
- **Candidates**: every strategy whose runs passed the fairness checks, and every classical reference (TF-IDF, pixels,
  trees or a linear model: seconds of CPU) on equal footing. The trivial baseline (majority class, training mean) is
  never a candidate; where every network failed, a classical model is one only when clearly above it.
- **Best**: the highest mean of the eval metric among the candidates (ties on the mean go to the cheaper one).
- **The difference** of a candidate to another counts both sources of noise: the seeds (the per-seed differences'
  spread where both ran the same seeds — paired, the same subsets and eval set; each side's spread otherwise; a
  deterministic reference pairs with every seed) and the eval set's examples (both sides' means moved by the same
  resamples of the eval examples — paired; without stored outcomes an accuracy's binomial error, unpaired). With one
  seed the seed spread is not measured: `stats.SEED_SPREAD` (measured on the gallery records) is assumed for each
  network and said; a measured spread (2–5 seeds estimate it poorly) is pooled with the assumed one (`PRIOR_DOF`).
  The interval is a two-level draw: each of the eval set's fixed resamples plus a draw of the seeds' noise (a t with
  k − 1 + PRIOR_DOF degrees of freedom per measured spread, a normal for an assumed one), its percentiles taken (the
  draws' spread at the t quantile where a tail holds fewer than MIN_TAIL_DRAWS); without stored outcomes, a t with
  Welch–Satterthwaite degrees of freedom; with one seed each, for an accuracy, widened to McNemar's exact paired
  interval where that is wider (few examples tell the two apart). No interval where nothing about the eval set's noise
  is stored (seeds on one eval set do not count it).
- **Simultaneous**: at a size with k candidates each interval is at 1 − 0.05/(k(k − 1)/2) (Bonferroni over every pair
  of candidates), so every claim at a size holds together at 95% whichever candidate is truly the best — the best is
  chosen from the same noisy numbers it is then compared with, and the intervals of every pair cover that choice.
- **As good as the best**: the low end of its difference to the best lies above −margin (`MARGINS`: 1 point of
  accuracy, 2% relative for perplexity and RMSE); **below the best**: the interval of its difference to the best lies
  wholly below zero; **undecided**: anything else (the interval is too wide to tell).
- **Pick**: the cheapest of the best, the as-good, and every other candidate whose mean lies within the margin of the
  best's (undecided, or clearly below by less than the margin — a precise measurement never counts against a
  candidate that a noisy one would let in) — a classical reference before any network, networks by training FLOPs.
  Where the pick is undecided, the headline says the two cannot be told apart at this precision and
  what the pick saves; where a cheaper candidate is undecided but its mean lies further below, the headline names the
  pick and says that too. It never names the highest mean alone while a cheaper candidate is not shown worse.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from training.analysis.stats import (
    METRIC_RANGE,
    MIN_BOOTSTRAP_EXAMPLES,
    assumed_seed_sd,
    cell_interval,
    items_size,
    resampled_metric,
    resamples,
    t_ppf,
)

MARGINS = {"accuracy": (0.01, "absolute"), "macro_f1": (0.01, "absolute"), "perplexity": (0.02, "relative"),
           "rmse": (0.02, "relative"), "mae": (0.02, "relative"), "loss": (0.02, "relative")}
"""The default equivalence margin per metric: (size, kind). Absolute: in the metric's own units (0.01 = 1 point of
accuracy). Relative: a fraction of the best's mean (0.02 = 2%). Set another with `--margin` or Compare's sidebar."""
TRIVIAL = ("majority", "mean")
"""References that learn nothing from the features (never recommended; every other reference is a classical model)."""
REFERENCE_PREFIX = "reference: "
FAMILY_LEVEL = 0.95
"""The confidence that every comparison at one size holds at once, whichever candidate turns out the best (Bonferroni
over the k(k − 1)/2 pairs of k candidates: each interval at 1 − 0.05/(k(k − 1)/2))."""


def default_margin(metric: str) -> tuple[float, str]:
    return MARGINS.get(metric, (0.02, "relative"))


# -- the difference between two cells ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """The interval of sign·(a − b) in the margin's units (positive: a is better), and how it was made."""
    mean: float
    low: float
    high: float
    method: str
    """Which noise it counts: `seeds and eval` (measured seed spread and the eval examples, paired), `eval and assumed
    seeds` (one seed: the eval examples, and SEED_SPREAD assumed for each network), `binomial …` (accuracy without
    outcomes: each side's binomial error, unpaired), `loss_se …` (a language model's eval-loss standard errors);
    ` + exact paired` where McNemar's exact interval widened the eval part; `independent` (two experiments)."""
    se: float = math.nan
    """The standard error of the difference (both noises combined)."""
    dof: float = math.inf
    """Welch–Satterthwaite degrees of freedom of that error (∞ where no part of it is estimated from seeds)."""


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
    _shifts: dict = field(default_factory=dict, repr=False, compare=False)
    """Cache: per metric, the mean over seeds of each eval resample's deviation from the full eval set."""

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.values.values()))) if self.values else math.nan

    def eval_shift(self, metric: str) -> np.ndarray | None:
        """The cell's mean moved by each of the experiment's fixed eval resamples (`stats.resamples`): the mean over its
        seeds of (metric on the resample − metric on the whole eval set). None without outcomes on every seed."""
        per_seed = self.seed_shifts(metric)
        return None if per_seed is None else per_seed.mean(axis=0)

    def seed_shifts(self, metric: str) -> np.ndarray | None:
        """Per seed (rows, in `values` order), each resample's deviation from the whole eval set; None without
        outcomes on every seed."""
        if metric not in self._shifts:
            items = [self.items.get(k) for k in self.values]
            sizes = {items_size(i) for i in items}
            shifts, n = None, None
            if items and len(sizes) == 1 and (n := sizes.pop()) >= MIN_BOOTSTRAP_EXAMPLES:
                idx, whole = resamples(n), np.arange(n)[None, :]
                try:
                    shifts = np.stack([resampled_metric(metric, i, idx) - resampled_metric(metric, i, whole)[0]
                                       for i in items])
                except (KeyError, ValueError):  # a metric without a per-example form (macro-F1)
                    shifts = None
            self._shifts[metric] = (shifts, n if shifts is not None else None)
        return self._shifts[metric][0]


def _interaction(per_seed: np.ndarray | None) -> float:
    """How much of the seeds' spread on one fixed eval set is the eval examples' noise again (each seed's own answers
    on these examples — the seed × example interaction, which the eval resamples already count): the mean of the
    seeds' own resample variances less the variance of their mean, times k/(k − 1) (the ANOVA estimator of σ²_int/n).
    0 without per-seed resamples or with one seed."""
    if per_seed is None or len(per_seed) < 2:
        return 0.0
    k = len(per_seed)
    return max(0.0, (float(np.mean(np.var(per_seed, axis=1))) - float(np.var(per_seed.mean(axis=0)))) * k / (k - 1))


def difference(a: Sample, b: Sample, metric: str, higher: bool, scale: float = 1.0,
               level: float = 0.95) -> Difference | None:
    """sign·(a − b) / scale with its two-sided `level` interval, counting the seeds' noise and the eval set's together
    (the module docstring says how), or None where no interval can be had. `scale`: 1 for an absolute margin, |best
    mean| for a relative one (a best of exactly 0 — a perfect RMSE — makes every other value infinitely worse in
    relative terms: it is scaled by a tiny number)."""
    sign = 1.0 if higher else -1.0
    scale = (scale if scale > 0 else 1e-12) if math.isfinite(scale) else 1.0
    if _order(b) < _order(a):  # one orientation for every pair, so b − a is exactly the mirror of a − b
        d = _difference(b, a, metric, sign, scale, level)
        d = None if d is None else _clip(d, b, a, metric, sign, scale)
        return None if d is None else Difference(-d.mean, -d.high, -d.low, d.method, d.se, d.dof)
    d = _difference(a, b, metric, sign, scale, level)
    return None if d is None else _clip(d, a, b, metric, sign, scale)


def _order(s: Sample) -> tuple:
    return (s.mean, sorted(s.values.items()), s.code or "")


PRIOR_DOF = 2
"""Degrees of freedom the assumed seed spread (SEED_SPREAD) counts for where seeds were measured: a cell's 2–5 seeds
estimate their own spread poorly (two seeds give a t with one degree of freedom — a Cauchy — and a spread net of the
eval examples' part truncates to 0 in about half of 3-seed cells), so the measured variance is pooled with the assumed
one as if it were PRIOR_DOF more seeds' worth: v = ((k − 1)·s² + PRIOR_DOF·σ²)/(k − 1 + PRIOR_DOF), with k − 1 +
PRIOR_DOF degrees of freedom."""


def _pooled(s2: float, k: int, prior: float) -> tuple[float, int]:
    """A seed variance from k seeds pooled with the assumed one (`PRIOR_DOF`), and its degrees of freedom."""
    dof = k - 1 + PRIOR_DOF
    return ((k - 1) * s2 + PRIOR_DOF * prior) / dof, dof


def _seed_part(a: Sample, b: Sample, metric: str, sign: float, scale: float,
               eval_paired: bool) -> tuple[float, list[tuple[float, int]], bool]:
    """The seeds' share of the difference's variance (margin units²): (variance, [(a measured part, its dof)…], whether
    any part is assumed). Paired by seed where both sides ran the same seeds (the same subsets and eval set); a
    deterministic reference pairs with every seed of the other side; one seed's spread is not measured: SEED_SPREAD is
    assumed for it (a deterministic reference has none). Measured spreads are pooled with the assumed one
    (`PRIOR_DOF`); the seed × example part is taken off only where the eval part is the paired resamples that count
    it (`eval_paired`)."""
    if _deterministic(a) and _deterministic(b):
        return 0.0, [], False

    def assumed(s: Sample) -> float:  # one network's assumed seed variance, in margin units²
        return 0.0 if _deterministic(s) else (assumed_seed_sd(metric, s.mean) / scale) ** 2

    same = set(a.values) == set(b.values) and len(a.values) >= 2
    if same and not (_deterministic(a) or _deterministic(b)):
        keys = sorted(a.values)
        diffs = np.array([sign * (a.values[k] - b.values[k]) / scale for k in keys])
        sa, sb = a.seed_shifts(metric), b.seed_shifts(metric)
        paired = None
        if eval_paired and sa is not None and sb is not None:
            order_a, order_b = list(a.values), list(b.values)
            paired = sign * (sa[[order_a.index(k) for k in keys]] - sb[[order_b.index(k) for k in keys]]) / scale
        net = max(0.0, float(np.var(diffs, ddof=1)) - _interaction(paired))
        v, dof = _pooled(net, len(diffs), assumed(a) + assumed(b))
        return v / len(diffs), [(v / len(diffs), dof)], False
    total, measured, any_assumed = 0.0, [], False
    for s in (a, b):
        if _deterministic(s):
            continue
        xs = np.array(list(s.values.values()), dtype=float) / scale
        if len(xs) >= 2:
            per_seed = s.seed_shifts(metric) if eval_paired else None
            net = max(0.0, float(np.var(xs, ddof=1)) - _interaction(per_seed) / scale ** 2)
            v, dof = _pooled(net, len(xs), assumed(s))
            total += v / len(xs)
            measured.append((v / len(xs), dof))
        else:
            total += assumed(s)
            any_assumed = True
    return total, measured, any_assumed


def _eval_part(a: Sample, b: Sample, metric: str, sign: float, scale: float) -> tuple[np.ndarray | float, str] | None:
    """The eval set's share of the difference's noise (margin units) and how it was had: the draws of both sides'
    means moved by the same resamples of the eval examples (paired: the runs score the same examples), or — without
    stored outcomes — a variance: each accuracy's binomial error (unpaired, wider), or a language model's eval-loss
    standard errors (in perplexity units). None: unknown."""
    sa, sb = a.eval_shift(metric), b.eval_shift(metric)
    if sa is not None and sb is not None and len(sa) == len(sb) and a._shifts[metric][1] == b._shifts[metric][1]:
        return sign * (sa - sb) / scale, "eval"
    if metric == "accuracy" and (a.n_eval or 0) >= MIN_BOOTSTRAP_EXAMPLES and (b.n_eval or 0) >= MIN_BOOTSTRAP_EXAMPLES:
        v = a.mean * (1 - a.mean) / a.n_eval + b.mean * (1 - b.mean) / b.n_eval
        return v / scale ** 2, "binomial"
    if metric == "perplexity" and a.loss_se and b.loss_se:
        se_a, se_b = float(np.mean(list(a.loss_se.values()))), float(np.mean(list(b.loss_se.values())))
        return ((a.mean * se_a) ** 2 + (b.mean * se_b) ** 2) / scale ** 2, "loss_se"  # d ppl = ppl · d loss
    return None


MIN_TAIL_DRAWS = 10
"""A percentile of the draws is used only where at least this many draws lie beyond it; a tail further out (Bonferroni
over many pairs: 0.05/15/2 of 2,000 draws is 3) takes the draws' standard deviation at the t quantile instead."""
SEED_DRAW_SEED = 1
"""The generator of the seed-noise draws added to the eval resamples (fixed: a page shows the same interval on every
load)."""


def _difference(a: Sample, b: Sample, metric: str, sign: float, scale: float, level: float) -> Difference | None:
    mean = sign * (a.mean - b.mean) / scale
    ev = _eval_part(a, b, metric, sign, scale)
    if ev is None:
        return None  # nothing stored about the eval set's noise: no interval (seeds on one eval set do not count it)
    how = ev[1]
    seed_v, measured, assumed = _seed_part(a, b, metric, sign, scale, eval_paired=how == "eval")
    eval_v = float(np.var(ev[0])) if how == "eval" else ev[0]
    var = eval_v + seed_v
    parts = sum(v * v / k for v, k in measured)
    dof = var * var / parts if parts > 0 else math.inf  # Welch–Satterthwaite: eval and assumed parts are known
    tail = (1 - level) / 2
    q = t_ppf(1 - tail, dof)
    method = (("seeds and eval" if measured and not assumed else "eval and assumed seeds" if assumed else "eval")
              if how == "eval" else f"{how} and {'assumed ' if assumed else ''}seeds")
    if how == "eval":  # the two-level draw: each eval resample plus a draw of the seeds' noise, percentiles taken
        rng = np.random.default_rng(SEED_DRAW_SEED)
        draws = mean + ev[0]
        for v, k in measured:
            draws = draws + math.sqrt(v) * rng.standard_t(k, len(draws))
        if assumed:
            spread = seed_v - sum(v for v, _ in measured)
            draws = draws + math.sqrt(max(spread, 0.0)) * rng.standard_normal(len(draws))
        if tail * len(draws) >= MIN_TAIL_DRAWS:
            low, high = (float(x) for x in np.quantile(draws, [tail, 1 - tail]))
        else:  # a Bonferroni tail beyond what the draws can place: their spread, at the t quantile
            half = q * float(np.std(draws))
            low, high = mean - half, mean + half
        if (metric == "accuracy" and len(a.values) == len(b.values) == 1
                and (exact := _exact_paired(a, b, sign, scale, level)) is not None):
            # one seed each: the exact paired interval where the resamples are too narrow (few examples tell the two
            # apart), its ends joined in quadrature with the seeds' part (with several seeds the mean's eval noise is
            # smaller than one seed's, and the draws count it)
            e_half = t_ppf(1 - tail, math.inf) * float(np.std(ev[0]))
            e_lo, e_hi = ((float(x) for x in np.quantile(mean + ev[0], [tail, 1 - tail]))
                          if tail * len(ev[0]) >= MIN_TAIL_DRAWS else (mean - e_half, mean + e_half))
            if exact[0] < e_lo or exact[1] > e_hi:
                seed_half = q * math.sqrt(seed_v)
                low = min(low, mean - math.hypot(mean - min(exact[0], e_lo), seed_half))
                high = max(high, mean + math.hypot(max(exact[1], e_hi) - mean, seed_half))
                method += " + exact paired"
    elif how == "loss_se" and a.mean > 0 and b.mean > 0:  # on the log scale, where the losses' errors are symmetric
        se_log = math.sqrt(sum(float(np.mean(list(x.loss_se.values()))) ** 2 for x in (a, b))
                           + seed_v * scale ** 2 / max(b.mean, 1e-12) ** 2)
        d = math.log(a.mean) - math.log(b.mean)
        ends = sorted(sign * b.mean * (math.exp(x) - 1) / scale for x in (d - q * se_log, d + q * se_log))
        low, high = ends
    else:
        low, high = mean - q * math.sqrt(var), mean + q * math.sqrt(var)
    return Difference(mean, min(low, mean), max(high, mean), method, math.sqrt(var), dof)


def _exact_paired(a: Sample, b: Sample, sign: float, scale: float, level: float = 0.95) -> tuple[float, float] | None:
    """The exact conditional interval of a paired accuracy difference (McNemar's view): only the examples one side
    gets right and the other wrong tell the two apart; of those D, the share π that favours `a` gets a Clopper–Pearson
    interval, and the difference is D/n·(2π − 1). The percentile bootstrap is too narrow when D is small — 4 of 36
    images flipping one way already put its interval below zero, where McNemar's exact test says p = 0.125 — so the
    two are joined (each end the farther of the two). Seeds are averaged (their counts over the number of seeds: the
    same examples, not new ones); None without paired per-example outcomes."""
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
    seeds = max(1, len(a.items))  # the same examples repeat across seeds: one seed's worth of discordant examples
    favour, against, total = favour / seeds, against / seeds, total / seeds
    d = favour + against
    if d == 0:
        return 0.0, 0.0
    tail = (1 - level) / 2
    low = float(beta.ppf(tail, favour, against + 1)) if favour else 0.0
    high = float(beta.ppf(1 - tail, favour + 1, against)) if against else 1.0
    ends = sorted(sign * d / total * (2 * x - 1) / scale for x in (low, high))
    return ends[0], ends[1]


def _clip(d: Difference, a: Sample, b: Sample, metric: str, sign: float, scale: float) -> Difference:
    """An interval of a difference never reaches past what the metric's range allows (accuracy: ±1; an RMSE cannot
    fall below 0, so it cannot be more than 100% better)."""
    lo_r, hi_r = METRIC_RANGE.get(metric, (-math.inf, math.inf))
    bounds = sorted(sign * (x - b.mean) / scale for x in (lo_r, hi_r))  # where sign·(a − b) can lie at all
    low, high = max(d.low, bounds[0]), min(d.high, bounds[1])
    return Difference(d.mean, min(low, d.mean), max(high, d.mean), d.method, d.se, d.dof)


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


def _deterministic(s: Sample) -> bool:
    """A reference that gave one value (on one seed, or the same on every seed): fitted on subsets the seeds do not
    change, it pairs with each seed of the other side."""
    return s.code is not None and len(set(s.values.values())) == 1


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
    """`best`, `cheapest as good`, `cheapest undecided` (cannot be told from the best, and cheaper), `cheapest within
    the margin` (clearly below the best, but by less than the margin on the mean), `reference above trivial` (every
    network failed), `none`."""
    cells: list[Cell]
    sentence: str = ""
    headline: str = ""
    """What to use in a line: "use X", or "X or Y: cannot be told apart at this precision; X …"."""
    level: float = FAMILY_LEVEL
    """Each difference's two-sided level at this size (`comparison_level`)."""

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
                           "recommended_kind": s.recommended_kind, "why": s.why, "headline": s.headline,
                           "sentence": s.sentence, "level": s.level,
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


def comparison_level(k: int) -> float:
    """Each interval's two-sided level where k candidates are compared at one size (FAMILY_LEVEL over every pair)."""
    return 1 - (1 - FAMILY_LEVEL) / max(1, k * (k - 1) // 2)


def cost_key(c: Cell) -> tuple[int, float]:
    """What is cheaper: a classical reference (seconds of CPU, by its wall time) before any network; networks by
    training FLOPs (unknown: last)."""
    if c.kind == "reference":
        return (0, c.wall_s if math.isfinite(c.wall_s) else 0.0)
    return (1, c.flops if math.isfinite(c.flops) and c.flops > 0 else math.inf)


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
    trivial = next((c for c in refs if c.reference_code in TRIVIAL), None)
    for c in refs:
        if c.reference_code in TRIVIAL:
            c.relation = "trivial baseline"

    def diff(a: Cell, b: Cell, scale: float, level: float = 0.95) -> Difference | None:
        sa, sb = sample_of.get((a.strategy, n)), sample_of.get((b.strategy, n))
        if sa is None or sb is None:
            return None
        return difference(sa, sb, metric, sign > 0, scale, level)

    classical = [c for c in refs if c.reference_code not in TRIVIAL]
    if not nets:  # every network failed (or none finished): a classical model must be clearly above the trivial one
        eligible = []
        for c in classical:
            scale = abs(trivial.mean) if trivial is not None and kind == "relative" else 1.0
            d = diff(c, trivial, scale) if trivial is not None else None
            if d is not None and d.low > 0:
                eligible.append(c)
            else:
                c.relation = "not clearly above the trivial baseline"
        classical = eligible
    candidates = nets + classical
    if not candidates:
        return SizeDecision(n, None, [], [], [], failed, None, None, "none", cells)
    best = min(candidates, key=lambda c: (-sign * round(c.mean, 9), cost_key(c)))
    best.relation = "best"
    scale = abs(best.mean) if kind == "relative" else 1.0
    level = comparison_level(len(candidates))
    pair = {c.strategy: diff(c, best, scale, level) for c in candidates if c is not best}
    as_good, undecided, below = [], [], []
    for c in candidates:
        if c is best:
            continue
        c.vs_best = pair[c.strategy]
        c.relation = relation(c.vs_best, margin)
        {"as good": as_good, "undecided": undecided, "below the best": below}[c.relation].append(c.strategy)
    for c in ([trivial] if trivial is not None else []):
        c.vs_best = diff(c, best, scale, level)
    group = [best] + [c for c in candidates if c.strategy in as_good
                      or (c.strategy in undecided + below and c.vs_best is not None and c.vs_best.mean >= -margin - 1e-9)]
    pick = min(group, key=lambda c: (cost_key(c), -sign * c.mean))
    why = ("best" if pick is best else "cheapest as good" if pick.relation == "as good"
           else "cheapest undecided" if pick.relation == "undecided" else "cheapest within the margin")
    if pick.kind == "reference" and not nets:
        why = "reference above trivial"
    return SizeDecision(n, best.strategy, as_good, undecided, below, failed, pick.strategy, pick.kind, why, cells,
                        level=level)


def relation(d: Difference | None, margin: float) -> str:
    """A strategy's place against the best, from the interval of its difference (positive = better)."""
    if d is None or math.isnan(d.low) or math.isnan(d.high):
        return "undecided"
    if d.low >= -margin - 1e-12:  # not worse than the best by more than the margin (it may be better)
        return "as good"
    if d.high < 0:
        return "below the best"
    return "undecided"


def equivalence(d: Difference | None, margin: float) -> str:
    """Two cells of *one* strategy compared both ways (Side by side: experiment B against A): `the same` where the whole
    interval lies inside ±margin, `better` / `worse` where it lies above / below zero, else `undecided`."""
    if d is None or math.isnan(d.low) or math.isnan(d.high):
        return "undecided"
    if d.low >= -margin and d.high <= margin:
        return "the same"
    return "better" if d.low > 0 else "worse" if d.high < 0 else "undecided"
