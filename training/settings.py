"""Deployment settings, read from the environment (the app passes its environment to every subprocess).

HEADSTART_MODE                 local (default: everything allowed) | team | demo
HEADSTART_DATA_ROOTS           folders local data files must lie in (os.pathsep-separated; default: any in
                               local mode; in team and demo modes only the store's uploads folder)
HEADSTART_MODEL_ROOTS          folders local model directories must lie in (same rule)
HEADSTART_WORKER_NICE          niceness added to every training process (default 10: the app stays responsive
                               while runs train on the same host; 0 turns it off)
HEADSTART_UPLOAD_MAX_MB        largest upload accepted, data files and bundles (default 200; demo 10)
HEADSTART_BUNDLE_MAX_MB        most a bundle may expand to when decompressed (default 200; demo 50)
Demo caps (demo mode only): HEADSTART_DEMO_MAX_RUNS (16), HEADSTART_DEMO_MAX_N (1000),
HEADSTART_DEMO_MAX_STEPS (300), HEADSTART_DEMO_MAX_ACTIVE (1 experiment queued or running per user),
HEADSTART_DEMO_CONCURRENT (2 runs training at once per user), HEADSTART_DEMO_RUNS_PER_HOUR (24),
HEADSTART_DEMO_PRESETS (quick: presets exempt from the size caps), HEADSTART_MODEL_ALLOWLIST
(builtin:minilm-l6: the only models a demo user may pick).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODES = ("local", "team", "demo")


@dataclass(frozen=True)
class Settings:
    mode: str = "local"
    data_roots: tuple[Path, ...] = ()
    model_roots: tuple[Path, ...] = ()
    upload_max_mb: int = 200
    bundle_max_mb: int = 200
    demo_max_runs: int = 16
    demo_max_n: int = 1000
    demo_max_steps: int = 300
    demo_max_active: int = 1
    demo_concurrent: int = 2
    demo_runs_per_hour: int = 24
    demo_presets: tuple[str, ...] = ("quick",)
    model_allowlist: tuple[str, ...] = ("builtin:minilm-l6",)

    @property
    def confined(self) -> bool:
        """Whether local paths must lie inside configured roots (always outside local mode)."""
        return self.mode != "local" or bool(self.data_roots) or bool(self.model_roots)


def _paths(value: str | None) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in (value or "").split(os.pathsep) if p)


def _int(env, key: str, default: int) -> int:
    try:
        return int(env.get(key, default))
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {env.get(key)!r}") from None


def load_settings(env=None) -> Settings:
    env = os.environ if env is None else env
    mode = env.get("HEADSTART_MODE", "local").strip().lower()
    if mode not in MODES:
        raise ValueError(f"HEADSTART_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    demo = mode == "demo"
    return Settings(
        mode=mode, data_roots=_paths(env.get("HEADSTART_DATA_ROOTS")), model_roots=_paths(env.get("HEADSTART_MODEL_ROOTS")),
        upload_max_mb=_int(env, "HEADSTART_UPLOAD_MAX_MB", 10 if demo else 200),
        bundle_max_mb=_int(env, "HEADSTART_BUNDLE_MAX_MB", 50 if demo else 200),
        demo_max_runs=_int(env, "HEADSTART_DEMO_MAX_RUNS", 16), demo_max_n=_int(env, "HEADSTART_DEMO_MAX_N", 1000),
        demo_max_steps=_int(env, "HEADSTART_DEMO_MAX_STEPS", 300),
        demo_max_active=_int(env, "HEADSTART_DEMO_MAX_ACTIVE", 1),
        demo_concurrent=_int(env, "HEADSTART_DEMO_CONCURRENT", 2),
        demo_runs_per_hour=_int(env, "HEADSTART_DEMO_RUNS_PER_HOUR", 24),
        demo_presets=tuple(p for p in env.get("HEADSTART_DEMO_PRESETS", "quick").split(",") if p),
        model_allowlist=tuple(m for m in env.get("HEADSTART_MODEL_ALLOWLIST", "builtin:minilm-l6").split(",") if m),
    )
