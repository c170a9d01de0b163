"""The learning-rate search: which rates each strategy tries, where they are compared, which one wins, and how
a finished search is keyed and reused.

The search is successive halving with one rung (the idea of Hyperband/ASHA, Li et al. 2018): every candidate rate
starts the very run the grid needs at the search's size and seed — the same subset, schedule and evaluation steps —
and trains it to the *rung* (a share of its steps, placed as late as `lr_sweep.budget` allows, each strategy's losers
at the same cost). There the candidates are compared by the best validation value of the task's primary metric each
has reached (the metric the verdict uses; validation loss breaks ties), the others stop, and the winner's run
*becomes* that grid run: the grid run continues it from its checkpoint at the rung instead of training it again. A
rate whose training loss turns NaN or climbs well above where it started stops at once (`diverged`). The eval set is
never looked at.

A search is identified by everything that decides its outcome — task, data, model, strategy and options,
batch and optimizer settings, the search size, steps, seed and candidate rates — hashed into a key (the rung
is not: it follows the grid's size, and a search finished at another rung still chose on this data). A
finished search is kept in the store (`Store.save_lr_search`) and reused by later experiments with the
same key; the built-in presets' searches ship with the app (`lr_search_stored.json`, written by
`bench/store_lr_search.py`), so the quick demo needs no search runs of its own.
Imports no torch.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.config import ExperimentConfig, StrategyConfig
from training.errors import HeadStartError
from training.service.records import Role
from training.service.store import Store
from training.tasks import task_kind

STORED = Path(__file__).with_name("lr_search_stored.json")
"""Searches that ship with the app (the built-in presets' data and model), keyed like the store's."""


def candidates(cfg: ExperimentConfig, sc: StrategyConfig, default_lr: float) -> list[float]:
    """The learning rates the search tries for a strategy, rounded to 3 significant digits."""
    sw = cfg.lr_sweep
    raw = sw.lrs.get(sc.name) or [default_lr * f for f in sw.factors]
    return sorted({float(f"{lr:.3g}") for lr in raw})


RUNG_MIN = 0.2
"""The earliest rung, as a share of the policy's steps at the search size: past the warmup (10% by default), so the
rates are compared where each has trained at its own peak for a while."""
RUNG_MIN_PLATEAU = 1.0
"""The earliest rung of a strategy trained until a plateau (scratch, own): its whole policy budget. From random weights
it learns last — on a sentiment CSV scratch's three rates were all at chance after 29 steps (0.3 of the policy's) and
one was 0.712 after 94 (1×; issue 38) — and it then trains up to `budget.plateau_cap` × that, so the first comparison
belongs where its plateau rule starts to act, not where fine-tuning's does."""
CHEAP = 0.01
"""A search whose losers, trained to the horizon, cost at most this share of the grid's FLOPs compares at the horizon."""
RUNG_FACTOR = 3
"""Each later rung is this many times the one before (successive halving's η = 3), up to the search's horizon."""


def rungs(first: int, horizon: int) -> list[int]:
    """The search's rungs: the first, then ×RUNG_FACTOR each, the last at the horizon (the steps the winner trains: the
    policy's, or a plateau strategy's cap). A rung that cannot tell the rates apart sends them on to the next."""
    out = [first]
    while out[-1] < horizon:
        out.append(min(horizon, out[-1] * RUNG_FACTOR))
    return out


def search_size(cfg: ExperimentConfig, sizes: list[int], pool: int) -> int:
    """The search's training-set size: the largest grid size not above lr_sweep.size (`all`: the largest), else the
    smallest grid size — always a size of the grid, so the winning run can become that grid run."""
    sizes = sorted(min(n, pool) for n in sizes)
    if cfg.lr_sweep.size == "all":
        return sizes[-1]
    within = [n for n in sizes if n <= int(cfg.lr_sweep.size)]
    return within[-1] if within else sizes[0]


def search_seed(cfg: ExperimentConfig) -> int:
    """The search's seed: lr_sweep.seed, or the experiment's first seed."""
    return cfg.lr_sweep.seed if cfg.lr_sweep.seed is not None else cfg.seeds[0]


def rung_fractions(cfg: ExperimentConfig, grid_flops: float, losers: dict[str, float],
                   floors: dict[str, float] | None = None, caps: dict[str, float] | None = None) -> dict[str, float]:
    """Per search (by key), the share of the policy's steps at which its candidates are first compared. `losers`: per
    search, the training FLOPs its candidates the grid does not keep would spend per unit of that share. The budget
    (`lr_sweep.budget` × the grid's FLOPs) is filled like water: every search's losers get the same compute, a search
    capped at the steps its winner trains (`caps`, as a share of the policy's: 1, or a plateau strategy's
    `budget.plateau_cap` — a cheap strategy such as head or own compares after all of them) and floored at its `floors`
    share (default RUNG_MIN; RUNG_MIN_PLATEAU for a strategy trained until a plateau) — so the rung is as late as the
    budget allows, for each strategy at the same cost, and never earlier than the floor even where the floors alone
    spend more than the budget (the plan's `cost` then says so)."""
    if cfg.lr_sweep.rung is not None:
        return dict.fromkeys(losers, cfg.lr_sweep.rung)
    floors, caps = floors or {}, caps or {}
    # A search whose losers cost almost nothing even at its horizon (head on cached features, own's bag of words)
    # compares there, whatever the others' floors have spent: a short horizon favours the fastest starter, not the best.
    cheap = {k for k, c in losers.items() if c * caps.get(k, 1.0) <= CHEAP * grid_flops}
    costs = {k: c for k, c in losers.items() if c > 0 and k not in cheap}
    budget = cfg.lr_sweep.budget * grid_flops

    def share(t: float, k: str) -> float:
        floor = floors.get(k, RUNG_MIN)
        return max(floor, min(caps.get(k, 1.0), t / costs[k]))

    def spend(t: float) -> float:
        return sum(share(t, k) * c for k, c in costs.items())

    lo, hi = 0.0, max((c * caps.get(k, 1.0) for k, c in costs.items()), default=0.0)
    if spend(hi) > budget:
        for _ in range(60):  # spend() grows with t: bisect for the compute per search that spends the budget
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if spend(mid) <= budget else (lo, mid)
    return {k: share(lo if spend(hi) > budget else hi, k) if k in costs else caps.get(k, 1.0) for k in losers}


def model_identity(cfg: ExperimentConfig, base_dir: Path | None) -> dict:
    """What identifies the base model: a built-in or hub name, a local directory's config, or the pretraining."""
    if cfg.pretrain is not None:
        return {"pretrain": _plain(cfg.pretrain)}
    base = cfg.model.base
    if base.startswith(("builtin:", "hf:")) or base_dir is None:
        return {"base": base}
    config = (Path(base_dir) / "config.json").read_bytes() if (Path(base_dir) / "config.json").is_file() else b""
    return {"base": str(Path(base).expanduser().resolve()), "config_sha": hashlib.sha256(config).hexdigest()[:16]}


def data_identity(cfg: ExperimentConfig, source_fingerprint: str) -> dict:
    """Built-ins by name (their text is fixed by the installed packages), anything else by content."""
    if cfg.data.source.startswith("builtin:"):
        return {"source": cfg.data.source}
    return {"fingerprint": source_fingerprint}


def search_spec(cfg: ExperimentConfig, sc: StrategyConfig, *, data: dict, model: dict, size: int, steps: int,
                rung: int, plateau: bool, lrs: list[float], options: list[dict] | None = None) -> dict:
    o = cfg.optim
    spec = {
        "task": cfg.task, "data": data, "model": model,
        "architecture": {"max_length": cfg.model.max_length, "pooling": cfg.model.pooling, "dropout": cfg.model.dropout,
                         "init": cfg.model.init if sc.name in ("scratch", "own") else None},
        "strategy": sc.name, "options": sc.options, "weight_decay": sc.weight_decay,
        "batch_size": cfg.train.batch_size,
        "optim": {"name": o.name, "weight_decay": o.weight_decay, "momentum": o.momentum, "betas": list(o.betas),
                  "warmup_fraction": o.warmup_fraction, "schedule": o.schedule, "grad_clip": o.grad_clip},
        "size": size, "steps": steps, "rung": rung, "seed": search_seed(cfg), "lrs": lrs,
        "plateau": {"patience": cfg.budget.patience, "cap": cfg.budget.plateau_cap} if plateau else None,
        "evals": cfg.train.evals_per_run, "eval_every": cfg.train.eval_every, "choose_by": "best validation metric by the rung",
    }
    if options and options != [{}]:  # the regularisation tried with each rate (own); absent otherwise, as keys were
        spec["options_grid"] = options
    return spec


def search_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]


def finished(tried: list[dict]) -> bool:
    """Every candidate has ended (done, failed or cancelled): only then is there a choice to speak of."""
    return bool(tried) and all(t["status"] in ("done", "failed", "cancelled") for t in tried)


def candidate_name(lr: float, options: dict | None = None) -> str:
    """A candidate as people read it: its rate, and the options the search tried with it (e.g. "0.003, dropout 0.3")."""
    return f"{lr:g}" + "".join(f", {k} {v:g}" for k, v in sorted((options or {}).items()))


def name_of(t: dict) -> str:
    return candidate_name(t["lr"], t.get("options"))


CLEAR_Z = 2.0
"""A reading is clearly above the trivial baseline when it lies more than this many standard errors of the validation
set above the majority class's share (√(p₀(1−p₀)/n))."""


@dataclass
class Judgement:
    """What the rule concludes at a rung: the winning candidate (None: no choice yet, or none reached the rung), each
    candidate's outcome in words (by `name_of`), the candidates to train on to the next rung where the rung could not
    decide, and why it could not."""
    chosen: dict | None
    why: dict[str, str]
    train_on: list[str] = field(default_factory=list)
    undecided: str = ""


def judge(tried: list[dict], higher_is_better: bool, proportion: bool = False, default: str | None = None,
          final: bool = True) -> Judgement:
    """THE rule of the search. Among the candidates that reached the current rung (done, not diverged; `rung`: the
    steps a candidate was sent to — the latest rung is the one judged, a candidate left behind at an earlier one keeps
    its words), the best validation value of the task's primary metric each reached by the rung (`val_metric`: what
    its best checkpoint would be) leads. Where the metric is a proportion (accuracy) of `val_n` validation examples,
    candidates within one standard error of the leader's reading (√(p(1−p)/n)) are tied with it — the validation set
    cannot tell them apart (LOG.md, 2026-12-02). A choice is never made by noise:
    - where the leader is not clearly above the trivial baseline (`val_trivial`, the validation set's majority share;
      by more than CLEAR_Z standard errors) every rate is still at chance, as scratch's three were after 29 steps on
      a sentiment CSV (2026-12-07): unless the rung is the search's last (`final`) they all train on to the next rung
      (`train_on`); at the last, the strategy's default (`default`, the centre of its grid) is kept;
    - where every candidate is tied with the leader (all clearly above chance, none better than the others by what
      the validation set can tell) the default is kept — any of them would do, and the default is no reading's luck.
    Otherwise the leader wins, and among rates tied with it the lower validation loss decides, then the smaller rate
    (the loss is a finer reading of the same examples); the default is taken wherever a kept choice has no default
    among the contenders (it diverged or failed). No choice while any candidate is still to end, or if none reached
    the rung. The best reading rather than the last: a run at a constant peak rate (scratch before its plateau) swings
    by ±0.1 in validation accuracy from one evaluation to the next (LOG.md, 2026-12-02)."""
    why = {name_of(t): _ended(t) for t in tried}
    if not finished(tried):
        return Judgement(None, why)

    def ok(t: dict) -> bool:
        values = (t.get("val_metric"), t.get("val_loss"))
        return t["status"] == "done" and not t.get("diverged") and all(v is not None and math.isfinite(v) for v in values)

    rung = max((t.get("rung") or 0 for t in tried), default=0)
    earlier = [t for t in tried if ok(t) and t.get("at_rung", True) and (t.get("rung") or 0) < rung]
    for t in earlier:
        why[name_of(t)] = f"behind at step {t.get('steps') or t.get('rung')}: not trained on"
    reached = [t for t in tried if ok(t) and t not in earlier]
    if not reached:
        return Judgement(None, why)
    sign = -1 if higher_is_better else 1
    leader = min(reached, key=lambda t: (sign * t["val_metric"], t["val_loss"], t["lr"]))
    tied, n, se, undecided = [leader], leader.get("val_n"), 0.0, ""
    if proportion and n:
        p = min(max(leader["val_metric"], 0.0), 1.0)
        se = math.sqrt(p * (1 - p) / n)
        tied = [t for t in reached if sign * (t["val_metric"] - leader["val_metric"]) <= se]
        trivial = leader.get("val_trivial")
        if trivial is not None and higher_is_better:
            floor = trivial + CLEAR_Z * math.sqrt(max(trivial * (1 - trivial), 1e-12) / n)
            if leader["val_metric"] <= floor:
                undecided = (f"no rate clearly above the majority class ({trivial:.3f}; the best read "
                             f"{leader['val_metric']:.3f}, within {CLEAR_Z:g} standard errors)")
                tied = reached
        if not undecided and len(tied) == len(reached) > 1:
            undecided = f"every rate within one standard error (±{se:.3f}) of the best"
    at = f"at step {rung}" if rung else "at the rung"
    chance = undecided.startswith("no rate clearly above")
    if chance and not final:
        for t in reached:
            why[name_of(t)] = f"undecided {at} ({undecided}): trains on"
        return Judgement(None, why, [name_of(t) for t in tied], undecided)
    kept = next((t for t in tied if name_of(t) == default), None) if undecided else None
    winner = kept or min(tied, key=lambda t: (t["val_loss"], t["lr"]))
    for t in reached:
        if t is winner and kept is not None:
            why[name_of(t)] = ("kept: the default — still undecided at the search's last rung" if chance else
                               "kept: the default — the validation set cannot tell the rates apart") + f" ({undecided})"
        elif t is winner:
            why[name_of(t)] = "won" + (f": {len(tied) - 1} tied (±{se:.3f}, one SE), lowest loss" if len(tied) > 1 else "")
        elif t in tied:
            why[name_of(t)] = f"tied (±{se:.3f}, one SE), higher loss" if not kept else f"undecided {at}: not the default"
        else:
            why[name_of(t)] = "behind the winner on validation"
    return Judgement(winner, why, [], undecided)


def choose(tried: list[dict], higher_is_better: bool, proportion: bool = False) -> float | None:
    """The rate the search chose at its last rung (`judge`), or None."""
    chosen = judge(tried, higher_is_better, proportion).chosen
    return None if chosen is None else chosen["lr"]


def is_proportion(metric: str) -> bool:
    """A metric that is a share of validation examples (its standard error is √(p(1−p)/n))."""
    return metric == "accuracy"


def rule(kind) -> dict:
    """The rule's arguments for a task kind: its metric's direction, and whether it is a proportion of examples."""
    return {"higher_is_better": kind.higher_is_better, "proportion": is_proportion(kind.metric)}


def _ended(t: dict) -> str:
    """How far a candidate trained and why it stopped, before any choice."""
    if t["status"] in ("failed", "cancelled"):
        return f"{t['status']}: {t.get('error') or 'no reason recorded'}"
    if t["status"] != "done":
        return f"{t['status']}: not at the rung yet"
    if t.get("diverged"):
        return "diverged: its training loss climbed or became NaN"
    return "reached the rung"


def reading(result: dict, metric: str) -> dict:
    """What the rule reads of one candidate's result: the best validation value of `metric` by the rung with the loss
    there (runs from before `best_val`: their last validation), how many validation examples that reading is of, the
    validation set's majority share, steps trained, whether it stopped at a rung (rather than ending its schedule) and
    whether it diverged."""
    best = result.get("best_val") or result.get("eval") or {}
    return {"val_metric": _finite(best.get(metric)), "val_loss": _finite(best.get("loss")),
            "val_n": result.get("validation_examples"), "val_trivial": _finite(result.get("validation_majority")),
            "steps": result.get("steps"), "at_rung": bool(result.get("at_rung", True)),
            "diverged": bool(result.get("diverged"))}


def _finite(v):
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def search_table(store: Store, exp_id: str, label: str) -> list[dict]:
    """The tried candidates of one strategy's search in an experiment: lr, the options tried with it, status, the
    rung it was sent to, the best validation value of the task's metric it reached (or where it stopped) with the
    validation loss there, steps trained and whether it diverged."""
    metric = task_kind(store.experiment_config(exp_id).task).metric
    search = store.experiment(exp_id).info.get("lr_search", {}).get(label, {})
    options = search.get("options_by_run", {})
    out = []
    for r in store.runs(exp_id):
        if r.role != Role.LR_SWEEP or r.strategy != label:
            continue
        out.append({"lr": r.lr, "options": options.get(r.id, {}), "status": str(r.status), "rung": r.total_steps,
                    **reading(r.result, metric), "error": r.error, "run_id": r.id})
    return sorted(out, key=lambda t: (t["lr"], sorted(t["options"].items())))


def next_rung(search: dict, rung: int) -> int | None:
    """The search's next rung after `rung` (None: `rung` is its last)."""
    return next((r for r in search.get("rungs") or [] if r > rung), None)


def judge_search(store: Store, exp_id: str, label: str) -> tuple[Judgement, list[dict], dict]:
    """The rule applied to a strategy's search as it stands in the store: (judgement, tried, search entry). The rung
    judged is the search's last when no later rung is planned, or when none of the contenders can train on (each
    ended its own schedule: a plateau, or the horizon)."""
    search = store.experiment(exp_id).info.get("lr_search", {}).get(label, {})
    tried = search_table(store, exp_id, search.get("label", label))
    rung = max((t.get("rung") or 0 for t in tried), default=0)
    args = dict(**rule(task_kind(store.experiment_config(exp_id).task)), default=search.get("default"))
    verdict = judge(tried, **args, final=next_rung(search, rung) is None)
    if verdict.train_on and not _can_train_on(tried, verdict):
        verdict = judge(tried, **args, final=True)
    return verdict, tried, search


def _can_train_on(tried: list[dict], verdict: Judgement) -> list[dict]:
    """The contenders that stopped at the rung (not those that ended their own schedule), to send to the next."""
    return [t for t in tried if name_of(t) in verdict.train_on and t["status"] == "done" and t.get("at_rung")]


def advance(store: Store, run) -> None:
    """After a search candidate ends: where every candidate has ended and the rung could not decide, send the
    contenders on to the next rung (they resume from their checkpoints) and say why; else, once decided, keep the
    search (keyed) so later experiments reuse it."""
    verdict, tried, search = judge_search(store, run.experiment_id, run.strategy)
    if not finished(tried):
        return
    rung = max((t.get("rung") or 0 for t in tried), default=0)
    nxt = next_rung(search, rung)
    if verdict.train_on and nxt is not None:
        on = _can_train_on(tried, verdict)
        if store.extend_runs([t["run_id"] for t in on], nxt):
            for t in on:
                store.add_event(t["run_id"], "search", f"undecided at step {rung} ({verdict.undecided}): trains on to "
                                f"step {nxt}", {"rung": rung, "next": nxt})
            return
    if verdict.chosen is not None:  # decided: the losers' weights are not needed again (the winner's, by its grid run)
        keep = verdict.chosen.get("run_id") if search.get("continued_by") else None
        for t in tried:
            if t.get("run_id") and t["run_id"] != keep:
                for part in ("checkpoint", "best"):
                    shutil.rmtree(store.run_dir(t["run_id"]) / part, ignore_errors=True)
    record(store, run, verdict, tried, search)


def record(store: Store, run, verdict: Judgement, tried: list[dict], search: dict) -> None:
    """A decided search, kept (keyed) so later experiments reuse it."""
    if verdict.chosen is None or any(t["status"] == "cancelled" for t in tried) or "key" not in search:
        return  # nothing worth reusing: a later experiment searches again
    keys = ("lr", "options", "status", "val_loss", "val_metric", "val_n", "val_trivial", "steps", "rung", "diverged")
    store.save_lr_search(search["key"], search["spec"], {
        "chosen": verdict.chosen["lr"], "chosen_options": verdict.chosen.get("options", {}),
        "undecided": verdict.undecided, "tried": [{k: t.get(k) for k in keys} for t in tried],
        "device": run.result.get("device") or run.device or "", "created": time.strftime("%Y-%m-%d")}, run.experiment_id)


class SearchUnsettled(HeadStartError):
    """A grid run started before its strategy's search had chosen (its candidates train on): it waits in the queue."""


def chosen_run(store: Store, run) -> tuple[float, dict, object | None]:
    """The searched learning rate and options for a grid run (the search this strategy shares, e.g. scratch×3 uses
    scratch's), and the winning search run when this grid run is the one it becomes (else None). Raises
    SearchUnsettled while the search's candidates still train (a later rung)."""
    info = store.experiment(run.experiment_id).info
    search = info.get("lr_search", {}).get(run.strategy, {})
    label = search.get("label", run.strategy)
    verdict, tried, _ = judge_search(store, run.experiment_id, label)
    if not finished(tried) or verdict.train_on:
        if verdict.train_on:
            advance(store, next(store.run(t["run_id"]) for t in tried))
        raise SearchUnsettled(f"the learning-rate search of {label} has not chosen yet")
    if verdict.chosen is None:
        why = "; ".join(f"{name_of(t)} {verdict.why[name_of(t)]}" for t in tried)
        raise HeadStartError(f"no learning-rate search run of {run.strategy} reached its rung ({why}); set an lr or "
                             "search smaller rates (lr_sweep.lrs)")
    winner = None
    if search.get("continued_by") == run.id:
        winner = store.run(verdict.chosen["run_id"])
    return verdict.chosen["lr"], verdict.chosen.get("options", {}), winner


def stored_searches() -> dict:
    try:
        return json.loads(STORED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _plain(obj):
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
