"""Executing one stored run: the policy check where work starts, the learning rate (searched or fixed), the
data, probes and model, the loop, the out-of-memory retry, and the result row — done, failed or cancelled.
`run_experiment` plans and executes every run in this process (the CLI's `run`, tests); the dispatcher
runs each in a worker process (`runner`, `worker`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
import traceback
from pathlib import Path

import torch

from training.config import ExperimentConfig, StrategyConfig
from training.core import checkpoint, loop
from training.core.control import Cancelled
from training.core.data.task import TaskData
from training.core.models import load_tokenizer, structure
from training.core.strategies import get_strategy
from training.errors import HeadStartError
from training.service import lr_search
from training.service.control import WorkerControl
from training.service.planning import PRETRAIN, REFERENCES, device_name, launch, resolve_device, strategy_configs, use_bf16
from training.service.policy import check_run_start
from training.service.processes import process_started
from training.service.records import DISK_FULL, Role, Status, disk_full
from training.service.store import RunSink, Store
from training.settings import load_settings
from training.tasks import task_kind


def execute_run(store: Store, run_id: str, control=None) -> dict:
    """Train one stored run and record its outcome (done / failed / cancelled). Returns the run row."""
    run = store.run(run_id)
    cfg = store.experiment_config(run.experiment_id)
    try:
        check_run_start(cfg, run, store, load_settings())  # policy where work starts, not only where it was asked for
    except HeadStartError as e:
        store.update_run(run_id, status=Status.FAILED, ended_at=time.time(), error=str(e))
        store.add_event(run_id, "refused", str(e))
        return store.run(run_id)
    now = time.time()
    store.update_run(run_id, status=Status.RUNNING, pid=os.getpid(), proc_started=process_started(os.getpid()),
                     started_at=run.started_at or now, heartbeat_at=now, error=None,
                     device=run.device or cfg.speed.device)
    sink = RunSink(store, run_id)
    try:
        result = _execute_with_oom_retry(store, cfg, run, sink, control)
    except Cancelled as e:
        store.update_run(run_id, status=Status.CANCELLED, ended_at=time.time(), error=str(e))
    except lr_search.SearchUnsettled as e:  # its search's candidates train on: back in the queue, waiting for them
        store.update_run(run_id, status=Status.QUEUED, pid=None, ended_at=None, error=None, started_at=run.started_at)
        store.add_event(run_id, "waiting", str(e))
        return store.run(run_id)
    except KeyboardInterrupt:  # Ctrl-C of an in-process run: resumable from its checkpoint, never left "running"
        store.update_run(run_id, status=Status.INTERRUPTED, ended_at=time.time(), pid=None,
                         error="interrupted (Ctrl-C); it resumes from its last checkpoint when queued again")
        store.add_event(run_id, "interrupted", "interrupted by Ctrl-C")
        raise
    except HeadStartError as e:
        store.update_run(run_id, status=Status.FAILED, ended_at=time.time(), error=str(e))
    except Exception as e:  # noqa: BLE001 — any crash becomes a failed run with its traceback as an event
        if not disk_full(e):
            _failed(store, sink, run_id, e)
        else:  # nothing wrong with the run: it resumes from its last checkpoint once there is room (the dispatcher)
            what = (f"{e.strerror} writing {Path(e.filename).name if e.filename else 'a file'}"
                    if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}")
            store.update_run(run_id, status=Status.INTERRUPTED, ended_at=time.time(), pid=None,
                             error=f"{DISK_FULL}: {what}; it resumes from its last checkpoint when space is freed")
            store.add_event(run_id, "interrupted", f"{DISK_FULL} ({e})")
    else:
        store.update_run(run_id, status=Status.DONE, ended_at=time.time(), result=result)
        if run.role == Role.GRID:  # a finished grid run never resumes: keep the weights it answers with, not the rest
            checkpoint.drop_training_state(store.run_dir(run_id) / "checkpoint")
    if run.role == Role.LR_SWEEP:
        lr_search.advance(store, store.run(run_id))
    return store.run(run_id)


def _failed(store: Store, sink: RunSink, run_id: str, e: BaseException) -> None:
    sink.event("error", f"{type(e).__name__}: {e}", {"traceback": traceback.format_exc()})
    store.update_run(run_id, status=Status.FAILED, ended_at=time.time(), error=f"{type(e).__name__}: {e}")


def _execute_with_oom_retry(store: Store, cfg: ExperimentConfig, run: dict, sink: RunSink, control) -> dict:
    """On out-of-memory, halve the micro-batch and double gradient accumulation (the effective batch and
    so the curve stay the same) and resume from the last checkpoint; give up at a micro-batch of 1."""
    batch = cfg.train.batch_size
    micro = run.micro_batch_size or cfg.train.micro_batch_size or batch
    while True:
        try:
            return _execute(store, cfg, dataclasses.replace(run, micro_batch_size=micro), sink, control)
        except (torch.OutOfMemoryError, MemoryError) as e:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            smaller = next((m for m in range(micro // 2, 0, -1) if batch % m == 0), None)
            if smaller is None:
                raise HeadStartError(
                    f"out of memory even at micro-batch {micro} ({type(e).__name__}). Lower model.max_length "
                    f"(now {cfg.model.max_length}), use lora or qlora instead of full training, or run fewer "
                    "slots per device.") from None
            sink.event("oom_retry", f"out of memory at micro-batch {micro}; retrying at {smaller} with "
                       f"{batch // smaller} accumulation steps (effective batch {batch})",
                       {"from": micro, "to": smaller, "accumulation": batch // smaller})
            if not checkpoint.exists(store.run_dir(run.id) / "checkpoint"):
                sink.truncate(after_step=-1)  # no checkpoint to resume from: the retry logs from step 0 again
            store.update_run(run.id, micro_batch_size=smaller)
            micro = smaller


def _execute(store: Store, cfg: ExperimentConfig, run: dict, sink: RunSink, control) -> dict:
    cache = store.cache_dir
    device = resolve_device(cfg.speed.device)
    if cfg.speed.num_threads:
        torch.set_num_threads(cfg.speed.num_threads)
    if run.strategy == PRETRAIN:
        return _execute_pretrain(store, cfg, run, sink, control, device)

    if run.strategy == REFERENCES:
        return _execute_references(store, cfg, run, sink)

    sc = strategy_configs(cfg)[run.strategy]
    search = store.experiment(run.experiment_id).info.get("lr_search", {}).get(run.strategy)
    if run.role == Role.LR_SWEEP:  # a candidate: its rate, and the options the search tries with it
        sc = dataclasses.replace(sc, lr=run.lr, options={**sc.options, **search.get("options_by_run", {}).get(run.id, {})})
    elif sc.lr is None and search is not None and search.get("status") == "planned":  # (again, when it resumes)
        lr, options, winner = lr_search.chosen_run(store, run)
        sc = dataclasses.replace(sc, lr=lr, options={**sc.options, **options})
        store.update_run(run.id, lr=sc.lr)
        if winner is not None:
            _continue_search_run(store, winner, run, sink)
    elif run.lr is not None:  # chosen at launch from a finished search (with its options)
        sc = dataclasses.replace(sc, lr=run.lr, options={**sc.options, **(search or {}).get("chosen_options", {})})
    kind = task_kind(cfg.task)
    strategy = get_strategy(sc, kind)
    strategy.check_available(device.type)
    base_dir, tokenizer = run_base(store, cfg, run)
    held_out = None
    if cfg.pretrain is not None:
        held_out = kind.prepare_data(cfg.pretrain.data, tokenizer, cfg.model.max_length, cache).eval  # corpus A
    data = kind.prepare_data(cfg.data, tokenizer, cfg.model.max_length, cache)
    if run.role == Role.GRID:
        _save_eval_inputs(store, run.experiment_id, kind, data)
    if strategy.own_model:  # its own processor and architecture, fitted on its training examples: the data again
        base_dir = kind.own_base(data, cfg, run.n_train, run.seed, strategy.cfg.options, own_base_dir(store, run.id))
        cfg = dataclasses.replace(cfg, model=kind.own_model_config(base_dir, cfg.model))
        tokenizer = kind.load_processor(base_dir, cfg.model)
        data = kind.prepare_data(cfg.data, tokenizer, cfg.model.max_length, cache)
    # A learning-rate search run is judged on validation loss alone: forgetting probes would only cost it time; a
    # model of its own never had the base's skill to forget.
    probes = kind.probes(cfg, tokenizer, cache, held_out) if run.role != Role.LR_SWEEP and not strategy.own_model else []
    baselines = probe_baselines(store, run.experiment_id, cfg, base_dir, probes, data, device)

    train, validation, evaluation, inputs = kind.run_parts(data, cfg, run.n_train, run.seed)
    model = kind.build_model(base_dir, pretrained=strategy.pretrained, num_labels=max(2, len(data.label_names)),
                             cfg=strategy.model_config(cfg.model), seed=run.seed, load_kwargs=strategy.load_kwargs(),
                             **inputs)
    strategy.prepare(model)
    setup = _setup(cfg, run, strategy, model, tokenizer, train,
                   dataclasses.replace(data, validation=validation, eval=evaluation), probes, device, store, baselines,
                   search if run.role == Role.LR_SWEEP else None)
    setup.samples = kind.samples(cfg, data, tokenizer) if run.role != Role.LR_SWEEP else {}
    result = loop.train(setup, sink, control)
    return _summarise(cfg, run, strategy, result, probes, baselines, data)


REFERENCE_BLAS_THREADS = 1


def _execute_references(store: Store, cfg: ExperimentConfig, run: dict, sink: RunSink) -> dict:
    """The trivial and classical references at every grid size, on the grid's own subsets (the kind's
    `references.py`)."""
    kind = task_kind(cfg.task)
    processor = kind.load_processor(kind.resolve_base(cfg.model.base), cfg.model)
    data = kind.prepare_data(cfg.data, processor, cfg.model.max_length, store.cache_dir)
    _save_eval_inputs(store, run.experiment_id, kind, data)
    sizes = sorted({r.n_train for r in store.runs(run.experiment_id) if r.role == Role.GRID})
    seeds = cfg.seeds if cfg.data.subset_policy == "per-seed" else cfg.seeds[:1]
    t0 = time.perf_counter()
    from threadpoolctl import threadpool_limits

    # Small linear fits: BLAS threads cost more than they give. With numpy's and scipy's two OpenBLAS pools on 2 cores,
    # the TF-IDF model on the quick demo took 14 s at the default threads against 1.6 s at one (LOG.md, 2026-12-02).
    with threadpool_limits(REFERENCE_BLAS_THREADS, user_api="blas"):
        rows = kind.reference_rows(data, cfg.data, sizes, seeds)
    sink.log(1, 0, time.perf_counter() - t0, 0.0, {"references/rows": float(len(rows))})
    return {"references": rows, "wall_s": time.perf_counter() - t0, "steps": 1, "data_fingerprint": data.fingerprint,
            "eval_examples": len(data.eval), "device": device_name()}


def _save_eval_inputs(store: Store, exp_id: str, kind, data) -> None:
    inputs = kind.eval_inputs(data)
    if inputs is not None and len(inputs) == len(data.eval):
        store.save_eval_inputs(exp_id, inputs, data.fingerprint)


def own_base_dir(store: Store, run_id: str) -> Path:
    """Where a practitioner's run (`own`) keeps the base it built from its training data (`TaskKind.own_base`)."""
    return store.run_dir(run_id) / "own"


def run_base(store: Store, cfg: ExperimentConfig, run, own: bool = False) -> tuple[Path, object]:
    """The base model a run starts from and its processor: the hybrid's pretraining run's model, else the config's;
    for a practitioner's run (`own`) that has trained, the base it built from its own training data."""
    kind = task_kind(cfg.task)
    if own:
        folder = own_base_dir(store, run.id)
        if not (folder / "config.json").is_file():
            raise HeadStartError(f"run {run.id} kept no model of its own ({folder} is missing)")
        return folder, kind.load_processor(folder, cfg.model)
    if cfg.pretrain is not None:
        pretrain_id = next(d for d in run.depends_on if store.run(d).role == Role.PRETRAIN)
        base_dir = store.run_dir(pretrain_id) / "model"
        if not (base_dir / "config.json").is_file():
            raise HeadStartError("the pretraining run has not finished; this run starts from its checkpoint")
        return base_dir, load_tokenizer(base_dir)
    base_dir = kind.resolve_base(cfg.model.base)
    return base_dir, kind.load_processor(base_dir, cfg.model)


def _continue_search_run(store: Store, winner, run, sink: RunSink) -> None:
    """The grid run the search's winner becomes: it takes the winner's checkpoint and rows up to the rung, and the
    loop resumes from there (once: a later restart resumes from its own checkpoint)."""
    own = store.run_dir(run.id) / "checkpoint"
    if checkpoint.exists(own):
        return
    src = store.run_dir(winner.id) / "checkpoint"
    if not checkpoint.exists(src):
        raise HeadStartError(f"the search's winning run {winner.id} kept no checkpoint to continue from")
    pairs = [(src, own), (checkpoint.best_dir(src), checkpoint.best_dir(own)),
             (own_base_dir(store, winner.id), own_base_dir(store, run.id))]  # a practitioner's run: its base too
    for a, b in pairs:
        if a.is_dir():
            shutil.rmtree(b, ignore_errors=True)
            shutil.copytree(a, b)
    steps = checkpoint.load_state(own)["step"]
    store.copy_metrics(winner.id, run.id, steps)
    for r in store.runs(run.experiment_id):  # the candidates' weights are not needed again
        if r.role == Role.LR_SWEEP and r.strategy == winner.strategy:
            shutil.rmtree(store.run_dir(r.id) / "checkpoint", ignore_errors=True)
            shutil.rmtree(checkpoint.best_dir(store.run_dir(r.id) / "checkpoint"), ignore_errors=True)
    sink.event("continued", f"continues the learning-rate search's winning run {winner.id} (lr {winner.lr:g}) from "
               f"step {steps}", {"from": winner.id, "step": steps})


def _setup(cfg, run, strategy, model, tokenizer, train, data, probes, device, store,
           baselines: dict | None = None, search: dict | None = None) -> loop.RunSetup:
    """The loop's setup for a run. A search candidate (`search`: its strategy's search) is set up as the grid run it
    may become — that run's steps, schedule, evaluations and plateau rule — and stops at the rung."""
    total = search["steps"] if search else run.total_steps
    plateau = strategy.until_plateau and (run.role == Role.GRID or search is not None)
    # A plateau run's total is its cap: evaluate as often as a run of the policy's own steps would.
    evals = cfg.train.evals_per_run * (cfg.budget.plateau_cap if plateau else 1)
    eval_every = cfg.train.eval_every or max(1, math.ceil(total / evals))
    bf16 = use_bf16(cfg, device)
    return loop.RunSetup(
        kind=strategy.kind, strategy=strategy, model=model, structure=structure(model), pad_id=tokenizer.pad_token_id,
        train=train, eval=data.eval, n_classes=len(data.label_names), probes=probes, seed=run.seed,
        total_steps=total, batch_size=cfg.train.batch_size,
        micro_batch_size=run.micro_batch_size or cfg.train.micro_batch_size or cfg.train.batch_size,
        optim=cfg.optim,
        weight_decay=strategy.cfg.weight_decay if strategy.cfg.weight_decay is not None else cfg.optim.weight_decay,
        eval_every=eval_every, checkpoint_every=cfg.train.checkpoint_every or eval_every,
        probe_every_eval=cfg.train.probe_every_eval, device=device, bf16=bf16,
        compile=cfg.speed.compile if cfg.speed.compile is not None else device.type == "cuda",
        ckpt_dir=store.run_dir(run.id) / "checkpoint",
        # a candidate keeps its checkpoint: a later rung resumes it, or its grid run continues it (the search's
        # losers' are removed once it has chosen: lr_search.advance)
        keep_checkpoint=True if search else cfg.train.keep_checkpoint,
        eval_at_start=cfg.train.eval_at_start, starts_from_base=strategy.pretrained and not strategy.needs_cuda,
        probe_baselines=baselines or {}, validation=data.validation,
        select=(f"val/{strategy.kind.metric}", strategy.kind.higher_is_better),
        patience=cfg.budget.patience if plateau else None, score_eval=run.role != Role.LR_SWEEP,
        stop_at=run.total_steps if search and run.total_steps < total else None, stop_diverged=search is not None,
        base_steps=math.ceil(total / cfg.budget.plateau_cap) if plateau else None)


def _execute_pretrain(store, cfg, run, sink, control, device) -> dict:
    from training.tasks.lm.pretrain import architecture_dir, export_model

    pc, kind = cfg.pretrain, task_kind(cfg.task)  # a hybrid kind: its base is pre-trained on corpus A first
    base_dir = architecture_dir(cfg, store.cache_dir)
    tokenizer = load_tokenizer(base_dir)
    data = kind.prepare_data(pc.data, tokenizer, cfg.model.max_length, store.cache_dir)
    strategy = get_strategy(StrategyConfig("scratch", lr=pc.lr), kind)
    model = kind.build_model(base_dir, pretrained=False, num_labels=2, cfg=cfg.model, seed=pc.seed)
    strategy.prepare(model)
    pretrain_run = dataclasses.replace(run, seed=pc.seed, total_steps=pc.steps)
    setup = _setup(cfg, pretrain_run, strategy, model, tokenizer, data.train, data, [], device, store)
    result = loop.train(setup, sink, control)
    export_model(model, tokenizer, store.run_dir(run.id) / "model")
    return _summarise(cfg, run, strategy, result, [], {}, data)


def probe_baselines(store: Store, exp_id: str, cfg: ExperimentConfig, base_dir: Path, probes, data: TaskData,
                    device: torch.device) -> dict[str, float]:
    """Probe values of the untouched base model, measured once per experiment and cached on disk."""
    if not probes:
        return {}
    path = store.experiment_dir(exp_id) / "probe_baseline.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    model = task_kind(cfg.task).build_model(base_dir, pretrained=True, num_labels=max(2, len(data.label_names)),
                                            cfg=cfg.model, seed=0).to(device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16(cfg, device) else contextlib.nullcontext
    values = {p.key: p.measure(model, device, autocast) for p in probes}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(values), encoding="utf-8")
    tmp.replace(path)
    return values


def _summarise(cfg, run, strategy, result: dict, probes, baselines: dict, data: TaskData) -> dict:
    """The run's result: eval metrics and forgetting at the end of training and at the best checkpoint."""
    final, best = result.pop("final"), result.pop("best")

    def scored(values: dict) -> tuple[dict, dict, dict]:
        metrics = {k.split("/", 1)[1]: v for k, v in values.items() if k.startswith(("eval/", "val/"))}
        probe_values = {p.key: values[p.key] for p in probes if p.key in values}
        forgetting = {p.key: p.forgetting(baselines[p.key], probe_values[p.key])
                      for p in probes if p.key in probe_values and p.key in baselines}
        return metrics, probe_values, forgetting

    end_eval, probe_final, forgetting = scored(final)
    best_eval, probe_best, forgetting_best = scored(best["final"])
    return {
        **result,
        "strategy": strategy.name, "lr": strategy.lr, "pretrained": strategy.pretrained,
        "init": cfg.model.init if not strategy.pretrained else "pretrained",
        "until_plateau": bool(strategy.until_plateau and run.role == Role.GRID),
        "eval": end_eval, "eval_best": best_eval, "best_step": best["step"],
        "probe_baseline": baselines, "probe_final": probe_final, "forgetting": forgetting,
        "probe_best": probe_best, "forgetting_best": forgetting_best,
        "probes": {p.key: p.name for p in probes},
        "options": strategy.cfg.options, "validation_majority": _majority_share(data.validation),
        "max_length": cfg.model.max_length if task_kind(cfg.task).form.max_length else None,
        "data_fingerprint": data.fingerprint,
        "device": device_name(), "torch": torch.__version__, "transformers": _transformers_version(),
    }


def _majority_share(validation) -> float | None:
    """The validation set's most common class's share: the accuracy a model that learned nothing reads (the search's
    "clearly above the trivial baseline"); None where it has no class labels."""
    import numpy as np

    labels = getattr(validation, "labels", None)
    if labels is None or len(labels) == 0 or not np.issubdtype(np.asarray(labels).dtype, np.integer):
        return None
    return float(np.bincount(np.asarray(labels)).max() / len(labels))


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def run_experiment(cfg: ExperimentConfig, store: Store, progress: bool = False, owner: str = "local") -> str:
    """Launch and execute every run in this process: in the planned order, each once the runs it waits for have ended
    — and again where it was queued again (a search's candidates sent on to a later rung; a grid run that started
    before its search had chosen)."""
    exp_id = launch(cfg, store, owner=owner)
    return continue_experiment(store, exp_id, progress=progress)


def continue_experiment(store: Store, exp_id: str, progress: bool = False) -> str:
    """Execute an experiment's queued runs in this process until none can start (`run_experiment`'s loop; also what
    resumes one whose process was killed, once its interrupted runs are queued again)."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(r.total_steps or 0 for r in store.runs(exp_id)), unit="step",
                   desc=store.experiment(exp_id).name)
    ended = (Status.DONE, Status.FAILED, Status.CANCELLED)
    while True:
        runs = store.runs(exp_id)
        status = {r.id: r.status for r in runs}
        r = next((r for r in runs if r.status == Status.QUEUED
                  and all(status.get(d) in ended for d in r.depends_on)), None)
        if r is None or not store.claim(r.id, device="in-process"):
            break
        if bar is not None:
            bar.total = max(bar.total, bar.n + sum(x.total_steps or 0 for x in runs if x.status == Status.QUEUED))
            bar.set_postfix_str(f"{r.strategy} N={r.n_train} seed={r.seed}")
        # Heartbeats (and cancel requests) as in a worker, so a dispatcher on the same store sees it alive.
        control = _ProgressControl(store.spec, r.id, bar).start()
        try:
            row = execute_run(store, r.id, control)
        finally:
            control.close()
        if row.status not in (Status.DONE, Status.QUEUED) and bar is not None:
            bar.write(f"run {r.id} ({r.strategy}, N={r.n_train}, seed {r.seed}) {row.status}: {row.error}")
    if bar is not None:
        bar.close()
    return exp_id


class _ProgressControl(WorkerControl):
    def __init__(self, root, run_id: str, bar):
        super().__init__(root, run_id)
        self.bar = bar

    def beat(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
