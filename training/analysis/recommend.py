"""The recommendation in words: one sentence per training-set size, rendered from the decision table
(`training.analysis.decision`) — what to use, by the one rule, with the numbers of the table's cells: each mean and
its 95% interval, the interval of each difference to the best, cost and forgetting. Nothing here decides."""
from __future__ import annotations

import math

from training.analysis.decision import REFERENCE_PREFIX, Cell, DecisionTable, SizeDecision, cost_key
from training.analysis.units import human_flops, human_seconds, plain_name, probe_skill, short_name


def fmt(x: float) -> str:
    """A metric value as every sentence prints it (a cell of the table, rounded; never "-0.000")."""
    text = f"{x:.3f}" if abs(x) < 100 else f"{x:,.1f}"
    return text[1:] if text.startswith("-") and not any(ch in "123456789" for ch in text) else text


def fmt_diff(x: float, kind: str) -> str:
    """A difference in the margin's units: points of the metric (absolute) or a percentage (relative)."""
    if kind == "absolute":
        return f"{x:+.3f}"
    return f"{x:+.1%}" if abs(x) < 10 else f"{x:+,.0%}"  # −60,798%: a perplexity 600× the best's


def margin_size(d: DecisionTable) -> str:
    """The margin as set, unrounded: "0.01" (a proportion's points) or "1.5%" (relative)."""
    return f"{d.margin:g}" if d.margin_kind == "absolute" else f"{d.margin * 100:g}%"


def margin_words(d: DecisionTable) -> str:
    return f"±{margin_size(d)} {d.metric}" if d.margin_kind == "absolute" else f"±{margin_size(d)} of the best's {d.metric}"


def code_name(strategy: str) -> str:
    """`full` → "full"; a reference as "the classical NAME" (the verdict's and the checks' short form)."""
    return name(strategy) if strategy.startswith(REFERENCE_PREFIX) else strategy


def name(strategy: str) -> str:
    """`full` → "full fine-tuning (`full`)"; a reference by its name."""
    if strategy.startswith(REFERENCE_PREFIX):
        return f"the classical {strategy.removeprefix(REFERENCE_PREFIX)}"
    return f"{plain_name(strategy)} (`{strategy}`)"


def interval(c: Cell) -> str:
    """"95% CI a–b, k seeds" — or how an interval was had with one seed, or that there is none."""
    k = f"{c.seeds} seed{'s' if c.seeds != 1 else ''}"
    if math.isnan(c.low) or math.isnan(c.high):
        return f"{k}, no interval"
    where = "" if c.seeds >= 2 else " over the eval set's examples"
    return f"95% CI {fmt(c.low)}–{fmt(c.high)}{where}, {k}"


def versus(c: Cell, d: DecisionTable) -> str:
    """The difference to the best with its interval: "−0.012, 95% CI −0.020 to −0.004" — positive is better, which for
    an error or a perplexity (lower is better) is said, or "+35.9%" on a lower RMSE reads as worse."""
    if c.vs_best is None:
        return "no interval of the difference"
    v = c.vs_best
    sign = "" if d.higher_is_better else f" (+ is better: a lower {d.metric})"
    return (f"{fmt_diff(v.mean, d.margin_kind)}{sign}, simultaneous 95% CI {fmt_diff(v.low, d.margin_kind)} to "
            f"{fmt_diff(v.high, d.margin_kind)}")


def _list(cells: list[Cell], d: DecisionTable) -> str:
    return "; ".join(f"{name(c.strategy)} {fmt(c.mean)} ({versus(c, d)})" for c in cells)


def label(c: Cell) -> str:
    """A cell's short name for a headline: "LoRA", "the classical gradient-boosted trees"."""
    return name(c.strategy) if c.kind == "reference" else short_name(c.strategy)


def saving(pick: Cell, best: Cell) -> str:
    """What the pick saves against the best, in the units both have: seconds of CPU for a classical model, the share
    of the best's training compute for a network."""
    if pick.kind == "reference":
        return "fits in seconds of CPU" if best.kind == "strategy" else "is cheaper to fit"
    ratio = pick.flops / best.flops if best.flops and math.isfinite(best.flops) and math.isfinite(pick.flops) else math.nan
    return (f"trains for {ratio:.1%} of {label(best)}'s compute" if math.isfinite(ratio)
            else "is cheaper to train")


def headline(s: SizeDecision, margin: float = 0.01, margin_kind: str = "absolute") -> str:
    """What to use at this size in a line (bold on the page): "use X", or — where the pick cannot be told apart from
    the best — both named, that they cannot be told apart at this precision, and what the cheaper one saves."""
    n = f"N={s.n_train:,}"
    pick = s.cell(s.recommended) if s.recommended else None
    if pick is None:
        return f"{n}: no recommendation"
    best = s.cell(s.best) if s.best else None
    cheaper = [c for c in cheaper_undecided(s) if c is not pick]
    m = f"{margin:g}" if margin_kind == "absolute" else f"{margin * 100:g}%"
    either = "either" if s.why == "cheapest undecided" else "at this precision"
    also = "; ".join(f"the cheaper {label(c).removeprefix('the ')} cannot be told apart {either}, but "
                     + (f"scores {fmt_diff(c.vs_best.mean, margin_kind)} on the mean (outside ±{m})"
                        if c.vs_best is not None else "has no interval of its difference") for c in cheaper)
    if s.why == "cheapest undecided" and best is not None:
        return (f"{n}: {label(best)} or {label(pick)} — cannot be told apart at this precision; {label(pick)} "
                f"{saving(pick, best)}" + (f"; {also}" if also else ""))
    if s.why == "cheapest within the margin" and best is not None:
        return (f"{n}: use {name(pick.strategy)} — {fmt_diff(pick.vs_best.mean, margin_kind)} from {label(best)} on "
                f"the mean, clearly below but within the ±{m} margin; it {saving(pick, best)}"
                + (f"; {also}" if also else ""))
    if also:
        return f"{n}: use {name(pick.strategy)} — {also}"
    return f"{n}: use {name(pick.strategy)}"


def cheaper_undecided(s: SizeDecision) -> list[Cell]:
    """The undecided candidates cheaper than the pick (left out of the pick because their mean lies further below the
    best than the margin): the headline names them."""
    pick = s.cell(s.recommended) if s.recommended else None
    if pick is None:
        return []
    return [s.cell(x) for x in s.undecided if cost_key(s.cell(x)) < cost_key(pick)]


def size_sentence(s: SizeDecision, d: DecisionTable) -> str:
    """The recommendation at one size, every number a cell of `s`."""
    n = f"N={s.n_train:,}"
    pick = s.cell(s.recommended) if s.recommended else None
    best = s.cell(s.best) if s.best else None
    failed = [s.cell(x) for x in s.failed]
    if pick is None:
        why = ("every network at this size failed the fairness checks above" if failed else "no run has finished here")
        return f"**{n}:** no recommendation — {why}, and no classical reference is clearly above the trivial baseline."
    parts = [f"**{headline(s, d.margin, d.margin_kind)}** — {d.metric} {fmt(pick.mean)} ({interval(pick)})"
             + (", for seconds of CPU." if pick.kind == "reference" else ".")]
    if s.why == "reference above trivial":
        trivial = next((c for c in s.cells if c.relation == "trivial baseline"), None)
        parts.append(" Every network at this size failed the fairness checks above ("
                     + ", ".join(f"`{c.strategy}`" for c in failed) + ")"
                     + (f"; it is clearly better than the {trivial.strategy.removeprefix(REFERENCE_PREFIX)} "
                        f"({fmt(trivial.mean)})." if trivial is not None else "."))
    elif pick is not best and best is not None:
        said = (f"as good by the rule — difference {versus(pick, d)}, not below −{margin_size(d)}"
                if pick.relation == "as good" else
                f"not told apart from it at this precision — difference {versus(pick, d)}, reaching below "
                f"−{margin_size(d)}" if pick.relation == "undecided" else
                f"clearly below it, by less than the margin on the mean — difference {versus(pick, d)}")
        parts.append(f" The best, {name(best.strategy)}, scores {fmt(best.mean)}; {label(pick)} is {said}.")
    others = [s.cell(x) for x in s.as_good if x != pick.strategy]
    if others:
        parts.append(f" Also as good: {_list(others, d)}.")
    undecided = [s.cell(x) for x in s.undecided if x != pick.strategy]
    if undecided:
        parts.append(f" Undecided (the interval of the difference to the best is too wide to tell): {_list(undecided, d)}.")
    below = [s.cell(x) for x in s.below]
    if below:
        parts.append(f" Below the best: {_list(below, d)}.")
    if failed and best is not None:
        parts.append(" Left out (a fairness check failed): " + ", ".join(f"`{c.strategy}`" for c in failed) + ".")
    if pick.kind == "strategy":
        cost = [x for x in (human_seconds(pick.wall_s) + " of training per run" if math.isfinite(pick.wall_s) else None,
                            human_flops(pick.flops) if math.isfinite(pick.flops) else None) if x]
        if cost:
            parts.append(f" Cost: {', '.join(cost)}.")
        fg = pick.forgetting
        if math.isfinite(fg) and not pick.strategy.startswith("scratch"):  # scratch never had the skill to forget
            skill = probe_skill(d.probe)
            parts.append(f" Forgetting: the base model's {skill} score drops by {fmt(fg)}." if round(fg, 3) > 0
                         else f" Forgetting: none measured in the base model's {skill} score"
                         + (f" (it is {fmt(-fg)} better)." if round(fg, 3) < 0 else " (unchanged)."))
    parts.append(" " + how_sure(s, pick, d.planned_seeds))
    return "".join(parts)


def how_sure(s: SizeDecision, pick: Cell, planned_seeds: int | None = None) -> str:
    nets = [c.seeds for c in s.cells if c.kind == "strategy" and c.status == "ok"]
    seeds = max(nets) if nets else pick.seeds
    more = (f"the other {planned_seeds - seeds} seed{'s' if planned_seeds - seeds != 1 else ''} will tell"
            if planned_seeds and planned_seeds > seeds else "more seeds or eval examples would decide (the preflight "
            "says how many)")
    basis = (f"{seeds} seeds" if seeds >= 2 else "1 seed (its seed-to-seed spread assumed, not measured)")
    if s.why == "reference above trivial":
        return "How sure: every network failed here; the reference's interval is its eval set's sampling noise."
    if s.undecided:
        who = ", ".join(label(s.cell(x)) for x in s.undecided)
        return (f"How sure: not yet — {who} cannot be told apart from the best at {basis}, 95% over this size's "
                f"comparisons together; {more}.")
    if s.as_good:
        return f"How sure: tied with the others named as good at {basis} — chosen as the cheapest of them."
    if len([c for c in s.cells if c.relation in ("best", "as good", "undecided", "below the best")]) == 1:
        return (f"How sure: {basis}, but it is the only candidate "
                + ("that passed the checks" if s.failed else "finished") + " at this size.")
    return f"How sure: clearly ahead of every other candidate at {basis}."


def render(d: DecisionTable) -> DecisionTable:
    """Fill in every size's sentence."""
    for s in d.sizes:
        s.headline = headline(s, d.margin, d.margin_kind)
        s.sentence = size_sentence(s, d)
    return d


def rule(d: DecisionTable) -> str:
    """The rule in one paragraph, with this experiment's margin."""
    return (f"How this is chosen: the candidates are the strategies whose runs passed the fairness checks and the "
            f"classical references; the best is the highest eval {d.metric}. Each difference to it counts the seeds' "
            "noise and the eval set's together (with one seed a typical seed spread is assumed), at a level that holds "
            "for every pair of a size's candidates at once (95%). A candidate is as good as the best when the low end "
            f"of its difference's interval lies above −{margin_size(d)}, below it when the interval lies below zero, "
            "and undecided otherwise. The cheapest of the best, the as-good and the undecided whose mean lies "
            "within the margin is recommended — a classical model before any network, networks by training compute; "
            "where it is undecided, the headline says they cannot be told apart at this precision.")
