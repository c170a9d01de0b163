"""Chat runs answer held-out prompts while they train: the thing a chatbot team wants to read side by side.

Three sets of prompts, each the conversation up to its last user turn, answered by greedy decoding:
  validation  `train.generations` validation conversations, at every evaluation (Live shows them improve);
              ROUGE-L against the reference answer is logged as `val/rouge_l`.
  eval        at the end, with the final weights (and the best checkpoint's): ROUGE-L over up to
              `ROUGE_PROMPTS` eval conversations (`eval/rouge_l`); the first `train.generations` are shown on
              Compare and in the report.
  general     general prompts from outside the fine-tuning data (chatterbot's other topics), before and after
              training — what the base answered before, and whether it still does (forgetting, read in words).
Each answer set is written as a `generations` event: {step, split, weights, rouge_l, items: [{prompt,
reference, output}]}.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROUGE_PROMPTS = 32
"""Eval prompts ROUGE-L is averaged over (the first `train.generations` of them are shown)."""
GENERAL_SOURCE = "builtin:chatterbot-general"


@dataclass
class Samples:
    split: str
    prompts: list[list[dict]]
    references: list[str]
    shown: int
    """How many of the answers are written to the event (all are scored)."""
    tokenizer: object
    max_new_tokens: int

    def run(self, model, device, autocast) -> tuple[float, list[dict]]:
        """(mean ROUGE-L F1 against the references, the shown items)."""
        from training.tasks.chat.generate import generate, rouge_l

        outputs = generate(model, self.tokenizer, self.prompts, max_new_tokens=self.max_new_tokens, device=device,
                           autocast=autocast)
        items = [{"prompt": _last_user(p), "reference": r, "output": o}
                 for p, r, o in zip(self.prompts[: self.shown], self.references, outputs, strict=False)]
        return rouge_l(outputs, self.references), items

    def log(self, sink, model, device, autocast, step: int, weights: str | None = None) -> float:
        score, items = self.run(model, device, autocast)
        what = {"validation": "validation prompts", "eval": "eval prompts", "general": "general prompts"}[self.split]
        sink.event("generations", f"answers to {len(items)} {what} at step {step}"
                   + (f" ({weights} weights)" if weights else ""),
                   {"step": step, "split": self.split, "weights": weights, "rouge_l": score, "items": items})
        return score


def _last_user(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def build_samples(cfg, data, tokenizer) -> dict[str, Samples]:
    """The validation, eval and general prompt sets of a chat experiment (empty when generation is off)."""
    from training.tasks.chat.data import generation_prompts, load_chat_table

    k = cfg.train.generations
    if k == 0:
        return {}
    convs = data.extra["conversations"]

    def make(split: str, conversations, count: int, shown: int) -> Samples:
        pairs = generation_prompts(conversations, count)
        return Samples(split, [p for p, _ in pairs], [r for _, r in pairs], shown, tokenizer,
                       cfg.train.generation_tokens)

    general = load_chat_table(GENERAL_SOURCE).conversations
    pick = np.random.default_rng(0).permutation(len(general))[:k]
    return {"validation": make("validation", convs["validation"], k, k),
            "eval": make("eval", convs["eval"], max(k, ROUGE_PROMPTS), k),
            "general": make("general", [general[i] for i in pick], k, k)}
