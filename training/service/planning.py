"""Planning an experiment: validate everything that can fail, and compute its runs — before anything is stored.

`plan_experiment` checks strategies, device, model, data, sizes and probes, sizes each strategy (FLOPs per
example, parameters, a memory estimate from a weightless copy of the model), plans the learning-rate
searches (reusing finished ones) and the grid; `launch` adds the deployment's quotas and stores the
experiment with its queued runs in one transaction. Nothing here trains (see `execution`).
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.config import ExperimentConfig, StrategyConfig
from training.core.accounting import FlopCounter, estimate_memory
from training.core.data.task import TaskData, too_many_message
from training.core.models import count_params, load_tokenizer, structure
from training.core.strategies import Strategy, get_strategy
from training.errors import ConfigError, DataError, DeviceError
from training.service import lr_search
from training.service.policy import check_demo, check_sources, demo_quota
from training.service.store import Store, new_id
from training.settings import load_settings
from training.tasks import checked

PRETRAIN = "pretrain"
REFERENCES = "references"
"""The run (role `reference`) that scores the majority class and TF-IDF + logistic regression at every size."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"speed.device is {name!r} but this machine has no CUDA GPU; use auto or cpu")
    return device


def strategy_configs(cfg: ExperimentConfig) -> dict[str, StrategyConfig]:
    return {s.label: s for s in cfg.strategies}


@dataclass
class Plan:
    runs: list[dict]
    info: dict


# -- launch ------------------------------------------------------------------------------------------

def plan_experiment(cfg: ExperimentConfig, cache_dir: Path, store: Store | None = None) -> Plan:
    """Validate everything and compute the runs (strategy, size, seed, steps, learning rate where known).
    Writes only caches. With a store, finished learning-rate searches in it are reused."""
    check_sources(cfg, load_settings(), cache_dir.parent)  # before reading anything the user named
    device = resolve_device(cfg.speed.device)
    kind = checked(cfg)  # the task's kind, and what it refuses of this config
    strategies = {label: get_strategy(sc, kind) for label, sc in strategy_configs(cfg).items()}
    for s in strategies.values():
        s.check_available(device.type)
    runs: list[dict] = []
    if cfg.pretrain is not None:
        from training.tasks.lm.pretrain import architecture_dir

        base_dir = architecture_dir(cfg, cache_dir)
        tokenizer = load_tokenizer(base_dir)
        corpus_a = kind.prepare_data(cfg.pretrain.data, tokenizer, cfg.model.max_length, cache_dir)
        runs.append({"id": new_id("r"), "strategy": PRETRAIN, "role": "pretrain", "n_train": len(corpus_a.train),
                     "seed": cfg.pretrain.seed, "total_steps": cfg.pretrain.steps})
        held_out = corpus_a.eval
    else:
        base_dir = kind.resolve_base(cfg.model.base)
        tokenizer = kind.load_processor(base_dir, cfg.model)
        held_out = None
    kind.check_model(cfg.model, base_dir, "the pretraining architecture" if cfg.pretrain else cfg.model.base)
    data = kind.prepare_data(cfg.data, tokenizer, cfg.model.max_length, cache_dir)
    kind.probes(cfg, tokenizer, cache_dir, held_out)  # validates probe sources now, not mid-run
    pool = len(data.train)
    sizes = cfg.resolved_sizes(pool)
    for n in sizes:
        if n > pool:
            raise DataError(too_many_message(n, pool, kind.unit))
    try:
        prints = {label: footprint(cfg, s, own_plan_base(cfg, s, data, sizes, cache_dir) if s.own_model else base_dir, data)
                  for label, s in strategies.items()}
    except (ValueError, RuntimeError, KeyError, TypeError, AttributeError, ZeroDivisionError) as e:
        if isinstance(e, DataError | ConfigError | DeviceError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ConfigError(f"the model {cfg.model.base} cannot be built with its config for this experiment "
                          f"({type(e).__name__}: {first}); check its config.json (hidden size divisible by the "
                          "attention heads, a vocabulary of at least one token) and the strategies' options (e.g. LoRA "
                          "target modules that exist in the model)") from None
    check_memory(prints, device)
    per_example = {label: p["flops_per_example"] for label, p in prints.items()}
    try:
        timed = timed_step(cfg, strategies, base_dir, data, tokenizer, device, per_example)
    except (RuntimeError, ValueError, MemoryError):  # out of memory on the device, say: the estimate falls back
        timed = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
    pretrain_id = runs[0]["id"] if runs else None
    if cfg.references and kind.references:
        runs.append({"id": new_id("r"), "strategy": REFERENCES, "role": "reference", "n_train": max(sizes),
                     "seed": cfg.seeds[0], "total_steps": 1})
    steps = {(n, label): grid_steps(cfg, label, strategies[label], n, per_example) for n in sizes for label in strategies}
    per_step = {label: per_example[label] * cfg.train.batch_size for label in strategies}
    # Seed by seed (a whole first seed is on Compare first), within a seed the longest planned first: workers taking
    # runs in this order finish sooner — the longest run (scratch at the largest size, until its plateau) no longer
    # starts last and runs alone at the end (bench/quick_time.py).
    grid = [(seed, n, label) for seed in cfg.seeds
            for n, label in sorted(((n, label) for n in sizes for label in strategies),
                                   key=lambda g: -steps[g] * per_step[g[1]])]
    grid_flops = sum(steps[n, label] * per_step[label] for _, n, label in grid)
    searches = plan_lr_searches(cfg, strategies, data, base_dir, sizes, per_example, store, grid_flops)
    sweep_ids: dict[str, list[str]] = {}
    for search in {id(s): s for s in searches.values()}.values():
        if search["status"] != "planned":
            continue
        for cand in search["candidates"]:
            run = {"id": new_id("r"), "strategy": search["label"], "role": "lr-sweep", "lr": cand["lr"],
                   "n_train": search["size"], "seed": search["seed"], "total_steps": search["rung"],
                   "mem_estimate": prints[search["label"]]["memory"]["total"], "depends_on": pretrain_id}
            runs.append(run)
            sweep_ids.setdefault(search["label"], []).append(run["id"])
            if cand["options"]:
                search.setdefault("options_by_run", {})[run["id"]] = cand["options"]
    for seed, n, label in grid:
        search = searches.get(label)
        deps = ([pretrain_id] if pretrain_id else []) + (sweep_ids.get(search["label"], []) if search else [])
        run = {"id": new_id("r"), "strategy": label, "role": "grid", "n_train": n, "seed": seed,
               "total_steps": steps[n, label],
               "lr": search["chosen"] if search and search["status"] != "planned" else None,
               "mem_estimate": prints[label]["memory"]["total"], "depends_on": ",".join(deps) or None}
        runs.append(run)
        if search and search["status"] == "planned" and search["label"] == label and search["keeps"] \
                and (seed, n) == (search["seed"], search["size"]):
            search["continued_by"] = run["id"]  # the winning rate's run becomes this grid run
    planned = [s for s in {id(s): s for s in searches.values()}.values() if s["status"] == "planned"]
    search_flops = sum((len(s["candidates"]) - bool(s.get("continued_by"))) * s["rung"] * per_step[s["label"]]
                       for s in planned)
    # Where a rung cannot tell the rates apart they train on (lr_search.judge): at most every loser to the horizon.
    search_flops_max = sum((len(s["candidates"]) - bool(s.get("continued_by"))) * s["steps"] * per_step[s["label"]]
                           for s in planned)
    cost = {"grid_flops": grid_flops, "search_flops": search_flops,
            "search_share": search_flops / grid_flops if grid_flops else 0.0,
            "search_flops_max": search_flops_max, "search_share_max": search_flops_max / grid_flops if grid_flops else 0.0,
            "reference_seconds": (kind.reference_seconds(pool, sizes, len(cfg.seeds if cfg.data.subset_policy == "per-seed"
                                                                         else cfg.seeds[:1]))
                                  if cfg.references and kind.references else 0.0)}
    info = {"data": data.info, "label_names": data.label_names, "pool_size": pool, "sizes": sizes,
            "device": str(device), "device_name": device_name(), "footprint": prints,
            "lr_search": searches, "lr_source": {label: lr_source(cfg, label, s, searches) for label, s in strategies.items()},
            "until_plateau": {label: s.until_plateau for label, s in strategies.items()}, "cost": cost}
    if timed:
        info["timed_step"] = timed
    return Plan(runs, info)


def own_plan_base(cfg: ExperimentConfig, strategy: Strategy, data: TaskData, sizes: list[int], cache_dir: Path) -> Path:
    """A practitioner's base (`own`) as its run at the largest size and first seed will build it — the largest model
    the rule gives this experiment, so the footprint (FLOPs, parameters, memory) of its every run is at most this."""
    n, seed = max(sizes), cfg.seeds[0]
    return strategy.kind.own_base(data, cfg, n, seed, strategy.cfg.options,
                                  cache_dir / "own" / f"{data.fingerprint[:16]}-{n}-{seed}")


def lr_source(cfg: ExperimentConfig, label: str, strategy: Strategy, searches: dict) -> str:
    """Where a strategy's learning rate comes from: fixed by the user, searched, or the untuned default."""
    if strategy.cfg.lr is not None:
        return "fixed"
    return "searched" if label in searches else "default"


def plan_lr_searches(cfg: ExperimentConfig, strategies: dict[str, Strategy], data: TaskData, base_dir: Path,
                     sizes: list[int], per_example: dict[str, float], store: Store | None,
                     grid_flops: float) -> dict[str, dict]:
    """Per strategy label without a fixed lr: its search — reused from the store or the shipped results when
    one with the same key finished ("stored"/"reused", with the chosen rate), else "planned" (runs to queue: every
    candidate rate trains the grid run at the search's size and seed up to the rung). Labels that differ only in
    budget (scratch, scratch×3) share one search; its winner becomes the grid run of the label whose budget it
    trained (`keeps`). The rungs are placed by `lr_search.rung_fractions` from the grid's planned FLOPs."""
    if cfg.lr_sweep is None:
        return {}
    size = lr_search.search_size(cfg, sizes, len(data.train))
    seed = lr_search.search_seed(cfg)
    data_id = lr_search.data_identity(cfg, data.info.get("source_fingerprint", data.fingerprint))
    model_id = lr_search.model_identity(cfg, base_dir)
    stored = lr_search.stored_searches() if cfg.lr_sweep.reuse else {}
    out: dict[str, dict] = {}
    by_key: dict[str, dict] = {}
    for label, s in strategies.items():
        if s.cfg.lr is not None:
            continue
        lrs = lr_search.candidates(cfg, s.cfg, s.default_lr)
        grid = s.search_options()
        policy = budget_steps(cfg, label, size, per_example, multiplier=1.0)
        total = math.ceil(cfg.budget.plateau_cap * policy) if s.until_plateau else policy
        spec = lr_search.search_spec(cfg, s.cfg, data=data_id, model=model_id, size=size, steps=total, rung=None,
                                     plateau=s.until_plateau, lrs=lrs, options=grid)
        key = lr_search.search_key(spec)
        if key in by_key:
            out[label] = by_key[key]
            continue
        found = store.lr_search(key) if store is not None and cfg.lr_sweep.reuse else None
        if found is not None and found["result"].get("chosen") is not None:
            entry = {"status": "reused", "experiment_id": found["experiment_id"], **found["result"]}
        elif key in stored and stored[key]["result"].get("chosen") is not None:
            entry = {"status": "stored", **stored[key]["result"]}
        else:
            entry = {"status": "planned", "chosen": None}
        keeps = entry["status"] == "planned" and s.cfg.budget_multiplier == 1.0 and seed in cfg.seeds and size in sizes
        centre = float(f"{s.default_lr:.3g}")
        entry.update(key=key, spec=spec, label=label, size=size, seed=seed, steps=total, policy_steps=policy, lrs=lrs,
                     keeps=keeps, plateau=s.until_plateau,
                     candidates=[{"lr": lr, "options": o} for lr in lrs for o in grid],
                     default=lr_search.candidate_name(centre if centre in lrs else lrs[len(lrs) // 2], grid[0]))
        out[label] = by_key[key] = entry
    planned = [e for e in by_key.values() if e["status"] == "planned"]
    batch = cfg.train.batch_size
    fractions = lr_search.rung_fractions(
        cfg, grid_flops, {e["key"]: (len(e["candidates"]) - e["keeps"]) * e["policy_steps"] * batch * per_example[e["label"]]
                          for e in planned},
        floors={e["key"]: lr_search.RUNG_MIN_PLATEAU if e["plateau"] else lr_search.RUNG_MIN for e in planned},
        caps={e["key"]: e["steps"] / e["policy_steps"] for e in planned})
    for e in planned:
        e["rung"] = max(1, min(e["steps"], math.floor(fractions[e["key"]] * e["policy_steps"])))
        e["rung_fraction"] = fractions[e["key"]]
        e["rungs"] = lr_search.rungs(e["rung"], e["steps"])
    return out


def launch(cfg: ExperimentConfig, store: Store, owner: str = "local", launch_key: str | None = None) -> str:
    """Validate, plan and store an experiment with its queued runs; returns the experiment id. With a launch key the
    owner already launched (a double click, a retried request), nothing is planned or stored again: the same id."""
    if launch_key and (earlier := store.launched(owner, launch_key)):
        return earlier
    plan = plan_experiment(cfg, store.cache_dir, store)
    settings = load_settings()
    check_demo(cfg, plan.runs, plan.info["sizes"], settings, store, owner)
    return store.create_experiment(cfg, plan.runs, owner=owner, info=plan.info, launch_key=launch_key,
                                   admit=lambda activity: demo_quota(activity, len(plan.runs), settings))


def grid_steps(cfg: ExperimentConfig, label: str, strategy: Strategy, n: int, per_example: dict[str, float]) -> int:
    """Optimizer steps of a grid run: the policy's, or for a run that trains until a plateau its cap
    (`budget.plateau_cap` × the policy's steps; it usually stops earlier)."""
    steps = budget_steps(cfg, label, n, per_example)
    return math.ceil(cfg.budget.plateau_cap * steps) if strategy.until_plateau else steps


def budget_steps(cfg: ExperimentConfig, label: str, n: int, per_example: dict[str, float],
                 multiplier: float | None = None) -> int:
    """Optimizer steps of one run under the experiment's budget policy (times the strategy's budget
    multiplier, or `multiplier` when given)."""
    b, sc = cfg.budget, strategy_configs(cfg)[label]
    if multiplier is not None:
        sc = dataclasses.replace(sc, budget_multiplier=multiplier)

    def epoch_steps(multiplier: float) -> int:
        steps = max(b.min_steps, math.ceil(b.epochs * n / cfg.train.batch_size))
        return math.ceil(min(steps, b.max_steps or steps) * multiplier)

    if b.policy == "steps":
        return math.ceil(b.steps * sc.budget_multiplier)
    if b.policy == "epochs":
        return epoch_steps(sc.budget_multiplier)
    ref_label = next(s.label for s in cfg.strategies if s.name == b.flops_reference)
    budget = epoch_steps(1.0) * per_example[ref_label]
    steps = math.ceil(budget * sc.budget_multiplier / max(per_example[label], 1.0))
    cap = b.max_steps or 10 * epoch_steps(1.0)  # cheap strategies (head) would otherwise run ~forever
    return max(b.min_steps, min(steps, cap))


def footprint(cfg: ExperimentConfig, strategy: Strategy, base_dir: Path, data: TaskData) -> dict:
    """Training FLOPs per example (at the data's mean length), parameter counts and a peak-memory
    estimate for one strategy, from a weightless (meta-device) copy of the model."""
    kind = strategy.kind
    with torch.device("meta"):
        model = kind.build_model(base_dir, pretrained=False, num_labels=max(2, len(data.label_names)), cfg=cfg.model,
                                 seed=0, **kind.sizing_inputs(data))
        strategy.prepare(model)
        st = structure(model)
    counter = FlopCounter(model, st)
    per_example = kind.example_flops(counter, data, strategy.cache_features)
    trainable, total = count_params(model)
    if st.positions is not None:  # an image model or an MLP: activations per example, not a transformer formula
        micro = cfg.train.micro_batch_size or cfg.train.batch_size
        memory = estimate_memory(
            total_params=total, trainable_params=trainable, optimizer=cfg.optim.name, micro_batch=micro, seq_len=0,
            hidden=0, heads=1, layers_with_activations=0, vocab=0, bf16=False, cached_features=strategy.cache_features,
            activation_bytes=0 if strategy.cache_features else st.activation_bytes * micro)
        return {"flops_per_example": per_example, "params": total, "trainable_params": trainable, "memory": memory}
    lengths = np.array([len(x) for x in data.train.ids], dtype=np.float64)
    hf_config = getattr(getattr(model, "backbone", None), "config", None)  # none for a practitioner's bag of words
    memory = estimate_memory(
        total_params=total, trainable_params=trainable, optimizer=cfg.optim.name,
        micro_batch=cfg.train.micro_batch_size or cfg.train.batch_size, seq_len=int(lengths.max()),
        hidden=st.attn_dim, heads=getattr(hf_config, "num_attention_heads", getattr(hf_config, "n_head", 1)),
        layers_with_activations=sum(u.passes for u in counter.units if u.attention),
        vocab=getattr(hf_config, "vocab_size", 0) if kind.language_model else 0,
        bf16=use_bf16(cfg, resolve_device(cfg.speed.device)), quantized=strategy.needs_cuda,
        cached_features=strategy.cache_features)
    return {"flops_per_example": per_example, "params": total, "trainable_params": trainable, "memory": memory}


def device_memory(device: torch.device) -> int | None:
    """Bytes a run on `device` can use at most: the GPU's memory, or the machine's RAM."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    import psutil

    return int(psutil.virtual_memory().total)


def check_memory(prints: dict, device: torch.device) -> None:
    """Refuse a plan whose runs cannot fit the device by the preflight's own estimate (a model config with a hidden
    size of 10⁶ planned 192,507 GB per run and was accepted)."""
    limit = device_memory(device)
    worst = max(prints, key=lambda label: prints[label]["memory"]["total"])
    need = prints[worst]["memory"]["total"]
    if limit and need > limit:
        where = "GPU" if device.type == "cuda" else "machine"
        raise ConfigError(f"a run of {worst} needs about {need / 1e9:,.1f} GB by the estimate (weights, gradients, optimizer "
                          f"state and activations); this {where} has {limit / 1e9:,.1f} GB. Use a smaller model, a smaller "
                          "train.batch_size or model.max_length, or train.micro_batch_size")


TIMED_STEP_SECONDS = 4.0
"""The timed step's batch is cut so one step is predicted (at preflight's small-CPU rate) to take about this long: a
135M-parameter chat model's step of 8 conversations takes minutes on two CPU cores, and planning should not."""


def timed_step(cfg: ExperimentConfig, strategies: dict, base_dir: Path, data: TaskData, tokenizer, device: torch.device,
               per_example: dict) -> dict | None:
    """How fast the experiment's own model trains on this machine: a few optimizer steps of the strategy with the most
    compute per step (one that trains the whole model when there is one), with random weights, on the first training
    examples — {strategy, examples, seconds, flops, flops_per_s}; None when every strategy trains on cached features.
    The preflight turns every run's FLOPs into time with `flops_per_s` (`analysis.preflight`)."""
    from training.core.hardware import CPU_FLOPS
    from training.core.loop import time_training_step

    timed = [label for label, s in strategies.items() if not s.cache_features and per_example[label] > 0]
    if not timed or len(data.train) == 0:
        return None
    label = max(timed, key=lambda lb: per_example[lb])
    strategy = strategies[label]
    micro = cfg.train.micro_batch_size or cfg.train.batch_size
    k = max(1, min(micro, int(TIMED_STEP_SECONDS * CPU_FLOPS / per_example[label]))) if device.type == "cpu" else micro
    kind = strategy.kind
    torch.manual_seed(0)
    model = kind.build_model(base_dir, pretrained=False, num_labels=max(2, len(data.label_names)), cfg=cfg.model, seed=0,
                             **kind.sizing_inputs(data))
    strategy.prepare(model)
    seconds, flops = time_training_step(model, kind, strategy, data.train, getattr(tokenizer, "pad_token_id", 0) or 0,
                                        device, k, cfg.optim, cfg.optim.weight_decay, use_bf16(cfg, device))
    del model
    return {"strategy": label, "examples": int(min(k, len(data.train))), "seconds": seconds, "flops": flops,
            "flops_per_s": flops / seconds if seconds > 0 else None}


def use_bf16(cfg: ExperimentConfig, device: torch.device) -> bool:
    return cfg.speed.bf16 if cfg.speed.bf16 is not None else device.type == "cuda"


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
