"""Seeds and uncertainty: means with 95% intervals, and what counts as a clear difference.

Bounded metrics (accuracy, macro-F1) get intervals that stay inside [0, 1]: with two or more seeds a
t-interval over seeds on the logit scale, mapped back; with one seed the Wilson score interval of the
eval set's size (the sampling error of the eval set alone — seed-to-seed spread is unknown). Unbounded
metrics (loss, perplexity) get a plain t-interval over seeds.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (normal beyond).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t_quantile(dof: int) -> float:
    return _T975[dof - 1] if 1 <= dof <= len(_T975) else 1.96


def t_ppf(p: float, dof: float) -> float:
    """The p-quantile of Student's t with `dof` degrees of freedom (fractional, from Welch–Satterthwaite; ∞: normal)."""
    from scipy.stats import norm, t

    return float(norm.ppf(p)) if not math.isfinite(dof) else float(t.ppf(p, max(dof, 1.0)))


PROPORTIONS = ("accuracy", "macro_f1")
"""Metrics that are a share of examples (absolute margins, seed spread in the metric's own units)."""
SEED_SPREAD = {"proportion": 0.01, "relative": 0.014}
"""Seed-to-seed standard deviation of one strategy's metric at one size (subset_policy fixed, one eval set), measured on
the shipped gallery records: the tweets sentiment record's 12 multi-seed cells have a median of 0.0105 in accuracy; the
diamonds tables record's 4 cells a median of 1.4% of the RMSE. Where a cell ran one seed its seed noise is not measured:
the decision's differences and the planner assume this much (and say so), rather than count none."""


def assumed_seed_sd(metric: str, value: float) -> float:
    """The assumed seed spread of one network's metric, in the metric's units (SEED_SPREAD)."""
    if metric in PROPORTIONS:
        return SEED_SPREAD["proportion"]
    return SEED_SPREAD["relative"] * abs(value) if math.isfinite(value) else math.nan


def _clean(values) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def mean_interval(values) -> tuple[float, float, float, int]:
    """(mean, low, high, n) — a 95% t-interval over seeds; with one seed there is no interval (NaN), never a point."""
    xs = _clean(values)
    n = len(xs)
    if n == 0:
        return (math.nan, math.nan, math.nan, 0)
    mean = sum(xs) / n
    if n == 1:
        return (mean, math.nan, math.nan, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return (mean, mean - half, mean + half, n)


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion p observed on n examples (inside [0, 1] by construction)."""
    if n <= 0:
        return (p, p)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def bounded_interval(values, n_eval: int | None = None) -> tuple[float, float, float, int]:
    """(mean, low, high, n) for a metric in [0, 1]: a t-interval over seeds on the logit scale (values are
    pulled in from 0 and 1 by half an example of the eval set), mapped back; one seed: Wilson on n_eval."""
    mean, _, _, n = mean_interval(values)
    if n == 0:
        return (mean, mean, mean, 0)
    if n == 1:
        if not n_eval:
            return (mean, math.nan, math.nan, 1)  # the eval set's size is unknown: no interval, never a point
        lo, hi = wilson_interval(mean, n_eval)
        return (mean, min(lo, mean), max(hi, mean), 1)
    eps = 0.5 / n_eval if n_eval else 1e-3
    clipped = [min(max(x, eps), 1 - eps) for x in _clean(values)]
    _, lo, hi, _ = mean_interval([math.log(x / (1 - x)) for x in clipped])
    return (mean, min(1 / (1 + math.exp(-lo)), mean), max(1 / (1 + math.exp(-hi)), mean), n)


METRIC_RANGE = {"accuracy": (0.0, 1.0), "macro_f1": (0.0, 1.0), "rouge_l": (0.0, 1.0), "r2": (-math.inf, 1.0),
                "perplexity": (1.0, math.inf), "loss": (0.0, math.inf), "rmse": (0.0, math.inf), "mae": (0.0, math.inf)}
"""Where each eval metric can lie: every interval shown is clipped to it."""


def clip_to_range(metric: str, low: float, high: float) -> tuple[float, float]:
    lo, hi = METRIC_RANGE.get(metric, (-math.inf, math.inf))
    return (min(max(low, lo), hi) if not math.isnan(low) else low, max(min(high, hi), lo) if not math.isnan(high) else high)


def summarise(runs: pd.DataFrame, value: str, by=("strategy", "n_train"), bounded: bool = False) -> pd.DataFrame:
    """Mean and 95% interval of `value` over seeds, per group of finished runs (`cell_interval`; `bounded`: a
    proportion, whose intervals use the eval set's size)."""
    values = pd.to_numeric(runs[value], errors="coerce").astype(float)
    done = runs[(runs["status"] == "done") & np.isfinite(values)]  # a NaN or infinite metric is a failed check
    metric = value.removeprefix("eval_").removeprefix("best_")
    metric = metric if bounded or METRIC_RANGE.get(metric) != (0.0, 1.0) else "score"  # a proportion only when bounded
    rows = []
    for key, g in done.groupby(list(by), sort=True):
        n_eval = int(g["eval_examples"].max()) if "eval_examples" in g and g["eval_examples"].notna().any() else None
        items = [i for i in g["eval_items"] if isinstance(i, dict)] if "eval_items" in g else []
        values = g[value].astype(float).tolist()
        se = g["eval_loss_se"].dropna() if "eval_loss_se" in g else pd.Series(dtype=float)
        lo, hi = cell_interval(metric, values, items, n_eval, float(se.mean()) if len(se) else None)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                     "mean": float(np.mean(values)), "low": lo, "high": hi, "seeds": len(values)})
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "seeds"])


def cell_interval(metric: str, values: list[float], items: list[dict], n_eval: int | None,
                  loss_se: float | None = None) -> tuple[float, float]:
    """The 95% interval of one cell's mean, inside the metric's range. Seeds that differ: the seeds' spread and the eval
    set's sampling noise together (`_seeds_and_eval`: a t with Welch–Satterthwaite degrees of freedom, on the logit
    scale for accuracy), or the seeds' t alone where nothing about the eval set is known. One seed, or seeds that all
    gave the same value: the eval set's sampling noise — Wilson's interval for accuracy, else a bootstrap over the runs'
    stored per-example outcomes, else (perplexity) the eval loss ± 1.96 of its standard error over sequences
    (`loss_se`). Otherwise unknown: (NaN, NaN), never a point."""
    xs = _clean(values)
    if not xs:
        return (math.nan, math.nan)
    mean = sum(xs) / len(xs)
    if len(xs) >= 2 and max(xs) > min(xs):
        both = _seeds_and_eval(metric, xs, items, n_eval)
        if both is not None:
            return clip_to_range(metric, min(both[0], mean), max(both[1], mean))
        _, lo, hi, _ = bounded_interval(xs, n_eval) if metric == "accuracy" else mean_interval(xs)
        return clip_to_range(metric, lo, hi)
    ci = wilson_interval(mean, n_eval) if metric == "accuracy" and n_eval else bootstrap_interval(metric, items)
    if ci is None and metric == "perplexity" and loss_se and mean > 0:
        ci = (math.exp(math.log(mean) - 1.96 * loss_se), math.exp(math.log(mean) + 1.96 * loss_se))
    if ci is None:
        return (math.nan, math.nan)
    return clip_to_range(metric, min(ci[0], mean), max(ci[1], mean))


CELL_RESAMPLES = 400
"""Eval resamples for the variance of a multi-seed cell's mean (a variance needs fewer draws than a tail)."""


def _seeds_and_eval(metric: str, xs: list[float], items: list[dict], n_eval: int | None) -> tuple[float, float] | None:
    """A multi-seed cell's interval counting both noises: var = s²/k + the eval set's variance of the seeds' mean (an
    accuracy's binomial p(1 − p)/n, else the variance over eval resamples of the runs' stored outcomes), t at the
    Welch–Satterthwaite degrees of freedom; an accuracy on the logit scale (delta method), so it stays inside (0, 1).
    None where the eval set's noise is unknown."""
    k, mean = len(xs), sum(xs) / len(xs)
    seed_v = float(np.var(xs, ddof=1)) / k
    if metric == "accuracy" and n_eval:
        eval_v = mean * (1 - mean) / n_eval
    else:
        runs = [i for i in items if items_size(i)]
        sizes = {items_size(i) for i in runs}
        if len(runs) != k or len(sizes) != 1 or (n := sizes.pop()) < MIN_BOOTSTRAP_EXAMPLES:
            return None
        try:
            idx = resamples(n)[:CELL_RESAMPLES]
            eval_v = float(np.var(np.mean([resampled_metric(metric, i, idx) for i in runs], axis=0)))
        except (KeyError, ValueError):
            return None
    var = seed_v + eval_v
    q = t_ppf(0.975, var * var / (seed_v * seed_v / (k - 1)) if seed_v > 0 else math.inf)
    if metric == "accuracy" and 0 < mean < 1:
        centre, half = math.log(mean / (1 - mean)), q * math.sqrt(var) / (mean * (1 - mean))
        return (1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half))))
    return (mean - q * math.sqrt(var), mean + q * math.sqrt(var))


# -- per-example eval outcomes: a metric recomputed on resamples of the eval set ------------------------------------
BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the eval set for a one-seed interval; the percentile interval's ends move by ~0.002 between seeds of
the bootstrap at this count (eval sets of 500–3,000 examples)."""
MIN_BOOTSTRAP_EXAMPLES = 20
"""Fewer eval examples than this say too little about their own sampling noise for a bootstrap: no interval."""
BOOTSTRAP_SEED = 0
"""One fixed generator seed: the same resamples for every run of an experiment, so differences are paired and the
page shows the same interval on every load."""


def _arrays(items: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in items.items()}


def items_size(items: dict | None) -> int:
    """How many eval examples a run's stored outcomes cover (0 where none were stored)."""
    if not items:
        return 0
    return len(next(iter(items.values())))


def resampled_metric(metric: str, items: dict, idx: np.ndarray) -> np.ndarray:
    """The eval metric on each resample (rows of `idx`, indices into the eval set) from a run's per-example outcomes:
    classification {y_true, y_pred} → accuracy; regression {y_true, y_pred} → RMSE, MAE or R²; language models
    {nll, tokens} → perplexity (or loss)."""
    a = _arrays(items)
    if metric == "accuracy":
        return (a["y_true"] == a["y_pred"])[idx].mean(axis=1)
    if metric in ("rmse", "mae"):
        err = a["y_true"] - a["y_pred"]
        return np.sqrt((err ** 2)[idx].mean(axis=1)) if metric == "rmse" else np.abs(err)[idx].mean(axis=1)
    if metric == "r2":  # each resample's own R²: 1 − its squared error over its own spread around its mean
        y = a["y_true"][idx]
        sse = ((y - a["y_pred"][idx]) ** 2).sum(axis=1)
        sst = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        return np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), 0.0)
    if metric in ("perplexity", "loss") and "nll" in a:
        loss = a["nll"][idx].sum(axis=1) / np.maximum(a["tokens"][idx].sum(axis=1), 1.0)
        return np.exp(np.minimum(loss, 50.0)) if metric == "perplexity" else loss
    raise ValueError(f"no per-example form of {metric} for outcomes with keys {sorted(items)}")


@functools.lru_cache(maxsize=2)
def resamples(n: int) -> np.ndarray:
    """The experiment's fixed resamples of an eval set of n examples (BOOTSTRAP_RESAMPLES × n indices), drawn once
    per eval-set size: every cell and difference of an analysis reuses them (read-only)."""
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    idx.flags.writeable = False
    return idx


def bootstrap_interval(metric: str, items_list: list[dict]) -> tuple[float, float] | None:
    """95% percentile interval of the metric (averaged over the given runs' outcomes, all on one eval set) over
    resamples of the eval set: the eval set's sampling noise, for a cell with one seed. None without outcomes."""
    items_list = [i for i in items_list if items_size(i)]
    if not items_list or len({items_size(i) for i in items_list}) != 1 or items_size(items_list[0]) < MIN_BOOTSTRAP_EXAMPLES:
        return None
    idx = resamples(items_size(items_list[0]))
    values = np.mean([resampled_metric(metric, i, idx) for i in items_list], axis=0)
    lo, hi = float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))
    return (lo, hi) if hi > lo else None  # every example scored alike (a perfect RMSE): no spread to show
