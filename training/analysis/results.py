"""One row per run, for export and for the pages: what a run cost and what it reached."""
from __future__ import annotations

from training.service.store import Store
from training.tasks import task_kind

EXPORT_COLUMNS = [
    "run_id", "role", "strategy", "n_train", "seed", "status", "metric", "eval_metric", "eval_macro_f1", "eval_loss",
    "eval_mae", "eval_r2", "best_step", "eval_metric_best", "eval_macro_f1_best", "eval_loss_best", "eval_mae_best",
    "eval_r2_best", "stopped_early",
    "probe", "probe_baseline", "probe_final", "forgetting", "forgetting_best", "wall_s", "flops", "peak_mem_bytes",
    "trainable_params", "steps", "examples", "lr", "error",
]
"""eval_*: the eval set at the end of training; *_best: at the run's best checkpoint (lowest validation loss). mae and r2:
regression only (the metric there is rmse); macro_f1: classification only.
Learning-rate search runs (role lr-sweep) are scored on the validation set only."""


def run_rows(store: Store, exp_id: str) -> list[dict]:
    cfg = store.experiment_config(exp_id)
    metric = task_kind(cfg.task).metric
    rows = []
    for r in store.runs(exp_id):
        res = r.result
        ev, best = res.get("eval", {}), res.get("eval_best", {})
        probe_key = next(iter(res.get("probe_final", {})), None)
        rows.append({
            "run_id": r.id, "role": str(r.role), "strategy": r.strategy, "n_train": r.n_train, "seed": r.seed,
            "status": str(r.status), "metric": metric, "eval_metric": ev.get(metric),
            "eval_macro_f1": ev.get("macro_f1"), "eval_loss": ev.get("loss"), "eval_mae": ev.get("mae"),
            "eval_r2": ev.get("r2"), "best_step": res.get("best_step"),
            "eval_metric_best": best.get(metric), "eval_macro_f1_best": best.get("macro_f1"),
            "eval_loss_best": best.get("loss"), "eval_mae_best": best.get("mae"), "eval_r2_best": best.get("r2"),
            "stopped_early": res.get("stopped_early"),
            "forgetting_best": res.get("forgetting_best", {}).get(probe_key) if probe_key else None,
            "probe": probe_key,
            "probe_baseline": res.get("probe_baseline", {}).get(probe_key) if probe_key else None,
            "probe_final": res.get("probe_final", {}).get(probe_key) if probe_key else None,
            "forgetting": res.get("forgetting", {}).get(probe_key) if probe_key else None,
            "wall_s": res.get("wall_s"), "flops": res.get("flops"), "peak_mem_bytes": res.get("peak_mem_bytes"),
            "trainable_params": res.get("trainable_params"), "steps": res.get("steps"),
            "examples": res.get("examples"), "lr": res.get("lr"), "error": r.error,
        })
    return rows
