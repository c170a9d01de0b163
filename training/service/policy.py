"""What a deployment allows: paths confined to configured folders, demo-mode caps and quotas, and
redaction of secrets from everything Head Start writes (store errors and events, reports, bundles).

Every check runs before an experiment is stored, so a refusal leaves nothing behind — and again where a run
starts (`check_run_start`, in the worker, before any data is read), so a resumed, recovered or imported run
cannot get around them.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from training.config import ExperimentConfig
from training.errors import HeadStartError
from training.settings import Settings


class PolicyError(HeadStartError, PermissionError):
    """The deployment's settings forbid this (a path outside the allowed folders, a demo cap, a quota)."""


def _is_local(source: str) -> bool:
    return not source.startswith(("builtin:", "hf:")) and source != "pretrain"


def confine(raw: str, roots: tuple[Path, ...], what: str) -> Path:
    """The resolved path, if it lies inside one of `roots` after following every symlink."""
    if ".." in Path(raw).parts:
        raise PolicyError(f"{what} {raw!r} contains '..'; give a path inside {_names(roots)}")
    resolved = Path(raw).expanduser().resolve(strict=False)
    for root in roots:
        r = root.expanduser().resolve(strict=False)
        if resolved == r or r in resolved.parents:
            return resolved
    raise PolicyError(f"{what} {raw!r} is outside the allowed folders ({_names(roots)}); upload the file instead, "
                      "or ask the operator to add its folder to HEADSTART_DATA_ROOTS / HEADSTART_MODEL_ROOTS")


def _names(roots) -> str:
    return ", ".join(str(r) for r in roots) or "(none configured)"


def check_sources(cfg: ExperimentConfig, settings: Settings, store_root: Path) -> None:
    """Before anything is read: in demo mode only allowed models and no hub datasets; data files, probe
    files and local model directories inside the allowed folders."""
    if settings.mode == "demo" and not is_exempt_preset(cfg, settings):
        if cfg.model.base not in settings.model_allowlist:
            raise PolicyError(f"this demo allows only these models: {', '.join(settings.model_allowlist)}")
        if any(s.startswith("hf:") for s in [cfg.data.source, cfg.data.eval_source or ""] + [p.source or "" for p in cfg.probes]):
            raise PolicyError("this demo does not download Hugging Face datasets; upload a file or use a built-in")
    if not settings.confined:
        return
    uploads = (store_root / "uploads",)
    data_roots = settings.data_roots or uploads
    model_roots = settings.model_roots or ()
    sources = [cfg.data.source] + ([cfg.data.eval_source] if cfg.data.eval_source else [])
    sources += [p.source for p in cfg.probes if p.source]
    if cfg.pretrain is not None:
        sources.append(cfg.pretrain.data.source)
    for s in sources:
        if _is_local(s):
            confine(s, data_roots, "data file")
    if _is_local(cfg.model.base):
        confine(cfg.model.base, model_roots, "model directory")


def is_exempt_preset(cfg: ExperimentConfig, settings: Settings) -> bool:
    """A demo-listed preset, unchanged apart from its seeds, is exempt from the size caps."""
    from training.presets import PRESETS

    if cfg.name not in settings.demo_presets or cfg.name not in PRESETS:
        return False
    preset = PRESETS[cfg.name]()
    preset.seeds = cfg.seeds
    return preset == cfg


def check_demo(cfg: ExperimentConfig, runs: list[dict], sizes: list[int], settings: Settings, store, owner: str) -> None:
    """Demo mode, once the runs are planned: experiment size caps and per-user quotas."""
    if settings.mode != "demo":
        return
    if not is_exempt_preset(cfg, settings):
        if len(runs) > settings.demo_max_runs:
            raise PolicyError(f"{len(runs)} runs is over this demo's cap of {settings.demo_max_runs}; use fewer "
                              "strategies, sizes or seeds")
        if max(sizes) > settings.demo_max_n:
            raise PolicyError(f"training-set size {max(sizes):,} is over this demo's cap of {settings.demo_max_n:,}")
        longest = max(runs, key=lambda r: r["total_steps"] or 0)
        steps = longest["total_steps"] or 0
        if steps > settings.demo_max_steps:
            from training.core.strategies import STRATEGIES

            plateau = longest.get("role") == "grid" and cfg.budget.plateau_cap > 1 and any(
                s.label == longest["strategy"] and (s.until_plateau if s.until_plateau is not None
                                                    else STRATEGIES[s.name].plateau_default) for s in cfg.strategies)
            why = (f" ({longest['strategy']} trains until it stops improving, up to {cfg.budget.plateau_cap:g}× its budget)"
                   if plateau else "")
            raise PolicyError(f"a run of {steps:,} steps{why} is over this demo's cap of {settings.demo_max_steps:,} steps "
                              "per run; lower the epochs or steps" + (", or budget.plateau_cap" if plateau else ""))
    demo_quota(store.owner_activity(owner), len(runs), settings)


def demo_quota(activity: tuple[int, int], new_runs: int, settings: Settings) -> None:
    """The per-user quotas of demo mode on `activity` — (experiments with queued or running runs, runs created in the
    last hour), as `Store.owner_activity` counts them. `planning.launch` applies it again inside the transaction that
    stores the experiment, so parallel launches cannot all pass the check before any of them is stored."""
    if settings.mode != "demo":
        return
    active, recent = activity
    if active >= settings.demo_max_active:
        raise PolicyError(f"you already have {active} experiment(s) running in this demo (the cap is "
                          f"{settings.demo_max_active}); wait for it to finish or cancel it")
    if recent + new_runs > settings.demo_runs_per_hour:
        raise PolicyError(f"this demo allows {settings.demo_runs_per_hour} runs per hour per user; you started {recent} "
                          f"in the last hour and this adds {new_runs}. Try again later.")


def check_run_start(cfg: ExperimentConfig, run, store, settings: Settings) -> None:
    """The rules of enqueue, applied where the run starts: imported records never train; paths, models and hub
    sources as at launch; in demo mode the per-run caps and the hourly quota (resumes count as starts)."""
    exp = store.experiment(run.experiment_id)
    if exp.is_record:
        raise PolicyError("this run belongs to an imported experiment, a record that is never trained here; launch its "
                          "config as a new experiment to train it")
    check_sources(cfg, settings, store.root)
    if settings.mode != "demo":
        return
    if not is_exempt_preset(cfg, settings):
        if run.role != "pretrain" and run.n_train > settings.demo_max_n:
            raise PolicyError(f"training-set size {run.n_train:,} is over this demo's cap of {settings.demo_max_n:,}")
        if (run.total_steps or 0) > settings.demo_max_steps:
            raise PolicyError(f"a run of {run.total_steps:,} steps is over this demo's cap of "
                              f"{settings.demo_max_steps:,} steps per run")
    busy = [e for e in store.experiments() if e.owner == exp.owner and e.id != exp.id and e.n_running]
    if len(busy) >= settings.demo_max_active:
        raise PolicyError(f"you already have {len(busy)} other experiment(s) training in this demo (the cap is "
                          f"{settings.demo_max_active}); wait for it to finish or cancel it")
    starts = store.starts_since(exp.owner, time.time() - 3600)
    if starts > settings.demo_runs_per_hour:
        raise PolicyError(f"this demo allows {settings.demo_runs_per_hour} run starts per hour per user (resumes count); "
                          f"{starts} started in the last hour. Try again later.")


def check_upload_size(size_bytes: int, settings: Settings) -> None:
    if size_bytes > settings.upload_max_mb * 1_000_000:
        raise PolicyError(f"the file is {size_bytes / 1e6:.1f} MB; this deployment accepts uploads up to "
                          f"{settings.upload_max_mb} MB — upload a sample, or ask the operator to raise "
                          "HEADSTART_UPLOAD_MAX_MB")


# -- secrets ---------------------------------------------------------------------------------------

_PATTERNS = [
    re.compile(r"hf_[A-Za-z0-9]{20,}"),                                   # Hugging Face tokens
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._\-]{12,}"),
    re.compile(r"(?i)(?<![\w/\\.-])([a-z_]*(?:api[_-]?key|token|secret|password|passwd))(\s*[:=]\s*)(['\"]?)"
               r"[^\s'\"]{4,}\3"),  # key: value, not a path such as /etc/passwd: …
    re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+@"),                          # credentials in URLs
]
_SECRET_ENV = re.compile(r"(?i)(token|secret|password|passwd|api_?key|credential)")


def redact(text: str) -> str:
    """Replace anything that looks like a secret — tokens, key=value secrets, URL credentials, and the
    values of secret-named environment variables — with [REDACTED]."""
    if not text:
        return text
    for name, value in os.environ.items():
        if _SECRET_ENV.search(name) and len(value) >= 8:
            text = text.replace(value, "[REDACTED]")
    text = _PATTERNS[0].sub("[REDACTED]", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
    text = _PATTERNS[3].sub(lambda m: f"{m.group(1)}[REDACTED]@", text)
    return text.replace("\x00", "\ufffd")  # a NUL quoted from a user's file: no text field stores one (the store's Text)
