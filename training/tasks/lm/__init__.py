"""Language modelling (causal LM): a decoder trained on next-token prediction over blocks of text, scored by loss and
perplexity; no references run beside it; the forgetting probe is perplexity on held-out text of the pretraining
domain. The hybrid path (`pretrain.py`) pre-trains a small base on corpus A first."""
from __future__ import annotations

from pathlib import Path

from training.config import ModelConfig
from training.tasks.base import Column, Form, TaskKind
from training.tasks.lm.words import BUILTINS, WORDS

LM_REFUSED = {
    "head": "a language model's output layer predicts the next token over the whole vocabulary; training it alone "
            "on frozen features is not a linear probe of a new task",
    "lp-ft": "its first phase is head-only training, which does not apply to a language model",
}


class CausalLM(TaskKind):
    classical_references = 0
    name = "causal-lm"
    title = "Language modelling (causal LM)"
    help = "next-token prediction, scored by perplexity"
    unit = "training blocks"
    metric, higher_is_better = "perplexity", False
    classification = False
    language_model = True
    hybrid = True
    references = False
    refused = LM_REFUSED
    default_base = "pretrain"
    probe_default = "perplexity on held-out text of the pretraining domain"
    builtins = BUILTINS
    words = WORDS
    form = Form(columns=(Column("text_column", "Text column", "text"),
                         Column("group_column", "Group column (optional)", "group", optional=True)),
                builtin_columns=("text", "group"), check_columns=True,
                column_note="Rows sharing a group (a document, a customer, a module) stay on one side of the "
                            "train/eval split.",
                builtin_base="builtin:minilm-l6",
                builtin_model_warning="MiniLM is an encoder; for a causal LM give a decoder (e.g. "
                                      "hf:openai-community/gpt2).")

    def prepare_data(self, cfg, processor, max_length: int, cache_dir: Path | None):
        from training.tasks.lm.data import prepare

        return prepare(cfg, processor, max_length, cache_dir, self.unit)

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.tasks.lm.model import build_lm

        return build_lm(base_dir, pretrained=pretrained, cfg=cfg, seed=seed, load_kwargs=load_kwargs)

    def probes(self, cfg, processor, cache_dir: Path | None, held_out=None) -> list:
        from training.tasks.lm.probe import build

        return build(cfg, processor, cache_dir, held_out)

    exports = True

    def predict(self, model, processor, inputs: list, cfg, label_names: list[str]) -> list[dict]:
        from training.tasks.lm.model import continue_texts

        return continue_texts(model, processor, [str(x) for x in inputs], cfg.train.generation_tokens)

    def export(self, model, processor, out: Path, label_names: list[str], cfg) -> dict:
        from training.tasks.lm.model import export_causal_lm

        return {**export_causal_lm(model, processor, out, chat=False), "generation_tokens": cfg.train.generation_tokens}

    def load_exported(self, folder: Path):
        from training.tasks.lm.model import load_exported_causal_lm

        return load_exported_causal_lm(folder)

    def card_snippet(self, folder: Path, meta: dict) -> str:
        from training.tasks.lm.model import LM_CARD_SNIPPET

        return LM_CARD_SNIPPET.format(folder=str(folder).replace("\\", "/"), example="def ",
                                      tokens=meta.get("generation_tokens", 48))


KINDS = (CausalLM(),)
