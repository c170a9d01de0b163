"""Answers from a chat model (greedy decoding, so the same weights always give the same words) and their ROUGE-L
against reference answers."""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch

from training.core.evaluate import eval_mode
from training.tasks.chat.data import prompt_ids, stop_token_ids

BATCH = 16


def generate(model, tokenizer, prompts: list[list[dict]], *, max_new_tokens: int = 48, device: torch.device,
             autocast=contextlib.nullcontext, batch_size: int = BATCH) -> list[str]:
    """The model's answer to each conversation (rendered with the chat template and its assistant header): greedy,
    batched with left padding, ending at eos or the template's end-of-turn token; the new text without special
    tokens, stripped. `model` is a transformers causal LM or a wrapper holding one in `.backbone` (a PEFT model
    there generates with its adapters)."""
    from transformers import GenerationConfig

    lm = getattr(model, "backbone", model)
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad_id,
                              eos_token_id=stops)
    limit = getattr(getattr(lm, "config", None), "max_position_embeddings", None)
    keep = limit - max_new_tokens if limit else None  # a longer prompt keeps its end: the question being asked
    encoded = [prompt_ids(tokenizer, p)[-keep:] if keep else prompt_ids(tokenizer, p) for p in prompts]
    answers = []
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            rows = encoded[start:start + batch_size]
            width = max(len(r) for r in rows)
            input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
            attention = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                input_ids[j, width - len(r):] = r
                attention[j, width - len(r):] = 1
            with autocast():
                out = lm.generate(input_ids=torch.from_numpy(input_ids).to(device),
                                  attention_mask=torch.from_numpy(attention).to(device), generation_config=config)
            for row in out[:, width:].tolist():
                cut = next((i for i, t in enumerate(row) if t in stops), len(row))
                answers.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    return answers


@functools.cache
def _scorer():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 (longest common subsequence of stemmed words) of each prediction against its reference; an
    empty prediction scores 0, and so does an empty list."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scores = [_scorer().score(r, p)["rougeL"].fmeasure if p.strip() else 0.0
              for p, r in zip(predictions, references, strict=True)]
    return float(np.mean(scores)) if scores else 0.0


def as_conversation(value, i: int) -> list[dict]:
    """One Try it / `predict` input as a conversation: a string is one user message; a list of {"role", "content"}
    turns (ending with the user's) is taken as it is. Errors name the input."""
    from training.errors import HeadStartError

    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if (isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                   and m.get("role") in ("system", "user", "assistant") for m in value)):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise HeadStartError(f"input {i}: a chat input is a text (one user message) or a list of turns, each "
                         "{\"role\": system|user|assistant, \"content\": text}")


def answer_conversations(model, tokenizer, inputs: list, max_new_tokens: int) -> list[dict]:
    """Each input's greedy answer ({"answer"}), generated as the run's own eval answers were (`generate`)."""
    device = next(model.parameters()).device
    prompts = [as_conversation(x, i) for i, x in enumerate(inputs, 1)]
    return [{"answer": a} for a in generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, device=device)]


CHAT_CARD_SNIPPET = '''import json, torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folder = "{folder}"
meta = json.load(open(f"{{folder}}/headstart.json"))
model, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
messages = [{{"role": "user", "content": {example!r}}}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
with torch.no_grad():
    new = model.generate(**ids, max_new_tokens={tokens}, do_sample=False, eos_token_id=meta["stop_token_ids"],
                         pad_token_id=meta["stop_token_ids"][0])
answer = new[0, ids["input_ids"].shape[1]:].tolist()
answer = answer[: next((i for i, t in enumerate(answer) if t in meta["stop_token_ids"]), len(answer))]
print(repr(tokenizer.decode(answer, skip_special_tokens=True).strip()))'''
"""How a user loads an exported chat model with transformers and answers a message (greedy, as Head Start does); a
test runs it."""
