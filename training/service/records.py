"""What the store hands back: typed records of experiments and runs, with the two vocabularies — a run's status
and its role — as enums. Everything outside the store reads these attributes instead of dict keys and string
literals; `Status` and `Role` are `StrEnum`s, so they compare equal to (and are stored as) their plain values.
"""
from __future__ import annotations

import errno
import json
import math
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from training.errors import ConfigError


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its worker died or went silent; the dispatcher resumes it from its checkpoint
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Queued or running: work still to come."""
        return self in (Status.QUEUED, Status.RUNNING)

    @property
    def resumable(self) -> bool:
        """Stopped before it finished: it can be queued again and continue from its checkpoint."""
        return self in (Status.INTERRUPTED, Status.CANCELLED, Status.FAILED)


class Role(StrEnum):
    GRID = "grid"  # a cell of the experiment's grid: strategy × size × seed
    PRETRAIN = "pretrain"  # the hybrid's pretraining run that grid runs start from
    LR_SWEEP = "lr-sweep"  # one learning rate of a strategy's search
    REFERENCE = "reference"  # the majority-class and TF-IDF baselines at every size


@dataclass(frozen=True)
class Run:
    id: str
    experiment_id: str
    seq: int
    strategy: str
    n_train: int
    seed: int
    status: Status
    role: Role
    created_at: float
    depends_on: tuple[str, ...] = ()  # ids of the runs it waits for (pretraining, its strategy's search)
    pid: int | None = None
    device: str | None = None
    host: str | None = None
    heartbeat_at: float | None = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    total_steps: int | None = None
    result_json: str | None = None
    attempts: int = 0
    claimed_at: float | None = None
    cancel_requested_at: float | None = None
    micro_batch_size: int | None = None
    mem_estimate: int | None = None
    lr: float | None = None
    proc_started: float | None = None
    owner: str | None = None  # the experiment's owner, where the store joined it in (the dispatcher's queue)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Run":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        values["status"] = Status(row["status"])
        values["role"] = Role(row.get("role") or "grid")
        values["depends_on"] = tuple(d for d in (row.get("depends_on") or "").split(",") if d)
        values["attempts"] = row.get("attempts") or 0
        return cls(**values)

    @property
    def result(self) -> dict:
        """The finished run's result (metrics at its end and best checkpoint, costs); {} before it has one."""
        return json.loads(self.result_json) if self.result_json else {}

    def as_row(self) -> dict[str, Any]:
        """The database's shape: plain strings, `depends_on` comma-separated (bundles and tables)."""
        row = asdict(self)
        row.pop("owner")
        row["status"], row["role"] = str(self.status), str(self.role)
        row["depends_on"] = ",".join(self.depends_on) or None
        return row


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    config_json: str
    created_at: float
    owner: str = "local"
    info_json: str = "{}"
    # counts of its runs, where the store counted them (the experiment list)
    n_runs: int = 0
    n_done: int = 0
    n_running: int = 0
    n_failed: int = 0
    n_queued: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Experiment":
        known = {f.name for f in fields(cls)}
        return cls(**{k: (v if v is not None else 0) if k.startswith("n_") else v for k, v in row.items() if k in known})

    @property
    def info(self) -> dict:
        """What planning recorded beside the config: the learning-rate search, plateau strategies, a bundle's origin."""
        return json.loads(self.info_json or "{}")

    @property
    def config(self):
        from training.config import ExperimentConfig

        return ExperimentConfig.from_dict(json.loads(self.config_json))

    @property
    def is_record(self) -> bool:
        """An imported bundle: its runs are records to look at, never trained here."""
        return "bundle" in self.info


@dataclass(frozen=True)
class Comment:
    author: str
    body: str
    at: float


@dataclass(frozen=True)
class Decision:
    """A team's decision record on one experiment: the question, the constraints the team set, reviewers' comments
    and a sign-off (name, time, and the recommendation as it stood when signed)."""
    experiment_id: str
    question: str
    constraints_json: str = "{}"
    created_by: str = "local"
    created_at: float = 0.0
    updated_at: float = 0.0
    signoff_by: str | None = None
    signoff_at: float | None = None
    signed_json: str | None = None
    comments: tuple[Comment, ...] = ()

    @property
    def constraints(self) -> dict:
        return json.loads(self.constraints_json or "{}")

    @property
    def signed(self) -> dict | None:
        """The recommendation the sign-off approved (what was on screen), or None before a sign-off."""
        return json.loads(self.signed_json) if self.signed_json else None

    def as_dict(self) -> dict:
        """For bundles: every field, comments as plain mappings."""
        return {"question": self.question, "constraints": self.constraints, "created_by": self.created_by,
                "created_at": self.created_at, "updated_at": self.updated_at, "signoff_by": self.signoff_by,
                "signoff_at": self.signoff_at, "signed": self.signed,
                "comments": [{"author": c.author, "body": c.body, "at": c.at} for c in self.comments]}


CONSTRAINTS = {
    "min_metric": "minimum eval metric (the most, for perplexity)",
    "max_minutes": "maximum training minutes per run",
    "max_cost": "maximum cost per run in dollars (at the price set on the page)",
    "max_forgetting": "maximum forgetting (drop in the base model's probe skill)",
    "n_available": "labelled training examples the team has",
}


def check_constraints(raw: dict) -> dict:
    """Keep the set ones as numbers; a wrong value is a ConfigError naming the control."""
    out = {}
    for key, what in CONSTRAINTS.items():
        v = raw.get(key)
        if v is None or v == "":
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{what} must be a number, got {v!r}") from None
        if not math.isfinite(v) or (key != "min_metric" and v < 0):
            raise ConfigError(f"{what} must be a finite number ≥ 0, got {v}")
        out[key] = int(v) if key == "n_available" else v
    return out


DISK_FULL = "the disk is full"
"""How an interrupted run's error starts when a write found no room: the dispatcher re-queues such runs once the
store's disk is above its floor again."""
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(e: BaseException) -> bool:
    """A write that found no room: an OSError with ENOSPC or EDQUOT, or a library's error saying so in its words."""
    from training.core.checkpoint import DISK_FULL_WORDS  # here, not at the top: checkpoint imports torch

    if isinstance(e, OSError) and e.errno is not None:
        return e.errno in DISK_FULL_ERRNOS
    return any(w in str(e) for w in DISK_FULL_WORDS)
