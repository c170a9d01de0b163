"""Seeds and uncertainty: means with 95% intervals, and what counts as a clear difference.

Bounded metrics (accuracy, macro-F1) get intervals that stay inside [0, 1]: with two or more seeds a
t-interval over seeds on the logit scale, mapped back; with one seed the Wilson score interval of the
eval set's size (the sampling error of the eval set alone — seed-to-seed spread is unknown). Unbounded
metrics (loss, perplexity) get a plain t-interval over seeds.
"""
from __future__ import annotations

import math

import pandas as pd

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (normal beyond).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t_quantile(dof: int) -> float:
    return _T975[dof - 1] if 1 <= dof <= len(_T975) else 1.96


def _clean(values) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def mean_interval(values) -> tuple[float, float, float, int]:
    """(mean, low, high, n) — a 95% t-interval over seeds; with one seed the interval is the point."""
    xs = _clean(values)
    n = len(xs)
    if n == 0:
        return (math.nan, math.nan, math.nan, 0)
    mean = sum(xs) / n
    if n == 1:
        return (mean, mean, mean, 1)
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
        lo, hi = wilson_interval(mean, n_eval) if n_eval else (mean, mean)
        return (mean, min(lo, mean), max(hi, mean), 1)
    eps = 0.5 / n_eval if n_eval else 1e-3
    clipped = [min(max(x, eps), 1 - eps) for x in _clean(values)]
    _, lo, hi, _ = mean_interval([math.log(x / (1 - x)) for x in clipped])
    return (mean, min(1 / (1 + math.exp(-lo)), mean), max(1 / (1 + math.exp(-hi)), mean), n)


def summarise(runs: pd.DataFrame, value: str, by=("strategy", "n_train"), bounded: bool = False) -> pd.DataFrame:
    """Mean and 95% interval of `value` over seeds, per group of finished runs (`bounded`: a metric in [0, 1])."""
    done = runs[(runs["status"] == "done") & runs[value].notna()]
    rows = []
    for key, g in done.groupby(list(by), sort=True):
        if bounded:
            n_eval = int(g["eval_examples"].max()) if "eval_examples" in g and g["eval_examples"].notna().any() else None
            mean, lo, hi, n = bounded_interval(g[value], n_eval)
        else:
            mean, lo, hi, n = mean_interval(g[value])
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                     "mean": mean, "low": lo, "high": hi, "seeds": n})
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "seeds"])


def clearly_different(a: dict, b: dict) -> bool:
    """Two summaries differ clearly when their 95% intervals do not overlap (both need ≥ 2 seeds;
    with one seed nothing is clear, however large the gap)."""
    if a["seeds"] < 2 or b["seeds"] < 2:
        return False
    return a["low"] > b["high"] or b["low"] > a["high"]
