"""A finished run's delivered model, rebuilt from its checkpoint, answering new inputs (`python -m training predict`).

The delivered weights are those the tables score as the run's *final model* (`analysis.frames.keeps_best`, the one
rule): its last weights, or its best checkpoint where validation shows that one clearly better. The model is built as
its run built it (the kind, base, strategy and options of the experiment's config) and takes the checkpoint's
trainable weights; everything frozen is the base's. So a run answers its own eval inputs exactly as it scored them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from training.errors import HeadStartError
from training.service.records import Role, Run, Status
from training.service.store import Store
from training.tasks import task_kind


@dataclass
class Loaded:
    """A run's delivered model, ready to answer."""
    run: Run
    model: object
    processor: object
    weights: str  # "final" (its last weights) or "best" (its best checkpoint)


def delivered_weights(store: Store, run: Run) -> str:
    """'best' where the run's final model is its best checkpoint (the rule the tables use), else 'final'."""
    from training.analysis.frames import keeps_best, metrics_frame, runs_frame

    frame = runs_frame(store, run.experiment_id)
    frame = frame[frame["run_id"] == run.id]
    if frame.empty:
        return "final"
    metrics = metrics_frame(store, run.experiment_id)
    return "best" if bool(keeps_best(frame, metrics[metrics["run_id"] == run.id]).iloc[0]) else "final"


def load(store: Store, run_id: str, device: str = "cpu") -> Loaded:
    """Rebuild a finished grid run's delivered model on `device`."""
    import torch

    from training.core import checkpoint
    from training.core.strategies import get_strategy
    from training.service.execution import run_base
    from training.service.planning import strategy_configs

    try:
        run = store.run(run_id)
    except KeyError:
        raise HeadStartError(f"no run {run_id!r} in this store") from None
    if run.role != Role.GRID or run.status != Status.DONE:
        raise HeadStartError(f"run {run_id} is {'a ' + run.role + ' run' if run.role != Role.GRID else run.status}: "
                             "only a finished grid run has a model to answer with")
    cfg = store.experiment_config(run.experiment_id)
    kind = task_kind(cfg.task)
    weights = delivered_weights(store, run)
    ckpt = store.run_dir(run.id) / "checkpoint"
    source = checkpoint.best_dir(ckpt) if weights == "best" else ckpt
    if not (source / checkpoint.WEIGHTS).is_file():
        raise HeadStartError(f"run {run_id} kept no weights ({source} is missing; the experiment may have been run "
                             "with train.keep_checkpoint off, or its checkpoints were removed)")
    sc = strategy_configs(cfg)[run.strategy]
    strategy = get_strategy(dataclasses.replace(sc, lr=run.lr or sc.lr), kind)
    base_dir, processor = run_base(store, cfg, run)
    labels = store.experiment(run.experiment_id).info.get("label_names") or []
    model = kind.build_model(base_dir, pretrained=strategy.pretrained, num_labels=max(2, len(labels)), cfg=cfg.model,
                             seed=run.seed, load_kwargs=strategy.load_kwargs())
    strategy.prepare(model)
    checkpoint.load_weights(source, model)
    return Loaded(run, model.to(torch.device(device)), processor, weights)


def runs_of(store: Store, source: str, run_ids: list[str] | None = None) -> list[Run]:
    """The runs that answer for `source`: a run id; or an experiment id — its finished grid runs at the largest
    training-set size and the first seed (every strategy's delivered model), or the `run_ids` given."""
    if store.experiment(source) is None:
        try:
            return [store.run(source)]
        except KeyError:
            raise HeadStartError(f"{source!r} is neither a run nor an experiment in this store") from None
    grid = [r for r in store.runs(source) if r.role == Role.GRID]
    if run_ids:
        unknown = [r for r in run_ids if r not in {g.id for g in grid}]
        if unknown:
            raise HeadStartError(f"run {unknown[0]} is not a grid run of experiment {source}")
        return [r for r in grid if r.id in run_ids]
    done = [r for r in grid if r.status == Status.DONE]
    if not done:
        raise HeadStartError(f"experiment {source} has no finished grid run to answer with")
    n, seed = max(r.n_train for r in done), min(r.seed for r in done)
    return [r for r in done if r.n_train == n and r.seed == seed]


def predict(store: Store, source: str, inputs: list, run_ids: list[str] | None = None) -> dict:
    """Every chosen run's answer to every input: {"predictions": [{"input", "by": {run_id: {...}}}]}."""
    if not inputs:
        raise HeadStartError("there is nothing to answer: the input is empty")
    by_run = {}
    for run in runs_of(store, source, run_ids):
        loaded = load(store, run.id)
        cfg = store.experiment_config(run.experiment_id)
        labels = store.experiment(run.experiment_id).info.get("label_names") or []
        answers = task_kind(cfg.task).predict(loaded.model, loaded.processor, inputs, cfg, labels)
        by_run[run.id] = (run, loaded.weights, answers)
    return {"predictions": [
        {"input": x, "by": {rid: {"strategy": run.strategy, "n_train": run.n_train, "seed": run.seed,
                                  "weights": weights, **answers[i]}
                            for rid, (run, weights, answers) in by_run.items()}}
        for i, x in enumerate(inputs)]}


def read_inputs(path: Path, column: str | None = None) -> list[str]:
    """Inputs from a file: one text per line (.txt), a CSV's `column` (else its only column), or JSON lines (strings,
    or objects with `column`). Errors name the file and what it lacks."""
    import csv
    import json

    path = Path(path)
    if not path.is_file():
        raise HeadStartError(f"{path} does not exist")
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows:
            raise HeadStartError(f"{path.name} has no rows under its header")
        names = list(rows[0])
        key = column if column in names else (names[0] if len(names) == 1 else None)
        if key is None:
            raise HeadStartError(f"{path.name} has no column {column!r} (its columns: {', '.join(names)}); "
                                 "name the input column with --column")
        return [r[key] or "" for r in rows]
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                raise HeadStartError(f"{path.name}, line {i}: not JSON") from None
            if isinstance(value, dict):
                if column not in value:
                    raise HeadStartError(f"{path.name}, line {i}: no {column!r} field")
                value = value[column]
            out.append(str(value))
        return out
    return [line for line in text.splitlines() if line.strip()]
