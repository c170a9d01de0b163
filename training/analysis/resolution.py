"""Before launch: the smallest difference between two strategies this design can resolve, against the margin.

The decision rule (decision.py) calls a candidate "as good as the best" only when the interval of its difference to
the best lies above −margin, so a design whose interval is wider than the margin can never decide. This module
predicts that half-width from the plan alone and names the cheapest changes that would bring it under the margin.

The model (one pair of strategies, compared on the same eval set, their means over k seeds):

    half_width = q · sqrt(eval_variance / n + 2 · seed_spread² / k)

where q is the t quantile of the decision's level at one size (`decision.comparison_level`: 95% over every pair of the
size's candidates — the strategies and the classical references — together; 1.96 for two and one seed) at the
Welch–Satterthwaite degrees of freedom of the seed term as the decision pools it (`decision.PRIOR_DOF`).

- **Eval noise**, from the n eval examples both strategies are scored on. For a proportion (accuracy, macro-F1) the
  paired difference of two models is the mean of per-example (a − b) ∈ {−1, 0, +1}; its variance is the share of
  examples on which they disagree, so `eval_variance` = DISAGREEMENT. For a continuous metric (RMSE, MAE, perplexity,
  loss; margins relative) `eval_variance` = EXAMPLE_SPREAD², the relative spread of one example's paired difference.
  The eval set is the same for every seed, so more seeds do not shrink this term.
- **Seed noise**: each strategy's mean over k seeds moves by seed_spread/√k (SEED_SPREAD), and a difference has two.
  One seed is one draw of it too, which the one-seed bootstrap does not count — this planner does.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from training.analysis.decision import PRIOR_DOF, check_margin, comparison_level, default_margin
from training.analysis.stats import PROPORTIONS, SEED_SPREAD, t_ppf

DISAGREEMENT = 0.2
"""Assumed share of eval examples on which two strategies' answers differ (one right, one wrong). The lower end of the
20–30% typical of two fine-tuned models; the issue-40 sentiment CSV (600 eval examples, LoRA 0.817 vs head 0.807,
paired bootstrap −0.037 to +0.018) implies about 12%, so this errs on the cautious side."""
EXAMPLE_SPREAD = 0.6
"""Continuous metrics: the standard deviation of one eval example's paired difference, relative to the metric. For
RMSE with Gaussian errors correlated ρ between two models it is √(1 − ρ²); ρ = 0.8 gives 0.6."""
MAX_SEEDS = 10
"""The most seeds a suggestion asks for: beyond it each extra seed buys little and repeats every run again."""
MAX_EVAL_FRACTION = 0.5
"""The largest share of a file a suggestion holds out for eval (the rest trains)."""


def half_width(eval_examples: int, seeds: int, metric: str, disagreement: float = DISAGREEMENT,
               seed_spread: float | None = None, example_spread: float = EXAMPLE_SPREAD, candidates: int = 2) -> float:
    """The half-width of the paired difference of two strategies as the decision computes it (module docstring): the
    eval and seed variances added, at the t quantile of the size's level (`decision.comparison_level`) with the
    Welch–Satterthwaite degrees of freedom of a seed spread measured on k seeds and pooled with the assumed one
    (`decision.PRIOR_DOF`; one seed: the assumed spread, a normal quantile). In the metric's units for a proportion, as
    a fraction of the metric for the rest."""
    eval_var, seed_sd = _variances(metric, disagreement, seed_spread, example_spread)
    e, v = eval_var / max(1, eval_examples), 2 * seed_sd ** 2 / max(1, seeds)
    dof = math.inf if seeds < 2 or v == 0 else (e + v) ** 2 / (v ** 2 / (seeds - 1 + PRIOR_DOF))
    return t_ppf(1 - (1 - comparison_level(candidates)) / 2, dof) * math.sqrt(e + v)


def _variances(metric, disagreement, seed_spread, example_spread) -> tuple[float, float]:
    proportion = metric in PROPORTIONS
    eval_var = disagreement if proportion else example_spread ** 2
    seed_sd = SEED_SPREAD["proportion" if proportion else "relative"] if seed_spread is None else seed_spread
    return eval_var, seed_sd


def eval_needed(seeds: int, margin: float, metric: str, limit: int = 10_000_000, **spreads) -> int | None:
    """The fewest eval examples that bring the half-width to the margin at `seeds` seeds (a search: the quantile moves
    with the degrees of freedom); None where no number up to `limit` can (the seed noise alone is wider)."""
    if half_width(limit, seeds, metric, **spreads) > margin:
        return None
    low, high = 1, limit
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if half_width(mid, seeds, metric, **spreads) > margin else (low, mid)
    return low


@dataclass(frozen=True)
class Suggestion:
    """One change that lets the design decide: the config overrides (`--set` values) or the flag, and in words."""
    words: str
    half_width: float
    set: list[str] = field(default_factory=list)
    """Config overrides, as `python -m training plan/enqueue --set` takes them."""
    flag: str | None = None
    """For the margin: the flag of `recommend` (Compare's sidebar holds the same)."""
    eval_examples: int | None = None
    seeds: int | None = None
    margin: float | None = None


@dataclass(frozen=True)
class Resolution:
    metric: str
    eval_examples: int
    seeds: int
    half_width: float
    margin: float
    margin_kind: str
    """`absolute` (the metric's units) or `relative` (a fraction of the best's value), as decision.MARGINS says."""
    eval_available: int
    """The most eval examples the data can give (the current number where they are a test set of one's own)."""
    suggestions: list[Suggestion]
    assumptions: str
    candidates: int = 2
    """The candidates compared at each size (strategies and classical references): the level is 95% over their pairs."""

    @property
    def can_decide(self) -> bool:
        return self.half_width <= self.margin

    def to_dict(self) -> dict:
        out = asdict(self)
        out["can_decide"] = self.can_decide
        return out


def eval_available(data_info: dict, fraction: float = MAX_EVAL_FRACTION, keep_train: int = 0) -> int:
    """The most eval examples a plan's data can hold out: a test set of one's own is what it is; a split of the file
    may take up to `fraction` of its rows while `keep_train` rows still train."""
    rows, now = int(data_info.get("rows", 0)), int(data_info.get("eval_rows", 0))
    if data_info.get("eval_source") or not rows:
        return now
    return max(now, min(int(rows * fraction), rows - keep_train))


def _eval_change(n: int, data_info: dict, data_config: dict) -> list[str]:
    """The overrides that make the split hold out `n` eval examples: eval_max, and eval_fraction where it is too small."""
    out = [f"data.eval_max={n}"]
    rows = int(data_info.get("rows", 0))
    if rows and round(rows * data_config.get("eval_fraction", 0.2)) < n:
        out.append(f"data.eval_fraction={math.ceil(100 * n / rows) / 100:g}")
    return out


def _seeds_change(k: int, seeds: list[int]) -> str:
    more = list(seeds)
    candidate = 0
    while len(more) < k:
        if candidate not in more:
            more.append(candidate)
        candidate += 1
    return "seeds=[" + ",".join(map(str, more)) + "]"


def resolution(metric: str, data_info: dict, config: dict, margin: float | None = None,
               disagreement: float = DISAGREEMENT, seed_spread: float | None = None,
               classical: int = 1) -> Resolution:
    """What this design can resolve, from the plan's data (`info["data"]`: eval_rows, rows, eval_source) and its config
    (a `to_dict()`: seeds, sizes, data), against `margin` (decision.py's default for the metric where None). The
    suggestions: the fewest seeds that decide with the eval examples the data can give (more eval examples only where
    the file has them), seeds alone where that differs, and the margin this design can decide at."""
    m_default, kind = default_margin(metric)
    margin = m_default if margin is None else check_margin(margin, metric)
    candidates = max(2, len(config.get("strategies", [])) + (classical if config.get("references", True) else 0))
    spreads = {"disagreement": disagreement, "seed_spread": seed_spread, "candidates": candidates}
    n, seeds = int(data_info.get("eval_rows", 0)), list(config["seeds"])
    k = len(seeds)
    largest = max([int(s) for s in config.get("sizes", []) if s != "all"] or [0])
    available = eval_available(data_info, keep_train=largest)
    hw = half_width(n, k, metric, **spreads)
    suggestions: list[Suggestion] = []
    if hw > margin:
        for more in range(k, MAX_SEEDS + 1):
            need = eval_needed(more, margin, metric, **spreads)
            if need is not None and need <= max(n, available):
                changes, words = [], []
                if more > k:
                    changes.append(_seeds_change(more, seeds))
                    words.append(f"{more} seeds")
                if need > n:
                    changes += _eval_change(need, data_info, config.get("data", {}))
                    words.append(f"{need:,} eval examples")
                use = max(n, need)
                suggestions.append(Suggestion(" and ".join(words), half_width(use, more, metric, **spreads), changes,
                                              eval_examples=use, seeds=more))
                break
        alone = next((s for s in range(k + 1, MAX_SEEDS + 1) if half_width(n, s, metric, **spreads) <= margin), None)
        if alone is not None and (not suggestions or suggestions[0].seeds != alone):
            suggestions.append(Suggestion(f"{alone} seeds", half_width(n, alone, metric, **spreads),
                                          [_seeds_change(alone, seeds)], eval_examples=n, seeds=alone))
        wider = math.ceil(hw * 1000) / 1000
        if wider < 1:
            suggestions.append(Suggestion(f"a margin of {_amount(wider, kind)}", hw, flag=f"--margin {wider:g}",
                                          margin=wider))
    assumptions = (f"assumes two strategies disagree on {disagreement:.0%} of eval examples"
                   if metric in PROPORTIONS else
                   f"assumes one example's paired difference spreads {EXAMPLE_SPREAD:.0%} of the metric")
    seed_sd = _variances(metric, disagreement, seed_spread, EXAMPLE_SPREAD)[1]
    assumptions += (f" and one strategy's seeds differ by {seed_sd:g}" if kind == "absolute" else
                    f" and one strategy's seeds differ by {seed_sd:.1%}") + ", as on the gallery records"
    assumptions += (f"; 95% over the {candidates} candidates' comparisons at a size together" if candidates > 2 else "")
    return Resolution(metric, n, k, hw, margin, kind, available, suggestions, assumptions, candidates)


def _amount(x: float, kind: str) -> str:
    """±x to three decimals, rounded up (a half-width shown smaller than it is would claim too much)."""
    x = math.ceil(round(x * 1000, 6)) / 1000
    return f"±{x:g}" if kind == "absolute" else f"±{x:.1%}"


def resolution_sentence(r: Resolution) -> str:
    """The preflight's sentence: "With 600 eval examples and 1 seed, differences under ±0.045 cannot be told apart;
    your margin is ±0.01 — 8 seeds and 4,000 eval examples would decide (or a margin of ±0.045)." """
    design = (f"With {r.eval_examples:,} eval example{'s' if r.eval_examples != 1 else ''} and {r.seeds} "
              f"seed{'s' if r.seeds != 1 else ''}")
    width, margin = _amount(r.half_width, r.margin_kind), _amount(r.margin, r.margin_kind)
    if r.can_decide:
        return (f"{design}, differences of {width} can be told apart, inside your margin of {margin}: this design "
                f"can decide ({r.assumptions}).")
    design_changes = [s.words for s in r.suggestions if s.margin is None]
    margin_change = next((s.words for s in r.suggestions if s.margin is not None), None)
    text = f"{design}, differences under {width} cannot be told apart; your margin is {margin}"
    if design_changes:
        text += f" — {' or '.join(design_changes)} would decide" + (f" (or {margin_change})" if margin_change else "")
    else:
        text += (f" — no design up to {MAX_SEEDS} seeds with the eval examples this data holds "
                 f"({r.eval_available:,}) would decide" + (f"; {margin_change} would" if margin_change else ""))
    return text + f" ({r.assumptions})."
