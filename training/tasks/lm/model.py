"""A language model: a transformers decoder with its own output layer (over the whole vocabulary), which every
strategy keeps. Chat builds the same model from its chat base."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.config import ModelConfig
from training.core.models import load_transformer, unwrap


class CausalLM(nn.Module):
    """A decoder with its language-model head; `head` is the output projection."""

    head_per_token = True

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.backbone = lm

    @property
    def head(self) -> nn.Module:
        return unwrap(self.backbone).get_output_embeddings()

    def forward(self, input_ids=None, attention_mask=None, features=None) -> torch.Tensor:
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).logits


def build_lm(base_dir: Path, *, pretrained: bool, cfg: ModelConfig, seed: int, load_kwargs: dict | None = None,
             **_) -> CausalLM:
    """The model a run trains: pretrained weights from base_dir, or the same architecture from scratch."""
    from transformers import AutoModelForCausalLM

    net, _ = load_transformer(base_dir, AutoModelForCausalLM, pretrained=pretrained, cfg=cfg, seed=seed,
                              load_kwargs=load_kwargs)
    return CausalLM(net)


# -- delivery: a run's language model answering prompts, and as a folder ---------------------------

@torch.no_grad()
def continue_texts(model: CausalLM, tokenizer, prompts: list[str], max_new_tokens: int) -> list[dict]:
    """Each prompt's greedy continuation (the same weights always give the same words): {"answer": the new text}."""
    from training.core.evaluate import eval_mode

    lm = model.backbone
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    out = []
    with eval_mode(model):
        for prompt in prompts:
            ids = tokenizer(str(prompt), return_tensors="pt").to(device)
            new = lm.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                              pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos)
            out.append({"answer": tokenizer.decode(new[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()})
    return out


def export_causal_lm(model: CausalLM, tokenizer, out: Path, chat: bool) -> dict:
    """Write the delivered language model as a folder transformers loads (`AutoModelForCausalLM`): config.json,
    model.safetensors (a LoRA run's adapters merged in; the adapter itself under adapter/) and the tokenizer with its
    chat template."""
    lm = model.backbone.cpu()
    if hasattr(lm, "merge_and_unload"):  # PEFT
        lm.save_pretrained(str(out / "adapter"))
        lm = lm.merge_and_unload()
    lm.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return {"chat": chat, "labels": []}


def load_exported_causal_lm(folder: Path):
    """(model, tokenizer, labels) of a folder `export_causal_lm` wrote."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.core.models import quiet_transformers
    from training.tasks.exported import load_transformers

    quiet_transformers()
    lm = load_transformers(folder, AutoModelForCausalLM)  # safetensors only, its config matched with them first
    return CausalLM(lm).eval(), AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False,
                                                              local_files_only=True), []


LM_CARD_SNIPPET = '''import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folder = "{folder}"
model, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
ids = tokenizer({example!r}, return_tensors="pt")
with torch.no_grad():
    new = model.generate(**ids, max_new_tokens={tokens}, do_sample=False, pad_token_id=tokenizer.eos_token_id)
print(repr(tokenizer.decode(new[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()))'''
"""How a user loads an exported language model with transformers and continues a text (greedy); a test runs it."""
