"""A language model has no classical reference beside it: perplexity has no "majority class", and an n-gram model
would answer a different question than the one asked (is fine-tuning worth it over training from scratch). The grid
compares its strategies with one another; the kind's `references` is False, so planning schedules none."""
from __future__ import annotations


def rows(data, cfg, sizes: list[int], seeds: list[int]) -> list[dict]:
    return []
