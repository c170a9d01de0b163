"""Where scratch catches up: for each training-set size N and each pair (a strategy trained from random weights, a
pretrained one), the training-set size at which the first is forecast to reach the second's measured level at N, with
a 95% interval — on the decision's own metric, from the same per-cell samples the decision uses (`decision.samples`),
computed once here; the verdict, Compare, the report and `python -m training recommend --format json` render it.

**The learning curve** of a strategy is a straight line in ln N through its cells' means, on a scale where the metric
is unbounded:
- a proportion where higher is better (accuracy, macro-F1): logit(metric) = a + b·ln N;
- a positive metric where lower is better (perplexity, RMSE): ln(metric) = a + b·ln N (a power law);
drawn through the sizes whose cells passed the fairness checks piece by piece: between two sizes measured it follows
the straight segment joining them, and past the largest it continues the last segment — the slope where the curve is
now, not a line fitted through all sizes. Learning curves flatten as N grows (diminishing returns on every scale we
tried), and a least-squares line through every size carried the steep early slope into the extrapolation: it
over-predicted the largest size on tweets and docstrings and covered the measured value in 10 of 14 backtests, the
last segment in 12 (LOG.md, 2026-12-07). A forecast is given only up to REACH × the largest size measured.

**Noise, counted**: FORECAST_DRAWS bootstrap draws (a fixed seed, so a page shows the same interval on every load). In
each draw every cell's mean is redrawn from (a) the eval set's sampling noise — the eval examples resampled with one
index draw per replicate shared by every cell (every run of an experiment scores the same eval examples, so the cells'
draws are paired, as `decision` pairs differences), each seed's metric recomputed from its stored per-example outcomes;
an accuracy without them gets a normal draw from its binomial standard error — and (b) with 2 or more seeds, the seed
mean's sampling error (sd/√k times a t draw with k − 1 degrees of freedom). With one seed the seed-to-seed spread is
not measured, and not invented: each entry's `noise` says which were counted. Every draw refits the curve and redraws
the target; the 95% interval is the draws' 2.5 and 97.5 percentiles taken as order statistics (a draw whose curve does
not rise never reaches the target: ∞, and nothing is interpolated towards ∞).

**Status** of an entry: `already` (scratch's measured level at N is at or above the target's, or its curve reaches it
by N), `forecast` (within REACH × scratch's largest size), `beyond` (not within it), `cannot` (fewer than 2 sizes that
passed, a failed cell, a curve that does not rise with data, or no noise to count; `why` says which and what to add).

**The backtest** checks the curve on itself: for every strategy with 3 or more sizes that passed, the curve through all
but the largest predicts the largest, with a 95% interval for the *measured* value (the fit's noise and the measured
cell's own, from the same draws), and says whether the measurement fell inside.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.analysis.stats import METRIC_RANGE, MIN_BOOTSTRAP_EXAMPLES, items_size, resampled_metric, resamples
from training.analysis.units import NOT_APPLICABLE, human_estimate, human_number

if TYPE_CHECKING:
    from training.analysis.decision import DecisionTable, Sample

FORECAST_DRAWS = 400
"""Bootstrap draws per forecast: the 2.5/97.5 percentiles' order statistics are the 10th and 391st of 400."""
FORECAST_SEED = 0
"""The generator of the seed-noise draws (the eval resamples are the experiment's fixed ones, `stats.resamples`)."""
REACH = 10
"""A forecast is given up to this multiple of the largest size measured; beyond it a straight line in ln N says little."""
FROM_RANDOM_WEIGHTS = ("scratch", "own")
"""Strategy names that start from random weights (the controlled scratch and "our own model"), for configs and old
records; a run's result says it itself (`pretrained`)."""
EVAL_AND_SEEDS = "eval and seeds"
EVAL_ONLY = "eval only (one seed: seed-to-seed spread not measured)"
SEEDS_ONLY = "seeds only (no per-example eval outcomes stored: eval noise not counted)"
PARTLY = "partly (some cells have one seed and no per-example eval outcomes: no noise counted for them)"
NO_NOISE = "none (one seed and no per-example eval outcomes)"


def has_pretrained(config: dict) -> bool:
    """Whether an experiment ran a strategy that starts from pretrained weights: without one (a table's scratch alone)
    there is nothing to catch up with, and Compare, the report and the decision record leave that out."""
    return any(str(s.get("name", "")).split("×")[0] not in FROM_RANDOM_WEIGHTS for s in config.get("strategies") or [])


def scratch_arms(runs: pd.DataFrame | None) -> set[str]:
    """The strategy labels (`scratch`, `scratch×3`, `own`…) whose runs trained from random weights: the run's result
    says `pretrained: False`; a record from before that was stored, by its strategy's name."""
    out: set[str] = set()
    if runs is None or runs.empty:
        return out
    for r in runs.to_dict("records"):
        result = r.get("result")
        pretrained = result.get("pretrained") if isinstance(result, dict) else None
        if pretrained is None:
            name = r.get("strategy_name")
            name = name if isinstance(name, str) else str(r["strategy"]).split("×")[0]
            pretrained = name not in FROM_RANDOM_WEIGHTS
        if not pretrained:
            out.add(str(r["strategy"]))
    return out


# -- the curve's scale ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurveForm:
    """The scale on which a metric's learning curve is a straight line in ln N, signed so that up is better."""
    metric: str
    proportion: bool
    """True: logit(metric) (higher is better, in [0, 1]); False: −ln(metric) (lower is better, positive)."""

    @property
    def words(self) -> str:
        return (f"logit({self.metric}) = a + b·ln N" if self.proportion else f"ln({self.metric}) = a + b·ln N")

    def score(self, m, n_eval: int | None = None) -> np.ndarray:
        """The metric on the curve's scale; a proportion is kept half an eval example inside (0, 1)."""
        m = np.asarray(m, dtype=float)
        if self.proportion:
            eps = 0.5 / n_eval if n_eval else 1e-3
            p = np.clip(m, eps, 1 - eps)
            return np.log(p / (1 - p))
        return -np.log(np.maximum(m, 1e-12))

    def metric_of(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        return 1 / (1 + np.exp(-z)) if self.proportion else np.exp(-z)


def curve_form(metric: str, higher: bool) -> CurveForm | None:
    """The curve's scale for a metric, or None where neither form fits it (e.g. R², unbounded below)."""
    low, high = METRIC_RANGE.get(metric, (-math.inf, math.inf))
    if higher and (low, high) == (0.0, 1.0):
        return CurveForm(metric, True)
    if not higher and low >= 0:
        return CurveForm(metric, False)
    return None


# -- the cells, redrawn -----------------------------------------------------------------------------------------------
@dataclass
class _Cell:
    mean: float
    draws: np.ndarray
    """FORECAST_DRAWS redraws of the cell's mean (metric units, inside the metric's range)."""
    seeds: int
    eval_counted: bool
    n_eval: int | None


def _redraw(sample: Sample, metric: str, draws: int, rng: np.random.Generator) -> _Cell:
    """One cell's mean, redrawn from its eval noise (paired resamples of the eval examples) and its seed noise."""
    seeds = sorted(sample.values)
    values = np.array([sample.values[k] for k in seeds], dtype=float)
    mean = float(values.mean())
    items = [sample.items.get(k) for k in seeds]
    sizes = {items_size(i) for i in items}
    n_eval = sample.n_eval or (max(sizes) or None)
    shift, counted = np.zeros(draws), False
    if len(sizes) == 1 and (n := sizes.pop()) >= MIN_BOOTSTRAP_EXAMPLES:
        idx = resamples(n)[:draws]  # the same rows for every cell: the replicates are paired across cells
        try:  # each seed's deviation from its own full-eval-set value, so the draws centre on the measured mean
            shift = np.mean([resampled_metric(metric, i, idx) - resampled_metric(metric, i, np.arange(n)[None, :])[0]
                             for i in items], axis=0)
            counted = True
        except (KeyError, ValueError):  # a metric without a per-example form (macro-F1): no eval noise from items
            pass
    if not counted and metric == "accuracy" and n_eval:
        shift = rng.standard_normal(draws) * math.sqrt(max(mean * (1 - mean), 0.0) / n_eval)
        counted = True
    if len(values) >= 2:
        shift = shift + values.std(ddof=1) / math.sqrt(len(values)) * rng.standard_t(len(values) - 1, draws)
    low, high = METRIC_RANGE.get(metric, (-math.inf, math.inf))
    return _Cell(mean, np.clip(mean + shift, low, high), len(values), counted, n_eval)


def _noise_words(cells: list[_Cell]) -> str:
    """Which noise the draws of these cells count (the weakest cell decides)."""
    seeds, evals = all(c.seeds >= 2 for c in cells), all(c.eval_counted for c in cells)
    if seeds or evals:
        return EVAL_AND_SEEDS if seeds and evals else SEEDS_ONLY if seeds else EVAL_ONLY
    return PARTLY if any(c.seeds >= 2 or c.eval_counted for c in cells) else NO_NOISE


@dataclass
class _Curve:
    strategy: str
    sizes: list[int]
    cells: list[_Cell]
    form: CurveForm

    @property
    def log_n(self) -> np.ndarray:
        return np.log(np.asarray(self.sizes, dtype=float))

    @property
    def z(self) -> np.ndarray:
        return np.array([self.form.score(c.mean, c.n_eval) for c in self.cells])

    @property
    def z_draws(self) -> np.ndarray:
        """(draws, sizes): each draw's cell means on the curve's scale."""
        return np.stack([self.form.score(c.draws, c.n_eval) for c in self.cells], axis=1)


def _fit(log_n: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last segment z = a + b·ln N through the two largest sizes, along the last axis (one per row of a 2-D z)."""
    b = (z[..., -1] - z[..., -2]) / (log_n[-1] - log_n[-2])
    return z[..., -1] - b * log_n[-1], b


def _reach(log_n: np.ndarray, z: np.ndarray, z_target) -> np.ndarray:
    """N at which the piecewise curve through (log_n, z) first reaches z_target (per row of a 2-D z): on the segment
    where it crosses, else past the largest size along the last segment — ∞ where that does not rise (or only past
    e^700); at or below the smallest size where the curve starts above the target."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    target = np.broadcast_to(np.asarray(z_target, dtype=float), z.shape[:1])
    out = np.full(z.shape[0], np.inf)
    for row, (zs, t) in enumerate(zip(z, target, strict=True)):
        if zs[0] >= t:
            out[row] = math.exp(log_n[0])
            continue
        up = np.nonzero(zs[1:] >= t)[0]
        if len(up):
            i = int(up[0])
            x = log_n[i] + (t - zs[i]) * (log_n[i + 1] - log_n[i]) / (zs[i + 1] - zs[i])
        else:
            slope = (zs[-1] - zs[-2]) / (log_n[-1] - log_n[-2])
            x = log_n[-1] + (t - zs[-1]) / slope if slope > 0 else math.inf
        out[row] = math.exp(x) if x <= 700 else math.inf
    return out


# -- the forecast -----------------------------------------------------------------------------------------------------
@dataclass
class Forecast:
    """The crossover entries per size (see the module docstring for an entry's keys), the backtests, and notes."""
    metric: str
    form: str
    """The curve, in words: "logit(accuracy) = a + b·ln N"."""
    crossover: dict[int, list[dict]] = field(default_factory=dict)
    backtest: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def at(self, n: int) -> list[dict]:
        return self.crossover.get(n, [])

    @property
    def entries(self) -> list[dict]:
        return [e for n in sorted(self.crossover) for e in self.crossover[n]]


def forecast(decision: DecisionTable, sample_of: dict[tuple[str, int], Sample], arms: set[str],
             draws: int = FORECAST_DRAWS, seed: int = FORECAST_SEED) -> Forecast:
    """Where each strategy of `arms` (trained from random weights, see `scratch_arms`) reaches each pretrained
    strategy's level, at every size of the decision, and the backtests. A cell that failed the checks
    (`Cell.status != "ok"`) is never used."""
    form = curve_form(decision.metric, decision.higher_is_better)
    if form is None:
        return Forecast(decision.metric, "", notes=[f"No learning-curve form for {decision.metric}: no forecast."])
    rng = np.random.default_rng(seed)
    status = {(c.strategy, s.n_train): c.status for s in decision.sizes for c in s.cells if c.kind == "strategy"}
    cells = {key: _redraw(sample_of[key], decision.metric, draws, rng) for key in sorted(status)
             if status[key] == "ok" and key in sample_of and math.isfinite(sample_of[key].mean)}
    curves = {}
    for strategy in sorted({s for s, _ in status}):
        sizes = sorted(n for s, n in cells if s == strategy)
        curves[strategy] = _Curve(strategy, sizes, [cells[(strategy, n)] for n in sizes], form)
    out = Forecast(decision.metric, form.words)
    sign = 1.0 if decision.higher_is_better else -1.0
    present = [s for s in curves if s in arms]
    for s in decision.sizes:
        targets = [c.strategy for c in s.cells if c.kind == "strategy" and c.strategy not in arms]
        out.crossover[s.n_train] = [_crossover(curves[a], t, s.n_train, status, cells, sign)
                                    for a in present for t in targets]
    if not present or not any(t not in arms for t, _ in status):
        out.notes.append("Nothing to forecast: the experiment needs a strategy trained from random weights and a "
                         "pretrained one.")
    out.backtest = [b for c in curves.values() if len(c.sizes) >= 3 for b in [_backtest(c)]]
    if not out.backtest:
        out.notes.append("A backtest needs 3 or more sizes that passed the checks: add a size to check the curve on "
                         "itself.")
    return out


def suggested_size(largest: int) -> int:
    """A next size to run: about 3× the largest, rounded to 2 significant figures."""
    x = 3 * largest
    step = 10 ** max(int(math.log10(x)) - 1, 0)
    return int(round(x / step) * step)


def _crossover(curve: _Curve, target: str, n: int, status: dict, cells: dict, sign: float) -> dict:
    """One entry: where `curve`'s strategy reaches `target`'s measured level at size n."""
    arm, here, goal = curve.strategy, cells.get((curve.strategy, n)), cells.get((target, n))
    entry = {"scratch": arm, "target": target, "n_train": n, "level": goal.mean if goal else math.nan, "n": math.nan,
             "low": math.nan, "high": math.nan, "status": "cannot", "why": "",
             "noise": _noise_words(curve.cells + ([goal] if goal else [])), "extrapolated": False}

    def cannot(why: str) -> dict:
        return {**entry, "why": why}

    if goal is None:
        return cannot(f"{target} failed the checks at N={n:,} (see the checks above): its level is no target"
                      if status.get((target, n)) != "ok" else f"{target} has no finished run with a {curve.form.metric} "
                      f"at N={n:,}: no level to reach")
    if status.get((arm, n), "ok") != "ok":
        return cannot(f"{arm} failed the checks at N={n:,} (see the checks above)")
    if here is not None and sign * (here.mean - goal.mean) >= 0:
        return {**entry, "n": float(n), "status": "already",
                "why": f"{arm}'s measured {curve.form.metric} at N={n:,} ({human_number(here.mean)}) is at or above "
                       f"{target}'s ({human_number(goal.mean)})"}
    if len(curve.sizes) < 2:
        where = f"only at N={curve.sizes[0]:,}" if curve.sizes else "at no size"
        add = f"add a size such as N={suggested_size(curve.sizes[0] if curve.sizes else n):,}"
        return cannot(f"{arm} passed the checks {where}: a curve needs 2 or more sizes — {add}")
    _, b = _fit(curve.log_n, curve.z)
    largest = curve.sizes[-1]
    if b <= 0:
        first, last = curve.cells[-2].mean, curve.cells[-1].mean
        return cannot(f"{arm}'s {curve.form.metric} does not improve with data between its two largest sizes "
                      f"({human_number(first)} at N={curve.sizes[-2]:,} → {human_number(last)} at N={largest:,}): check "
                      f"its runs (learning rate, steps), add seeds, or add a size such as N={suggested_size(largest):,}")
    if entry["noise"] == NO_NOISE:
        return cannot("no interval can be had with one seed and no stored per-example eval outcomes: add seeds")
    point = float(_reach(curve.log_n, curve.z, curve.form.score(goal.mean, goal.n_eval))[0])
    reached = _reach(curve.log_n, curve.z_draws, curve.form.score(goal.draws, goal.n_eval))
    low, high = (float(x) for x in np.percentile(reached, [2.5, 97.5], method="inverted_cdf"))
    entry |= {"n": point, "low": low, "high": high, "extrapolated": bool(point > largest)}
    through = (f"from {arm}'s curve through N={', '.join(f'{x:,}' for x in curve.sizes)}"
               + (f", continued past N={largest:,} along its last segment" if point > largest else ""))
    if point <= n:
        return {**entry, "status": "already", "why": f"{through}, it reaches {target}'s level by N={n:,}"}
    if point > REACH * largest:
        return {**entry, "status": "beyond", "limit": REACH * largest,
                "why": f"{through}; {REACH}× its largest size is N={REACH * largest:,}"}
    if math.isinf(low):
        return cannot(f"too noisy to place: in most redraws of the noise {arm}'s curve does not rise — add seeds or a "
                      f"size such as N={suggested_size(largest):,}")
    return {**entry, "status": "forecast",
            "why": through + (f"; beyond N={largest:,}: an extrapolation" if entry["extrapolated"] else "")}


def _backtest(curve: _Curve) -> dict:
    """The curve through all sizes but the largest — its last segment, continued — predicts the largest, with a 95%
    interval for the measured value."""
    a, b = _fit(curve.log_n[:-1], curve.z[:-1])
    predicted = a + b * curve.log_n[-1]
    draws = curve.z_draws
    a_d, b_d = _fit(curve.log_n[:-1], draws[:, :-1])
    measured = curve.z[-1]
    # the measured value's error against the prediction, as the draws spread it: its own noise minus the fit's
    error = (draws[:, -1] - measured) - (a_d + b_d * curve.log_n[-1] - predicted)
    lo, hi = np.percentile(predicted + error, [2.5, 97.5], method="inverted_cdf")
    ends = sorted(float(x) for x in curve.form.metric_of([lo, hi]))
    return {"strategy": curve.strategy, "n_train": curve.sizes[-1], "predicted": float(curve.form.metric_of(predicted)),
            "low": ends[0], "high": ends[1], "measured": curve.cells[-1].mean, "covered": bool(lo <= measured <= hi)}


# -- for people -------------------------------------------------------------------------------------------------------
def interval_words(e: dict) -> str:
    """An entry's 95% interval: "5,100–41,000", or "at least 5,100 (no upper end within these sizes)"."""
    if not (math.isfinite(e["low"]) or math.isfinite(e["high"])):
        return NOT_APPLICABLE
    if math.isinf(e["high"]):
        return f"at least {human_estimate(e['low'])} (no upper end within these sizes)"
    return f"{human_estimate(e['low'])}–{human_estimate(e['high'])}"


STATUS_WORDS = {"already": "already there", "forecast": "forecast", "beyond": f"not within {REACH}× your largest size",
                "cannot": "cannot be forecast from these sizes"}


def crossover_table(fc: Forecast | None) -> pd.DataFrame:
    """The crossover entries as Compare and the report show them (`strategy`: the one trained from random weights), a
    forecast N only beside its interval."""
    rows = []
    for e in fc.entries if fc is not None else []:
        shown = e["status"] == "forecast" or (e["status"] == "already" and math.isfinite(e["low"]))
        beyond = e["status"] == "beyond" and math.isfinite(e.get("limit") or math.nan)
        rows.append({"strategy": e["scratch"], "target": e["target"], "n_train": e["n_train"], "level": e["level"],
                     "forecast_n": f"≈ {human_estimate(e['n'])}" if shown else
                     f"beyond {human_estimate(e['limit'])}" if beyond else NOT_APPLICABLE,
                     "interval": interval_words(e) if shown else
                     f"from {human_estimate(e['low'])}" if beyond and math.isfinite(e["low"]) else NOT_APPLICABLE,
                     "status": STATUS_WORDS[e["status"]], "why": e["why"], "noise": e["noise"]})
    return pd.DataFrame(rows, columns=["strategy", "target", "n_train", *list(CROSSOVER_NAMES)[2:]])


CROSSOVER_NAMES = {"strategy": "from random weights", "target": "pretrained", "level": "target level",
                   "forecast_n": "forecast N", "interval": "95% interval", "status": "status", "why": "why",
                   "noise": "noise counted"}
"""The crossover table's headers."""


def backtest_table(fc: Forecast | None) -> pd.DataFrame:
    """The backtests as people read them: predicted, its 95% interval, measured, and inside or not in words."""
    rows = [{**b, "covered": "inside the interval" if b["covered"] else "outside it: read the forecast as rough"}
            for b in (fc.backtest if fc is not None else [])]
    return pd.DataFrame(rows, columns=["strategy", "n_train", *BACKTEST_NAMES])


BACKTEST_NAMES = {"predicted": "predicted at its largest N", "low": "95% low", "high": "95% high",
                  "measured": "measured", "covered": "measured value"}
"""The backtest table's headers."""
