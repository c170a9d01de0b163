"""Task kinds, one folder each (PEFT's `tuners/` is the model; `training.core.strategies` works the same way):

    training/tasks/<kind>/__init__.py    the kind: what it is, refuses, offers and shows (`base.TaskKind`)
                          data.py        reading a source, checking it, splitting and preparing its examples
                          model.py       the processor and the model a run trains
                          references.py  the classical references scored beside the grid (none for language models)
                          probe.py       the forgetting probe
                          words.py       the words the pages and reports use for it

`text` (text classification), `lm` (causal LM, with the hybrid path's `pretrain.py`), `images`, `chat` (with its
held-out answers, `samples.py` and `generate.py`) and `tabular` (classification and regression). This registry maps a
config's `task` to its kind; the loop, planning, execution, analysis and pages ask the kind, never a task's name. A new
kind is one folder and one `register` call.
"""
from __future__ import annotations

from training.errors import ConfigError
from training.tasks import chat, images, lm, tabular, text
from training.tasks.base import Column, Form, TaskKind, Words

_KINDS: dict[str, TaskKind] = {}


def register(kind: TaskKind) -> TaskKind:
    """Add a kind to the registry (its `name` is what a config's `task` gives); returns it."""
    if not isinstance(kind, TaskKind):
        raise TypeError(f"{kind!r} is not a TaskKind")
    if kind.name in _KINDS and _KINDS[kind.name] is not kind:
        raise ValueError(f"a task kind named {kind.name!r} is already registered")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds() -> dict[str, TaskKind]:
    """Every registered kind by name, in registration order."""
    return dict(_KINDS)


def task_kind(name: str) -> TaskKind:
    if name not in _KINDS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(_KINDS)}")
    return _KINDS[name]


def known(name: str) -> TaskKind | None:
    """The kind, or None for a name no registered kind has (an old record's, say)."""
    return _KINDS.get(name)


def checked(cfg) -> TaskKind:
    """The experiment's kind, after refusing what the kind cannot take — where work starts (planning)."""
    kind = task_kind(cfg.task)
    if cfg.pretrain is not None and not kind.hybrid:
        hybrid = ", ".join(k.name for k in _KINDS.values() if k.hybrid)
        raise ConfigError(f"the pretrain (hybrid) path is for task {hybrid}")
    kind.check_config(cfg)
    return kind


def prepare_task_data(cfg, task: str, processor, max_length: int, cache_dir=None):
    """`task`'s data (`training.core.data.task.TaskData`), prepared by `processor` — a shorthand for tests and benches."""
    return task_kind(task).prepare_data(cfg, processor, max_length, cache_dir)


def build_task_model(task: str, base_dir, **kwargs):
    """The model a run of `task` trains — a shorthand for tests and benches."""
    return task_kind(task).build_model(base_dir, **kwargs)


for _module in (text, lm, images, chat, tabular):
    for _kind in _module.KINDS:
        register(_kind)

__all__ = ["Column", "Form", "TaskKind", "Words", "build_task_model", "checked", "kinds", "known",
           "prepare_task_data", "register", "task_kind", "unregister"]
