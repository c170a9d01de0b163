"""Effective data transferred (Hernandez et al. 2021, "Scaling Laws for Transfer").

Fit the from-scratch data curve L(D) = L∞ + A·D^(−b) to scratch eval loss at each training-set size D,
then invert it at a fine-tuned run's eval loss: D_E is the data scratch would need to reach that loss.
D_T = D_E − D_F is the data the pretrained model is worth; D_E / D_F the data multiplier. A bootstrap
over seeds gives intervals: each size's mean loss is redrawn from its t-distributed sampling error
(a plain resampling bootstrap of 3 seeds is too narrow), the curve refitted and inverted again. When the fine-tuned loss is below
every scratch loss, D_E lies beyond the largest scratch size and is an extrapolation — flagged, not
hidden; when it is at or below the fitted L∞, D_E is infinite *on this fit*, which three or four scratch
sizes cannot support: the app then says D_E cannot be estimated from these runs, never that no amount of
data would do. Each run's loss is its lowest validation loss (as Hernandez et al. stop early), and the
fit is refused when scratch's loss does not fall with data or a scratch size failed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PowerLaw:
    l_inf: float
    a: float
    b: float

    def loss(self, d) -> np.ndarray:
        return self.l_inf + self.a * np.asarray(d, dtype=float) ** (-self.b)

    def data_for(self, loss: float) -> float:
        """D at which the curve reaches `loss` (∞ when loss ≤ L∞)."""
        if loss <= self.l_inf:
            return math.inf
        log_d = (math.log(self.a) - math.log(loss - self.l_inf)) / self.b  # in log space: a flat curve overflows
        return math.inf if log_d > 700 else math.exp(log_d)


def fit_power_law(d, loss) -> PowerLaw:
    """Least-squares fit of L = L∞ + A·D^(−b): for each candidate L∞ below the smallest loss, log(L − L∞)
    is linear in log D; the L∞ with the smallest squared error in L wins (a 1-D search, no SciPy)."""
    d, loss = np.asarray(d, dtype=float), np.asarray(loss, dtype=float)
    if len(np.unique(d)) < 3:
        raise ValueError("fitting L(D) = L∞ + A·D^(−b) needs scratch runs at 3 or more training-set sizes")
    top = float(loss.min())
    l_inf = top * np.concatenate([np.linspace(0.0, 0.98, 99), 1 - np.geomspace(0.02, 1e-4, 30)])[:, None]
    x = np.log(d)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):  # a NaN loss makes its rows NaN: rejected below
        y = np.log(loss[None, :] - l_inf)  # one row per candidate L∞: closed-form least squares in log space
    xm, ym = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    slope = ((x - xm) * (y - ym)).sum(axis=1) / ((x - xm) ** 2).sum()
    a = np.exp(ym[:, 0] - slope * xm[0, 0])
    pred = l_inf + a[:, None] * d[None, :] ** slope[:, None]
    err = np.where(slope < 0, ((pred - loss[None, :]) ** 2).sum(axis=1), np.inf)  # loss must fall with data
    k = int(np.argmin(err))
    if not np.isfinite(err[k]):
        raise ValueError("scratch eval loss does not fall with more data; D_T cannot be estimated")
    return PowerLaw(float(l_inf[k, 0]), float(a[k]), float(-slope[k]))


def _pooled_relative_sd(means: pd.DataFrame) -> float:
    """Seed-to-seed spread relative to the mean, pooled over sizes with ≥ 2 seeds (0 when none)."""
    multi = means[means["count"] >= 2]
    return float((multi["std"] / multi["mean"]).mean()) if not multi.empty else 0.0


def _draw_means(stats: pd.DataFrame, pooled_rel_sd: float, rng: np.random.Generator) -> np.ndarray:
    """One draw of each group's mean from mean + sd/√n · t(n−1); a single seed borrows the pooled spread."""
    n = stats["count"].to_numpy(dtype=float)
    sd = np.where(n >= 2, stats["std"].fillna(0).to_numpy(), pooled_rel_sd * stats["mean"].to_numpy())
    dof = np.maximum(n - 1, 1)
    return stats["mean"].to_numpy() + sd / np.sqrt(n) * rng.standard_t(dof)


MIN_R2 = 0.9
"""Below this share of explained variance in scratch's mean losses, the fitted data curve is not used."""
COLUMNS = ["strategy", "n_train", "loss", "d_e", "d_e_low", "d_e_high", "d_t", "multiplier", "multiplier_low",
           "multiplier_high", "extrapolated", "seeds"]


def _cannot(reason: str) -> pd.DataFrame:
    out = pd.DataFrame(columns=COLUMNS)
    out.attrs["reason"] = reason
    return out


def effective_data(runs: pd.DataFrame, loss_col: str = "eval_loss", baseline: str = "scratch", n_boot: int = 300,
                   seed: int = 0, exclude: set | None = None) -> pd.DataFrame:
    """Per (strategy, N) of every non-baseline strategy: D_E, D_T, the multiplier D_E/D_F with 95%
    bootstrap intervals, and whether D_E is an extrapolation beyond the largest scratch size. When the
    scratch runs cannot support a fit, an empty frame whose `attrs["reason"]` says why. `exclude`: (strategy,
    N) cells that failed (see `fairness`)."""
    exclude = exclude or set()
    done = runs[(runs["status"] == "done") & runs[loss_col].notna()]
    scratch = done[done["strategy"] == baseline]
    others = done[(done["strategy"] != baseline) & ~done["strategy"].str.split("×").str[0].eq(baseline)]
    others = others[[(s, int(n)) not in exclude for s, n in zip(others["strategy"], others["n_train"], strict=True)]]
    if scratch["n_train"].nunique() < 3 or others.empty:
        return _cannot(f"it needs {baseline} runs at 3 or more training-set sizes and another strategy to compare")
    bad = sorted(n for s, n in exclude if s == baseline)
    if bad:
        return _cannot(f"{baseline} failed at N={', '.join(f'{n:,}' for n in bad)} (see the checks above), so its "
                       "data curve is not a baseline to measure against")
    means = scratch.groupby("n_train")[loss_col].agg(["mean", "std", "count"]).reset_index()
    rising = [(int(a.n_train), int(b.n_train)) for a, b in zip(means.itertuples(), list(means.itertuples())[1:],
                                                               strict=False) if b.mean >= a.mean]
    if rising:
        a, b = rising[0]
        return _cannot(f"{baseline}'s loss does not fall with more data (N={a:,} → {b:,}), so no data curve "
                       "can be fitted to it")
    try:
        law = fit_power_law(means["n_train"], means["mean"])
    except ValueError as e:
        return _cannot(str(e))
    fitted = law.loss(means["n_train"])
    r2 = 1 - float(((means["mean"] - fitted) ** 2).sum() / max(((means["mean"] - means["mean"].mean()) ** 2).sum(), 1e-12))
    if r2 < MIN_R2:  # three sizes always fit exactly; with more, a poor fit is no curve to read D_E from
        return _cannot(f"the power law fits {baseline}'s losses poorly (R² {r2:.2f} over {len(means)} sizes)")
    max_d = float(scratch["n_train"].max())
    rng = np.random.default_rng(seed)
    pooled = _pooled_relative_sd(means)
    laws = []  # parametric bootstrap: each size's mean redrawn from its t-distributed sampling error
    for _ in range(n_boot):
        try:
            laws.append(fit_power_law(means["n_train"], _draw_means(means, pooled, rng)))
        except ValueError:
            continue
    rows = []
    for (strategy, n), g in others.groupby(["strategy", "n_train"], sort=True):
        stats = g[loss_col].agg(["mean", "std", "count"]).to_frame().T
        mean_loss = float(stats["mean"].iloc[0])
        d_e = law.data_for(mean_loss)
        boots = [lb.data_for(float(_draw_means(stats, pooled, rng)[0])) for lb in laws]
        # No interpolation between order statistics: a bootstrap law that never reaches the loss gives D_E = inf,
        # and interpolating towards inf is undefined (inf − inf), not "very large".
        lo, hi = np.percentile(boots, [2.5, 97.5], method="inverted_cdf") if boots else (math.nan, math.nan)
        rows.append({"strategy": strategy, "n_train": int(n), "loss": mean_loss, "d_e": d_e, "d_e_low": float(lo),
                     "d_e_high": float(hi), "d_t": d_e - n, "multiplier": d_e / n, "multiplier_low": float(lo) / n,
                     "multiplier_high": float(hi) / n, "extrapolated": bool(d_e > max_d), "seeds": int(stats["count"].iloc[0])})
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["law"] = law
    out.attrs["max_scratch_n"] = int(max_d)
    return out


def transfer_for_people(transfer: pd.DataFrame) -> pd.DataFrame:
    """The effective-data table as people read it (Compare and the report): a D_E, D_T or multiplier cell that is
    infinite, NaN or (D_T) negative reads "cannot be estimated", and a `why` column says why for that row (no
    column when every cell is a number; by row in `attrs["reasons"]` too). The numbers `effective_data` computed
    are unchanged for the code that reads them."""
    from training.analysis.units import CANNOT_ESTIMATE

    law = transfer.attrs.get("law")
    out = transfer.copy().astype({c: object for c in transfer.columns if c.startswith(("d_", "multiplier"))})
    reasons = []
    for i, r in transfer.iterrows():
        why, cannot = [], {c for c in ("d_e_low", "d_e_high") if not math.isfinite(r[c])}
        if not math.isfinite(r["d_e"]):
            floor = f" (L∞ = {law.l_inf:.3f})" if law is not None else ""
            why.append(f"D_E, D_T and D_E / N: its loss {r['loss']:.3f} is at or below the floor of scratch's fitted data "
                       f"curve{floor}, which never reaches it, and these scratch sizes cannot say how much data would")
            cannot |= {"d_e", "d_t"}
        else:
            if r["d_t"] < 0:
                why.append(f"D_T: scratch reached this loss with fewer examples (D_E {r['d_e']:,.0f} < N "
                           f"{int(r['n_train']):,}), so the pretrained start saved no data here")
                cannot.add("d_t")
            bounds = [c for c in ("d_e_low", "d_e_high") if c in cannot]
            if bounds and all(math.isnan(r[c]) for c in bounds):
                why.append("D_E's 95% interval: no bootstrap refit of scratch's curve succeeded")
            elif bounds:
                why.append(f"D_E 95% {' and '.join(c.removeprefix('d_e_') for c in bounds)}: some bootstrap refits of "
                           "scratch's curve never reach this loss, so the interval has no end there")
        for c in cannot | {c.replace("d_e", "multiplier") for c in cannot if c.startswith("d_e")}:
            out.at[i, c] = CANNOT_ESTIMATE
        reasons.append("; ".join(why))
    if any(reasons):
        out["why"] = reasons
    out.attrs["reasons"] = dict(zip(out.index, reasons, strict=True))
    return out


def has_pretrained(config: dict) -> bool:
    """Whether an experiment ran a strategy that starts from pretrained weights: without one (a table's scratch alone)
    there is nothing transferred to measure, and Compare and the report leave the section out."""
    return any(str(s.get("name", "")).split("×")[0] != "scratch" for s in config.get("strategies") or [])
