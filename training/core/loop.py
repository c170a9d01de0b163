"""The one training loop, shared by every strategy and task kind.

Sections: setup → (resume) → baseline eval → per phase: optimizer, schedule, steps → final eval.
A step is: micro-batches of forward/backward under optional bf16 autocast, gradient clipping, an
optimizer and scheduler step. Losses stay on the device between logs; `.item()` (a host sync) runs
only at eval/log points. Wall time counts training only: evaluation and probes are excluded.

Model selection never looks at the eval set: evaluations during training score the *validation* set
(`val/*` rows). The best checkpoint is the one with the best validation value of the task's headline
metric (accuracy for classification, ties to the lower loss; loss for language models) — the metric that
is reported, so a run whose loss rises from over-confidence while its accuracy still improves is not cut
short. A run that trains until a plateau anneals and stops once neither its validation metric nor its
validation loss has improved for `patience` evaluations. At the end the eval set is scored twice — with
the final weights (`eval/*` rows) and with the best checkpoint's — and both are returned, with the
lowest validation loss seen (what the learning-rate search and the effective-data fit compare).
"""
from __future__ import annotations

import contextlib
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import torch

from training.config import OptimConfig
from training.core import checkpoint
from training.core.accounting import FlopCounter, device_peak_flops
from training.core.control import Cancelled, NullControl
from training.core.data.tokenize import Examples, length_sorted_batches, stream_indices
from training.core.evaluate import eval_mode, reorder_items
from training.core.models import Structure, count_params, structure
from training.core.optim import PlateauSchedule, make_optimizer, make_scheduler
from training.core.probes import Probe
from training.core.strategies import Strategy

DIVERGED = 1.5
"""A run that stops when it diverges (a learning-rate search candidate) does so once its mean training loss since the
last evaluation is NaN or above this many times the first one it logged."""

# Test hook for the out-of-memory path (tests set it): raise as a GPU would when a micro-batch exceeds this size.
_OOM_ABOVE = 0


@dataclass
class RunSetup:
    """Everything one run needs; built by `training.service.execution`."""
    kind: object
    """The task kind (`training.tasks.TaskKind`): its loss, metrics and FLOPs per batch."""
    strategy: Strategy
    model: torch.nn.Module
    structure: Structure
    pad_id: int
    train: Examples
    eval: Examples
    """The eval (test) set: scored only at the end, with the final and with the best weights."""
    n_classes: int
    probes: list[Probe]
    seed: int
    total_steps: int
    batch_size: int
    micro_batch_size: int
    optim: OptimConfig
    weight_decay: float
    eval_every: int
    checkpoint_every: int
    probe_every_eval: bool
    device: torch.device
    bf16: bool
    compile: bool
    ckpt_dir: Path
    keep_checkpoint: bool = True
    eval_at_start: bool = True
    starts_from_base: bool = False
    """The model before its first update equals the base (pretrained, not quantised): step-0 probes are the baseline."""
    probe_baselines: dict[str, float] = field(default_factory=dict)
    validation: Examples | None = None
    """Scored at every evaluation during training; picks the best checkpoint (None: the eval set does)."""
    select: tuple[str, bool] = ("val/loss", False)
    """(validation key, higher is better) that picks the best checkpoint."""
    patience: int | None = None
    """Train until a plateau: after this many evaluations in a row without a new best validation loss, anneal
    and stop (None: train the fixed steps). `total_steps` is then the cap."""
    base_steps: int | None = None
    """A plateau run's policy steps (its warmup is a fraction of these, not of the cap)."""
    score_eval: bool = True
    """Score the eval set at the end (final and best weights). False for learning-rate search runs, which are
    judged on validation alone."""
    save_best: bool = True
    """Keep the best checkpoint's weights (a search candidate keeps them too: its run may become a grid run)."""
    stop_at: int | None = None
    """A learning-rate search candidate: train to this step (the rung), validate, checkpoint and stop there. Its
    schedule, evaluations and plateau rule are still those of `total_steps`, so the grid run can continue it from
    the checkpoint exactly as if it had never stopped (the rung's validation is logged but decides nothing in it)."""
    stop_diverged: bool = False
    """Stop, instead of failing, once the training loss is NaN or climbs above DIVERGED × its first logged value."""
    samples: dict = field(default_factory=dict)
    """Chat: held-out prompts answered during and after training (`training.tasks.chat.samples`): `validation` at every
    evaluation, `general` with the probes, `eval` at the end."""


class FeatureExamples:
    """Cached pooled features of a frozen encoder (head-only training), batched like Examples."""

    def __init__(self, features: torch.Tensor, labels: np.ndarray):
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def collate(self, idx, pad_id, device):
        idx = np.asarray(list(idx))
        return {"features": self.features[torch.from_numpy(idx).to(self.features.device)],
                "labels": torch.from_numpy(self.labels[idx]).to(device)}


def _batches(data, size: int, pad_id: int, device):
    """Eval batches in length order (order does not change the metrics; padding is minimal)."""
    for idx in length_sorted_batches(data, size):
        yield data.collate(idx, pad_id, device)


def _memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(psutil.Process().memory_info().rss)


def train(run: RunSetup, sink, control=None) -> dict:
    """Train one run to completion (or until cancelled); returns its result summary."""
    control = control or NullControl()
    model, device = run.model, run.device
    kind = run.kind
    model.to(device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if run.bf16 else contextlib.nullcontext
    phases = run.strategy.phases(run.total_steps)
    accumulation = run.batch_size // run.micro_batch_size
    peak_flops = device_peak_flops(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    # -- state: fresh, or restored from the last checkpoint ------------------------------------------
    st = {"step": 0, "examples": 0, "wall_s": 0.0, "flops": 0.0, "peak_mem": 0,
          "best_loss": math.inf, "best_score": [-math.inf, -math.inf], "best_step": 0, "bad_evals": 0,
          "decay_start": None, "plateaued": False, "first_train_loss": None, "seen_best": None,
          "finished": False}
    saved = checkpoint.load_state(run.ckpt_dir) if checkpoint.exists(run.ckpt_dir) else None
    if saved is not None:
        st.update({k: saved.get(k, st[k]) for k in st})
        phase_now = next((p for p in phases if p.start <= st["step"] < p.end), phases[-1])
        run.strategy.enter_phase(model, phase_now)
        checkpoint.load_weights(run.ckpt_dir, model)
        checkpoint.set_rng_state(saved["rng"])
        sink.truncate(after_step=st["step"])  # rows logged after the checkpoint are rewritten identically
        sink.event("resumed", f"resumed from step {st['step']}", {"step": st["step"]})
    else:
        torch.manual_seed(run.seed)

    # -- head-only: encode the training subset, validation and eval sets once with the frozen encoder --
    train_data, eval_data, val_data = run.train, run.eval, run.validation if run.validation is not None else run.eval
    if run.strategy.cache_features:
        (train_data, val_data, eval_data), cache_flops, cache_s = _cache_features(run, autocast, val_data)
        if saved is None:  # encoding the training set once is part of head-only training's cost
            st["flops"] += cache_flops
            st["wall_s"] += cache_s

    train_lengths = train_data.lengths if isinstance(train_data, Examples) else None

    def score(data, prefix: str, items: dict | None = None) -> dict:
        metrics = kind.evaluate(model, _batches(data, 2 * run.batch_size, run.pad_id, device), run.n_classes, autocast,
                                items)
        return {f"{prefix}/{k}": v for k, v in metrics.items()}

    def measure_probes(step: int) -> dict:
        values = {}
        for probe in run.probes:
            # The encoder is bit-identical to the base before the first update of a pretrained run
            # and throughout a frozen-encoder run: its probe value *is* the baseline, measured once.
            same_as_base = (step == 0 and run.starts_from_base) or run.strategy.cache_features
            if same_as_base and probe.key in run.probe_baselines:
                values[probe.key] = run.probe_baselines[probe.key]
            else:
                values[probe.key] = probe.measure(model, device, autocast)
        return values

    def log_eval(step: int, probes: bool) -> dict:
        values = score(val_data, "val")
        if "validation" in run.samples:
            values["val/rouge_l"] = run.samples["validation"].log(sink, model, device, autocast, step)
        if probes:
            values.update(measure_probes(step))
            if "general" in run.samples:
                run.samples["general"].log(sink, model, device, autocast, step)
        key, higher = run.select
        if math.isfinite(values["val/loss"]) and math.isfinite(values.get(key, math.nan)):
            seen = [values[key] if higher else -values[key], -values["val/loss"]]
            if st["seen_best"] is None or seen > st["seen_best"]:  # every evaluation's, the rung's included
                st["seen_best"] = seen
        st["peak_mem"] = max(st["peak_mem"], _memory_bytes(device))
        values["sys/peak_mem_bytes"] = st["peak_mem"]
        sink.log(step, st["examples"], st["wall_s"], st["flops"], values)
        return values

    if saved is None and run.eval_at_start:
        log_eval(0, probes=True)
    last_eval: dict = {}
    last_logged_step = st["step"]
    # Mean train loss since the last log; restored on resume so the first resumed log is unchanged.
    train_loss_sum = torch.full((), saved["loss_sum"] if saved else 0.0, device=device)
    train_loss_count = saved["loss_count"] if saved else 0
    trainable, total_params = count_params(model)

    halt = None  # why a run stopped before its schedule ended: "rung" or "diverged"
    for pi, phase in enumerate(phases):
        if phase.end <= st["step"] or st["finished"] or halt:
            continue
        plateau = None
        if run.patience and pi == len(phases) - 1:  # train until a plateau: warmup, constant, decay when it stops improving
            warmup = round(run.optim.warmup_fraction * (run.base_steps or phase.end - phase.start))
            plateau = PlateauSchedule(warmup, phase.end - phase.start, decay_start=st["decay_start"])
        run.strategy.enter_phase(model, phase)
        model.train()
        freeze_frozen_norms(model)
        if run.strategy.cache_features:
            model.backbone.eval()  # frozen encoder: no dropout (it does not run per step anyway)
        optimizer = make_optimizer(run.strategy.param_groups(model, phase, run.weight_decay), run.optim, device)
        scheduler = (torch.optim.lr_scheduler.LambdaLR(optimizer, plateau) if plateau is not None
                     else make_scheduler(optimizer, phase.end - phase.start, run.optim))
        if saved is not None and saved.get("phase") == pi and saved["step"] > phase.start:
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
        counter = FlopCounter(model, run.structure)
        trainable = max(trainable, count_params(model)[0])
        params = [p for g in optimizer.param_groups for p in g["params"]]
        forward = torch.compile(model) if run.compile else model
        pad = {"multiple": 16} if run.compile and isinstance(train_data, Examples) else {}

        for step in range(max(phase.start, st["step"]), phase.end):
            # -- one optimizer step -----------------------------------------------------------------
            t0 = time.perf_counter()
            idx = stream_indices(len(train_data), run.seed, step * run.batch_size, run.batch_size,
                                 train_lengths, run.batch_size)
            for micro in np.array_split(idx, accumulation):
                if _OOM_ABOVE and len(micro) > _OOM_ABOVE:
                    raise torch.OutOfMemoryError(f"test hook: micro-batch {len(micro)} > {_OOM_ABOVE}")
                batch = train_data.collate(micro, run.pad_id, device, **pad)
                with autocast():
                    logits = forward(**{k: v for k, v in batch.items() if k != "labels"})
                loss = kind.loss(logits, batch) / accumulation
                loss.backward()
                train_loss_sum += loss.detach()
                st["flops"] += kind.batch_flops(counter, micro, train_data, run.strategy.cache_features)
            if run.optim.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, run.optim.grad_clip)
            optimizer.step()
            lr_used = max(g["lr"] for g in optimizer.param_groups)  # the top group's (discriminative: head)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            train_loss_count += 1
            st["step"] = step + 1
            st["examples"] += run.batch_size
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # so wall time is the step's, not its launch's
            st["wall_s"] += time.perf_counter() - t0
            control.beat()

            # -- log, evaluate on validation, keep the best, anneal at a plateau, checkpoint -----------------
            done = st["step"] == (phase.start + plateau.end() if plateau is not None else run.total_steps)
            at_eval = st["step"] % run.eval_every == 0 or done
            rung = run.stop_at is not None and st["step"] >= run.stop_at and not done
            if (rung or at_eval) and run.stop_diverged:
                train_loss = (train_loss_sum / max(train_loss_count, 1)).item()
                halt = "diverged" if _diverged(run, st, train_loss) else None
            if rung and not at_eval and not halt:  # the rung's validation: logged, and deciding nothing within this run
                last_eval = log_eval(st["step"], probes=False)
            if at_eval and not halt:
                train_loss = (train_loss_sum / max(train_loss_count, 1)).item()  # host sync
                if not math.isfinite(train_loss):
                    raise FloatingPointError(f"training loss became {train_loss} at step {st['step']}; "
                                             f"lower the learning rate (now {phase.lr:g}) or enable clipping")
                if st["first_train_loss"] is None:
                    st["first_train_loss"] = train_loss
                values = {"train/loss": train_loss, "train/lr": lr_used}
                if peak_flops and st["wall_s"] > 0:
                    values["sys/mfu"] = st["flops"] / st["wall_s"] / peak_flops
                sink.log(st["step"], st["examples"], st["wall_s"], st["flops"], values)
                if done:  # Live's phase label: the steps are over, the last validation (and probes) run now
                    sink.event("phase", "probing" if run.probes else "evaluating", {"step": st["step"]})
                last_eval = log_eval(st["step"], probes=run.probe_every_eval or done)
                key, higher = run.select
                ranking = [last_eval[key] if higher else -last_eval[key], -last_eval["val/loss"]]
                better_score, better_loss = ranking > st["best_score"], last_eval["val/loss"] < st["best_loss"]
                # Only the last phase's weights are whole checkpoints (LP-FT's probe phase trains the head alone:
                # its head on the final encoder would be neither model).
                better_score &= pi == len(phases) - 1
                if better_score:
                    st.update(best_score=ranking, best_step=st["step"])
                    if run.save_best:
                        checkpoint.save_best(run.ckpt_dir, model, st["step"])
                if better_loss:
                    st["best_loss"] = last_eval["val/loss"]
                st["bad_evals"] = 0 if better_score or better_loss else st["bad_evals"] + 1
                if plateau is not None and plateau.decay_start is None and not done and st["bad_evals"] >= run.patience:
                    plateau.start_decay(st["step"] - phase.start)
                    st.update(decay_start=plateau.decay_start, plateaued=True)
                    sink.event("plateau", f"validation {key.removeprefix('val/')} and loss have not improved for "
                               f"{st['bad_evals']} evaluations: "
                               f"annealing the learning rate to 0 until step {phase.start + plateau.end()} (cap "
                               f"{run.total_steps}); best so far at step {st['best_step']}",
                               {"step": st["step"], "best_step": st["best_step"], "end": phase.start + plateau.end(),
                                "cap": run.total_steps})
                train_loss_sum.zero_()
                train_loss_count = 0
                last_logged_step = st["step"]
            st["finished"] = done
            if halt == "diverged":
                sink.event("diverged", f"stopped at step {st['step']}: the training loss "
                           f"({train_loss:.4g}) is NaN or above {DIVERGED}× its first value", {"step": st["step"]})
                break
            halt = halt or ("rung" if rung else None)
            stop = not done and not halt and control.should_stop()
            if done or stop or halt or st["step"] % run.checkpoint_every == 0:
                if done:
                    sink.event("phase", "checkpointing", {"step": st["step"]})
                _save(run, model, st, pi, optimizer, scheduler, (train_loss_sum.item(), train_loss_count), export=done)
            if stop:
                raise Cancelled(f"cancelled at step {st['step']}")
            if halt:
                sink.event("rung", f"reached the search's rung at step {st['step']}", {"step": st["step"]})
                break
            if done:
                break

    # -- final: the eval set, with the final weights and with the best checkpoint's ------------------------
    if not last_eval:  # resumed from the final checkpoint of a run that stopped before recording it
        last_eval = measure_probes(st["step"])
    probes_now = {k: v for k, v in last_eval.items() if k.startswith("probe/")}
    eval_items: dict[str, dict] = {}

    def score_eval_set(step: int, weights: str) -> dict:
        items: dict = {}
        values = score(eval_data, "eval", items)
        # Each example's outcome, in the eval set's own order: the split depends on the data and data.split_seed
        # only (never on the run's seed, size or strategy; a table refits its preprocessing on the same eval rows),
        # so position i is the same example in every run of an experiment — what makes a paired bootstrap valid.
        order = np.concatenate(length_sorted_batches(eval_data, 2 * run.batch_size))
        eval_items["end" if weights == "final" else weights] = reorder_items(items, order)
        if "eval" in run.samples:
            values["eval/rouge_l"] = run.samples["eval"].log(sink, model, device, autocast, step, weights)
        return values

    if run.score_eval:
        sink.event("phase", "evaluating", {"step": st["step"]})
        final = {**score_eval_set(st["step"], "final"), **probes_now}
        sink.log(st["step"], st["examples"], st["wall_s"], st["flops"], {k: v for k, v in final.items() if k.startswith("eval/")})
    else:  # a learning-rate search run: scored on validation only, the eval set stays unseen
        final = {**{k: v for k, v in last_eval.items() if k.startswith("val/")}, **probes_now}
    best = {"step": st["step"], "final": final}
    if run.score_eval and 0 < st["best_step"] < st["step"] and checkpoint.has_best(run.ckpt_dir, st["best_step"]):
        checkpoint.load_best(run.ckpt_dir, model)
        best = {"step": st["best_step"], "final": {**score_eval_set(st["best_step"], "best"),
                                                   **measure_probes(st["best_step"])}}
    result = {
        "steps": st["step"], "examples": st["examples"], "wall_s": st["wall_s"], "flops": st["flops"],
        "peak_mem_bytes": st["peak_mem"], "trainable_params": trainable, "params": total_params,
        "final": final, "best": best, "best_val_loss": st["best_loss"] if math.isfinite(st["best_loss"]) else None,
        "stopped_early": st["plateaued"], "last_logged_step": last_logged_step,
        "diverged": halt == "diverged", "at_rung": halt == "rung",
        "best_val": _best_val(run, st["seen_best"]),
        "eval_examples": len(eval_data), "validation_examples": len(val_data),
    }
    if eval_items:  # "end", and "best" where the best checkpoint was scored apart from the end
        result["eval_items"] = eval_items
    if not run.keep_checkpoint:
        shutil.rmtree(run.ckpt_dir, ignore_errors=True)
        shutil.rmtree(checkpoint.best_dir(run.ckpt_dir), ignore_errors=True)
    return result


def _best_val(run: RunSetup, seen: list[float] | None) -> dict | None:
    """The best validation value of the headline metric over every evaluation, with the loss at that evaluation."""
    if seen is None:
        return None
    key, higher = run.select
    return {key.removeprefix("val/"): seen[0] if higher else -seen[0], "loss": -seen[1]}


def _diverged(run: RunSetup, st: dict, train_loss: float) -> bool:
    """A run that stops when it diverges has: its training loss is NaN or far above its first logged value."""
    if not run.stop_diverged:
        return False
    first = st["first_train_loss"]
    return not math.isfinite(train_loss) or (first is not None and train_loss > DIVERGED * first)


def freeze_frozen_norms(model) -> None:
    """Batch-norm layers whose parameters are all frozen keep their running statistics (eval mode): a frozen
    layer should not change, and head-only, freeze and LoRA runs on a CNN would otherwise still retrain its
    normalisation from the new data. Layer norms have no running statistics; this leaves them alone."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()


def _save(run: RunSetup, model, st: dict, phase_index: int, optimizer, scheduler, loss_acc: tuple[float, int],
          export: bool) -> None:
    state = dict(st, phase=phase_index, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                 rng=checkpoint.rng_state(), loss_sum=loss_acc[0], loss_count=loss_acc[1])
    checkpoint.save(run.ckpt_dir, model, state, export_adapter=export)


@torch.no_grad()
def _cache_features(run: RunSetup, autocast, validation) -> tuple[tuple, float, float]:
    """Pooled features of the training subset, validation and eval sets; FLOPs and seconds of encoding the
    training subset (the part of the encoding that belongs to training's cost)."""
    model = run.model
    out, seconds = [], []
    with eval_mode(model):
        for data in (run.train, validation, run.eval):
            t0 = time.perf_counter()
            feats = None
            for idx in length_sorted_batches(data, 2 * run.batch_size):
                batch = data.collate(idx, run.pad_id, run.device)
                with autocast():
                    f = model.embed(**{k: v for k, v in batch.items() if k != "labels"}).float()
                if feats is None:
                    feats = torch.empty(len(data), f.shape[1], device=f.device)
                feats[torch.from_numpy(idx).to(f.device)] = f
            out.append(FeatureExamples(feats, data.labels))
            if run.device.type == "cuda":
                torch.cuda.synchronize(run.device)
            seconds.append(time.perf_counter() - t0)
    encoder_flops = run.kind.encode_flops(FlopCounter(model, run.structure), run.train)
    return tuple(out), encoder_flops, seconds[0]  # the training subset's pass only


def time_training_step(model, kind, strategy, data, pad_id: int, device: torch.device, k: int, optim: OptimConfig,
                       weight_decay: float, bf16: bool = False, min_seconds: float = 0.5,
                       max_repeats: int = 20) -> tuple[float, float]:
    """(seconds, training FLOPs) of one optimizer step on the first `k` training examples of `data` with `model` as the
    strategy trains it (its last phase): the median of at least two steps after a warm-up one, more for a fast model
    (until `min_seconds` have passed, at most `max_repeats`) so a millisecond step is not one noisy sample. How fast
    this model trains on this machine, for planning's time estimate. The model's weights change: use a throwaway."""
    model.to(device)
    phase = strategy.phases(2)[-1]
    strategy.enter_phase(model, phase)
    model.train()
    optimizer = make_optimizer(strategy.param_groups(model, phase, weight_decay), optim, device)
    counter = FlopCounter(model, structure(model))
    idx = np.arange(min(k, len(data)))
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    times: list[float] = []
    while len(times) < 3 or (sum(times[1:]) < min_seconds and len(times) <= max_repeats):
        t0 = time.perf_counter()
        batch = data.collate(idx, pad_id, device)
        with autocast():
            logits = model(**{key: v for key, v in batch.items() if key != "labels"})
        kind.loss(logits, batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:])), kind.batch_flops(counter, idx, data, False)
