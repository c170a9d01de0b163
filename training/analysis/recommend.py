"""The recommendation in words: one sentence per training-set size, rendered from the decision table
(`training.analysis.decision`) — what to use, by the one rule, with the numbers of the table's cells: each mean and
its 95% interval, the interval of each difference to the best, cost and forgetting. Nothing here decides."""
from __future__ import annotations

import math

from training.analysis.decision import REFERENCE_PREFIX, Cell, DecisionTable, SizeDecision
from training.analysis.units import human_flops, human_seconds, plain_name, probe_skill


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
    return (f"{fmt_diff(v.mean, d.margin_kind)}{sign}, 95% CI {fmt_diff(v.low, d.margin_kind)} to "
            f"{fmt_diff(v.high, d.margin_kind)}")


def _list(cells: list[Cell], d: DecisionTable) -> str:
    return "; ".join(f"{name(c.strategy)} {fmt(c.mean)} ({versus(c, d)})" for c in cells)


def size_sentence(s: SizeDecision, d: DecisionTable) -> str:
    """The recommendation at one size, every number a cell of `s`."""
    n = f"N={s.n_train:,}"
    pick = s.cell(s.recommended) if s.recommended else None
    best = s.cell(s.best) if s.best else None
    failed = [s.cell(x) for x in s.failed]
    if pick is None:
        why = ("every network at this size failed the fairness checks above" if failed else "no run has finished here")
        return f"**{n}:** no recommendation — {why}, and no classical reference is clearly above the trivial baseline."
    parts = []
    if pick.kind == "reference":
        parts.append(f"**{n}: use {name(pick.strategy)}** — {d.metric} {fmt(pick.mean)} ({interval(pick)}), for seconds "
                     "of CPU.")
        if best is not None:
            parts.append(f" It is as good as or better than the best network, {name(best.strategy)} at {fmt(best.mean)}: "
                         f"its difference is {versus(pick, d)}, not below −{margin_size(d)}.")
        else:
            trivial = next((c for c in s.cells if c.relation == "trivial baseline"), None)
            parts.append(" Every network at this size failed the fairness checks above ("
                         + ", ".join(f"`{c.strategy}`" for c in failed) + ")"
                         + (f"; it is clearly better than the {trivial.strategy.removeprefix(REFERENCE_PREFIX)} "
                            f"({fmt(trivial.mean)})." if trivial is not None else "."))
    else:
        parts.append(f"**{n}: use {name(pick.strategy)}** — {d.metric} {fmt(pick.mean)} ({interval(pick)}).")
        if pick is not best:
            ratio = pick.flops / best.flops if best.flops and math.isfinite(best.flops) else math.nan
            parts.append(f" The best, {name(best.strategy)}, scores {fmt(best.mean)}; {plain_name(pick.strategy)} is as "
                         f"good by the rule — difference {versus(pick, d)}, inside {margin_words(d)}"
                         + (f" — for {ratio:.1%} of its training compute." if math.isfinite(ratio) else "."))
        others = [s.cell(x) for x in s.as_good if x != pick.strategy]
        if others:
            parts.append(f" Also as good: {_list(others, d)}.")
    undecided = [s.cell(x) for x in s.undecided]
    if undecided:
        parts.append(f" Undecided (the interval of the difference to the best is too wide to tell): {_list(undecided, d)}.")
    below = [s.cell(x) for x in s.below]
    if below:
        parts.append(f" Below the best: {_list(below, d)}.")
    classical = [c for c in s.cells if c.kind == "reference" and c is not pick and c.relation != "trivial baseline"
                 and c.vs_best is not None]
    if classical and best is not None:
        parts.append(" Classical reference" + ("s" if len(classical) > 1 else "") + ": "
                     + "; ".join(f"{c.strategy.removeprefix(REFERENCE_PREFIX)} {fmt(c.mean)} ({c.relation}: "
                                 f"{versus(c, d)})" for c in classical) + ".")
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
    seeds = pick.seeds
    more = (f"the other {planned_seeds - seeds} seed{'s' if planned_seeds - seeds != 1 else ''} will tell"
            if planned_seeds and planned_seeds > seeds else "add seeds to decide")
    basis = f"{seeds} seeds" if seeds >= 2 else "1 seed (intervals from the eval set's examples, not from seeds)"
    if pick.kind == "reference":
        nets = [c.seeds for c in s.cells if c.kind == "strategy" and c.status == "ok"]
        k = max(nets) if nets else 0
        return ((f"How sure: the networks ran {k} seed{'s' if k != 1 else ''}; the reference's own interval is its eval "
                 "set's sampling noise.") if nets else
                "How sure: every network failed here; the reference's interval is its eval set's sampling noise.")
    refs = [c.strategy.removeprefix(REFERENCE_PREFIX) for c in s.cells if c.kind == "reference" and c.relation == "undecided"]
    if s.undecided or refs:
        who = ([f"{len(s.undecided)} strateg{'y' if len(s.undecided) == 1 else 'ies'}"] if s.undecided else []) + refs
        return (f"How sure: not yet — {' and '.join(who)} cannot be told apart from the best at {basis}; {more}.")
    if s.as_good:
        return f"How sure: tied with the others named as good at {basis} — chosen as the cheapest of them."
    if len([c for c in s.cells if c.kind == "strategy" and c.status == "ok"]) == 1:
        return (f"How sure: {basis}, but it is the only strategy "
                + ("that passed the checks" if s.failed else "finished") + " at this size.")
    return f"How sure: clearly ahead of every other strategy at {basis}."


def render(d: DecisionTable) -> DecisionTable:
    """Fill in every size's sentence."""
    for s in d.sizes:
        s.sentence = size_sentence(s, d)
    return d


def rule(d: DecisionTable) -> str:
    """The rule in one paragraph, with this experiment's margin."""
    return (f"How this is chosen: among the strategies whose runs passed the fairness checks, the best by the eval "
            f"{d.metric}; a strategy is as good as the best when the 95% interval of its difference to the best lies "
            f"inside {margin_words(d)} (paired by seed, or over the eval set's examples with one seed); the cheapest of "
            "the best and the as-good in training compute is recommended. One whose interval is too wide to tell is "
            "undecided and never picked. A classical reference is recommended instead when its difference to the "
            "best network is not below the margin (or, where every network failed, when it is clearly above the "
            "trivial baseline).")
