"""Strategy registry: one small module per strategy behind the interface in `base`."""
from ..config import StrategyConfig
from ..errors import ConfigError
from .base import Phase, Strategy
from .discriminative import Discriminative
from .freeze import Freeze
from .full import Full
from .head import Head
from .lora import LoRA
from .lpft import LinearProbeThenFinetune
from .qlora import QLoRA
from .scratch import Scratch

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Scratch, Full, LoRA, QLoRA, Head, Freeze, Discriminative, LinearProbeThenFinetune)
}


def get_strategy(cfg: StrategyConfig, task: str) -> Strategy:
    cls = STRATEGIES.get(cfg.name)
    if cls is None:
        raise ConfigError(f"unknown strategy {cfg.name!r}; choose from: {', '.join(STRATEGIES)}")
    return cls(cfg, task)


__all__ = ["STRATEGIES", "Phase", "Strategy", "get_strategy"]
