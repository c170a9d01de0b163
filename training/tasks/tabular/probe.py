"""A table's MLP is trained from scratch: it has no earlier skill to forget, so no forgetting probe applies."""
from __future__ import annotations

from training.config import ExperimentConfig
from training.core.probes import active
from training.errors import ConfigError


def build(cfg: ExperimentConfig, processor=None, cache_dir=None, held_out=None) -> list:
    if any(pc.kind != "auto" for pc in active(cfg.probes)):
        raise ConfigError("a table's MLP is trained from scratch: it has no earlier skill to forget, so forgetting "
                          "probes do not apply (use probes: [] or kind none)")
    return []
