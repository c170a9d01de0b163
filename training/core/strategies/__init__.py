"""Strategy registry: one small module per strategy behind the interface in `base`."""
from training.config import StrategyConfig
from training.core.strategies.base import Phase, Strategy
from training.core.strategies.discriminative import Discriminative
from training.core.strategies.freeze import Freeze
from training.core.strategies.full import Full
from training.core.strategies.head import Head
from training.core.strategies.lora import LoRA
from training.core.strategies.lpft import LinearProbeThenFinetune
from training.core.strategies.own import Own
from training.core.strategies.qlora import QLoRA
from training.core.strategies.scratch import Scratch
from training.errors import ConfigError

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Scratch, Own, Full, LoRA, QLoRA, Head, Freeze, Discriminative, LinearProbeThenFinetune)
}


def get_strategy(cfg: StrategyConfig, kind) -> Strategy:
    """The configured strategy for a task kind (`training.tasks.task_kind(cfg.task)`)."""
    cls = STRATEGIES.get(cfg.name)
    if cls is None:
        raise ConfigError(f"unknown strategy {cfg.name!r}; choose from: {', '.join(STRATEGIES)}")
    return cls(cfg, kind)


__all__ = ["STRATEGIES", "Phase", "Strategy", "get_strategy"]
