"""A finished run's delivered model, rebuilt from its checkpoint, answering new inputs (`python -m training predict`).

The delivered weights are those the tables score as the run's *final model* (`analysis.frames.keeps_best`, the one
rule): its last weights, or its best checkpoint where validation shows that one clearly better. The model is built as
its run built it (the kind, base, strategy and options of the experiment's config) and takes the checkpoint's
trainable weights; everything frozen is the base's. So a run answers its own eval inputs exactly as it scored them.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from training.config import ExperimentConfig
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
    cfg: ExperimentConfig  # its experiment's
    labels: list[str]  # the experiment's label names, in the model's output order


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
    base_dir, processor = run_base(store, cfg, run, own=strategy.own_model)
    if strategy.own_model:  # it read as much of each example as its own base does (a bag of words: whole texts)
        cfg = dataclasses.replace(cfg, model=kind.own_model_config(base_dir, cfg.model))
    labels = store.experiment(run.experiment_id).info.get("label_names") or []
    extra = {}
    if kind.refits_per_run:  # tables: the run's preprocessing, fitted again on its own training rows (deterministic)
        data = kind.prepare_data(cfg.data, processor, cfg.model.max_length, store.cache_dir)
        processor, extra = kind.run_processor(data, cfg, run.n_train, run.seed)
    model = kind.build_model(base_dir, pretrained=strategy.pretrained, num_labels=max(2, len(labels)),
                             cfg=strategy.model_config(cfg.model), seed=run.seed, load_kwargs=strategy.load_kwargs(),
                             **extra)
    strategy.prepare(model)
    checkpoint.load_weights(source, model)
    return Loaded(run, model.to(torch.device(device)), processor, weights, cfg, labels)


BASE = "base"
"""The run id Try it asks for a chat experiment's base model (before any fine-tuning), answering beside the runs."""


def load_base(store: Store, exp_id: str, device: str = "cpu") -> Loaded:
    """A chat experiment's base model as it was before training, in the form of a loaded run (strategy "base model")."""
    import torch

    from training.service.records import Status as S

    cfg = store.experiment_config(exp_id)
    kind = task_kind(cfg.task)
    if not kind.generations:
        raise HeadStartError(f"only a chat experiment answers with its base model ({cfg.task} does not)")
    base_dir = kind.resolve_base(cfg.model.base)
    processor = kind.load_processor(base_dir, cfg.model)
    model = kind.build_model(base_dir, pretrained=True, num_labels=2, cfg=cfg.model, seed=0)
    run = Run(id=BASE, experiment_id=exp_id, seq=-1, strategy="base model", n_train=0, seed=0, status=S.DONE,
              role=Role.GRID, created_at=0.0)
    return Loaded(run, model.to(torch.device(device)), processor, "pretrained", cfg, [])


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


def exported_meta(folder: Path) -> dict:
    """An exported folder's headstart.json, checked for what predict reads first (a mapping naming its task, its
    labels, its run — its id, strategy, size, seed and weights — and config as a mapping). Every file of the folder
    is checked first (`exported.check_files`: regular files inside it, bounded), before any is opened."""
    from training.tasks.exported import check_files, read_json

    check_files(folder)
    try:
        meta = read_json(folder, META)
    except HeadStartError:
        meta = None
    run = meta.get("run") if isinstance(meta, dict) else None
    if not (isinstance(meta, dict) and isinstance(meta.get("task"), str) and isinstance(meta.get("config"), dict)
            and isinstance(run, dict) and isinstance(run.get("run_id"), str)
            and {"strategy", "n_train", "seed", "weights"} <= set(run)
            and isinstance(meta.get("labels", []), list) and all(isinstance(x, str) for x in meta.get("labels", []))):
        raise HeadStartError(f"{folder / META} is not what export-model writes (a mapping naming the task, its labels, "
                             "the run and its config): export the model again")
    return meta


@dataclass
class Answerer:
    """One model answering inputs, under what `predict` says of its run (`_about`)."""
    about: dict
    kind: object
    model: object
    processor: object
    cfg: ExperimentConfig
    labels: list[str]

    @classmethod
    def of(cls, m: Loaded) -> "Answerer":
        return cls(_about(m.run, m.weights), task_kind(m.cfg.task), m.model, m.processor, m.cfg, m.labels)


def answerers(store: Store | None, source: str, run_ids: list[str] | None = None) -> list[Answerer]:
    """The models that answer for `source`: an experiment or run id in `store` (see `runs_of`), or a folder
    `export_model` wrote (it answers under the run id it came from)."""
    folder = Path(source)
    if (folder / META).is_file():
        meta = exported_meta(folder)
        kind = task_kind(meta["task"])
        model, processor, _ = kind.load_exported(folder)
        return [Answerer(meta["run"], kind, model, processor, ExperimentConfig.from_dict(meta["config"]),
                         meta.get("labels", []))]
    if store is None:
        raise HeadStartError(f"{source} is not an exported model folder (it has no {META}); give --store to "
                             "answer with an experiment or run")
    return [Answerer.of(load(store, run.id)) for run in runs_of(store, source, run_ids)]


def predict(store: Store | None, source: str, inputs: list, run_ids: list[str] | None = None) -> dict:
    """Every chosen run's answer to every input: {"predictions": [{"input", "by": {run_id: {...}}}]} (see
    `answerers` for `source`)."""
    if not inputs:
        raise HeadStartError("there is nothing to answer: the input is empty")
    return {"predictions": answer_inputs(answerers(store, source, run_ids), inputs)}


def answer(models: list[Loaded], inputs: list) -> dict:
    """Each loaded model's answers to the inputs, in `predict`'s form (also what Try it's predictor answers)."""
    return {"predictions": answer_inputs([Answerer.of(m) for m in models], inputs)}


def answer_inputs(models: list[Answerer], inputs: list) -> list[dict]:
    """[{"input", "by": {run_id: {strategy, n_train, seed, weights, and its answer}}}], one per input."""
    by_run = {m.about["run_id"]: (m.about, m.kind.predict(m.model, m.processor, inputs, m.cfg, m.labels))
              for m in models}
    return [{"input": x, "by": {rid: {**{k: about[k] for k in ("strategy", "n_train", "seed", "weights")}, **answers[i]}
                                for rid, (about, answers) in by_run.items()}}
            for i, x in enumerate(inputs)]


def write_predictions(models: list[Answerer], batches, fmt: str, out, name: str, unit: str = "input") -> int:
    """Answer each batch of inputs (`inputs.input_batches`) and write its predictions as they come — JSON
    ({"predictions": [...]}) or CSV (one row per input and run) — into a spool file that reaches `out` only once every
    input is answered, so a bad input halfway writes nothing. An input a model refuses is named by its position in the
    file (`unit` 1, 2, …). Returns how many inputs were answered."""
    import csv
    import shutil
    import tempfile
    import textwrap

    n, writer, labels = 0, None, []
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        for chunk in batches:
            items = _answer_located(models, chunk, n, name, unit)
            if fmt == "json":
                spool.write(('{\n  "predictions": [\n' if n == 0 else ",\n")
                            + ",\n".join(textwrap.indent(json.dumps(p, indent=2), "    ") for p in items))
            else:
                if writer is None:  # every classifier scores every class: the first batch names them all
                    labels = sorted({c for p in items for a in p["by"].values() for c in a.get("scores", {})})
                    writer = csv.writer(spool)
                    writer.writerow(["input", "run_id", "strategy", "n_train", "seed", "weights", "label", "value",
                                     *(f"p_{x}" for x in labels)])
                for p in items:
                    for rid, a in p["by"].items():
                        shown = json.dumps(p["input"]) if isinstance(p["input"], dict | list) else p["input"]
                        writer.writerow([shown, rid, a["strategy"], a["n_train"], a["seed"], a["weights"],
                                         a.get("label", ""), a.get("value", ""),
                                         *(a.get("scores", {}).get(x, "") for x in labels)])
            n += len(chunk)
        if fmt == "json" and n:
            spool.write("\n  ]\n}\n")
        spool.seek(0)
        shutil.copyfileobj(spool, out)
    return n


def _answer_located(models: list[Answerer], chunk: list, start: int, name: str, unit: str) -> list[dict]:
    """`answer_inputs` of one batch; where a model refuses an input, the error names it by its place in the file (a
    kind numbers the inputs of the batch it was given: each is asked alone to find the one)."""
    import re

    try:
        return answer_inputs(models, chunk)
    except HeadStartError:
        for j, x in enumerate(chunk):
            try:
                answer_inputs(models, [x])
            except HeadStartError as e:
                said = str(e)
                rest = re.match(r"(?:row|input) 1(?!\d)(.*)", said, re.S)
                raise HeadStartError(f"{name}, {unit} {start + j + 1}" + (rest.group(1) if rest else f": {said}")) \
                    from None
        raise


META = "headstart.json"


def _about(run: Run, weights: str) -> dict:
    return {"run_id": run.id, "experiment_id": run.experiment_id, "strategy": run.strategy, "n_train": run.n_train,
            "seed": run.seed, "weights": weights, "lr": run.lr}


def export_model(store: Store, run_id: str, out: Path) -> Path:
    """Write a finished run's delivered model as a folder the user's own libraries load (the kind decides the files),
    with headstart.json (labels, how to pool, the run it came from, the experiment's config) and a README.md model
    card. Written into a new folder of its own beside `out` and renamed into place: a failure leaves nothing behind,
    and nothing the command did not create is ever removed (`out` may be a new path or an empty folder)."""
    import shutil
    import uuid

    out = Path(out)
    _check_out(out)
    created = _make_parents(out)
    try:
        tmp = out.with_name(f".{out.name[:100]}.{uuid.uuid4().hex[:12]}.partial")
        tmp.mkdir()  # a new name: fails rather than reuse anything that is there
    except OSError as e:
        _remove_empty(created)
        raise HeadStartError(f"--out {out}: cannot write beside it ({e.strerror or e})") from None
    try:
        loaded = load(store, run_id)
        run, cfg, labels = loaded.run, loaded.cfg, loaded.labels
        kind = task_kind(cfg.task)
        meta = kind.export(loaded.model, loaded.processor, tmp, labels, cfg)
        meta = {**meta, "task": cfg.task, "run": _about(run, loaded.weights), "config": cfg.to_dict()}
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(model_card(store, run, loaded.weights, meta, out), encoding="utf-8")
        _check_out(out)  # again: something may have appeared there while the model was written
        try:
            if out.is_dir():
                out.rmdir()  # empty (checked just above): the user's own folder to fill
            tmp.rename(out)
        except OSError as e:
            raise HeadStartError(f"--out {out}: cannot put the model there ({e.strerror or e}); choose a new folder") \
                from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise
    return out


def _check_out(out: Path) -> None:
    """`--out` must be a new path or an empty folder: never a file, a link or a folder holding anything."""
    try:
        _check_out_path(out)
    except OSError as e:  # a name longer than the file system allows, a folder that cannot be read, ...
        raise HeadStartError(f"--out {out}: {e.strerror or e}; choose "
                             "another folder (a name of at most 255 bytes in a folder you can write)") from None


def _check_out_path(out: Path) -> None:
    if out.is_symlink():
        raise HeadStartError(f"--out {out} is a symbolic link; choose a new folder (export-model writes only where it "
                             "creates the folder itself)")
    if out.exists() and not out.is_dir():
        raise HeadStartError(f"--out {out} is a file, not a folder; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise HeadStartError(f"{out} exists and is not empty; choose a new folder")
    if out.parent.exists() and not out.parent.is_dir():
        raise HeadStartError(f"--out {out}: {out.parent} is a file, not a folder; choose a new folder")


def _make_parents(out: Path) -> Path | None:
    """Create `out`'s missing parent folders; the topmost one created (None if all existed), to remove on failure."""
    top = None
    for parent in reversed(out.parents):
        if not parent.exists():
            top = top or parent
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _remove_empty(top)
        raise HeadStartError(f"--out {out}: cannot create {out.parent} ({e.strerror or e})") from None
    return top


def _remove_empty(top: Path | None) -> None:
    """Remove the folders `_make_parents` created under and including `top`, only while they are empty."""
    if top is None:
        return
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True) + [top]:
        try:
            folder.rmdir()
        except OSError:
            return


def model_card(store: Store, run: Run, weights: str, meta: dict, folder: Path) -> str:
    """The exported folder's README.md: what the model is, how it was trained and scored (with intervals), what it
    forgot, the experiment's recommendation and decision record, and how to load it."""
    from training.analysis.stats import wilson_interval

    exp = store.experiment(run.experiment_id)
    cfg = store.experiment_config(run.experiment_id)
    res = run.result or {}
    scored = res.get("eval_best" if weights == "best" else "eval") or {}
    n_eval = res.get("eval_examples")
    delivered = f"its best checkpoint (step {res.get('best_step')})" if weights == "best" else "its last weights"
    lines = ["---", f"tags: [head-start, {cfg.task}, {run.strategy}]",  # the hub's card metadata
             *([f"base_model: {cfg.model.base}"] if "/" in cfg.model.base and ":" not in cfg.model.base else []), "---", "",
             f"# {run.strategy} at N = {run.n_train} (seed {run.seed}) — Head Start experiment “{exp.name}”", "",
             f"Run `{run.id}` of experiment `{run.experiment_id}`; task {cfg.task}; base model `{cfg.model.base}`; "
             + (f"labels: {', '.join(meta['labels'])}." if meta.get("labels") else
                f"predicts `{cfg.data.label_column}`."), "",
             "## How it was trained", "",
             f"- strategy **{run.strategy}**, learning rate {res.get('lr', run.lr)}, "
             f"{res.get('steps', '?')} steps, batch {cfg.train.batch_size}, max length {cfg.model.max_length}",
             f"- delivered weights: **{delivered}** (the final model the experiment's tables score)",
             f"- training data: {run.n_train} examples of `{cfg.data.source}` (fingerprint "
             f"`{str(res.get('data_fingerprint', '?'))[:16]}`), seed {run.seed}", "",
             "## How it scored", ""]
    if "accuracy" in scored and n_eval:
        low, high = wilson_interval(float(scored["accuracy"]), int(n_eval))
        lines.append(f"- eval accuracy **{scored['accuracy']:.3f}** (95% interval {low:.3f}–{high:.3f}, Wilson, "
                     f"{n_eval} eval examples); macro-F1 {scored.get('macro_f1', float('nan')):.3f}")
    else:
        lines.append("- " + ", ".join(f"{k} {v:.4g}" for k, v in scored.items() if isinstance(v, int | float)))
    forgetting = res.get("forgetting_best" if weights == "best" else "forgetting") or {}
    before, after = res.get("probe_baseline") or {}, res.get("probe_best" if weights == "best" else "probe_final") or {}
    for key, value in forgetting.items():
        lines.append(f"- forgetting probe `{key}`: {before.get(key, float('nan')):.3f} before, "
                     f"{after.get(key, float('nan')):.3f} after (forgetting {value:.3f})")
    try:
        from training.analysis.report import analyse

        sentences = analyse(store, run.experiment_id).recommendation.sentences
    except Exception:  # noqa: BLE001 — the card is still useful without the recommendation
        sentences = []
    if sentences:
        lines += ["", "## The experiment's recommendation", "", *sentences]
    decision = store.decision(run.experiment_id)
    if decision is not None:
        lines += ["", "## Decision record", "", f"Question: {decision.question}"]
        if decision.signoff_by:
            lines.append(f"Signed off by {decision.signoff_by}.")
        lines += [f"- {c.author}: {c.body}" for c in decision.comments]
    kind = task_kind(cfg.task)
    snippet = kind.card_snippet(Path(folder.name), meta)
    if snippet:
        libraries, inputs = CARD_WORDS[kind.input_form]
        lines += ["", "## Load it", "",
                  f"With {libraries} (no Head Start needed), from the folder that holds `{folder.name}`:",
                  "", "```python", snippet, "```", "",
                  f"Or with Head Start: `python -m training predict {folder.name} --input {inputs}`."]
    return "\n".join(lines) + "\n"


CARD_WORDS = {"text": ("`transformers` and `safetensors`", "texts.txt"),
              "row": ("`torch`, `safetensors`, `numpy` and `pandas`", "rows.csv"),
              "image": ("`torch`, `numpy` and `Pillow`", "images.txt (one image path per line)"),
              "messages": ("`transformers`", "prompts.txt (one message per line, or JSON lines of {\"messages\": [...]})")}
"""Per kind of input: the libraries a model card's code loads the folder with, and the file `predict` reads."""
