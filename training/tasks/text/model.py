"""Text classification's model: an encoder (a transformers model), a pooling of its token states, dropout and a linear
head."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.config import ModelConfig
from training.core.models import load_transformer


class SequenceClassifier(nn.Module):
    """An encoder, a pooling of its token states, dropout and a linear head."""

    head_per_token = False

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str, dropout: float):
        super().__init__()
        self.backbone = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled sentence vectors (what the head sees and the embedding probes score)."""
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return states[:, 0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids=None, attention_mask=None, features=None) -> torch.Tensor:
        if features is None:
            features = self.embed(input_ids, attention_mask)
        return self.head(self.dropout(features))


def build_classifier(base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                     load_kwargs: dict | None = None) -> SequenceClassifier:
    """The model a run trains: the encoder's pretrained weights from base_dir, or the same architecture from scratch,
    and a new head (its initial weights depend on the run seed only)."""
    from transformers import AutoModel

    net, dropout = load_transformer(base_dir, AutoModel, pretrained=pretrained, cfg=cfg, seed=seed,
                                    load_kwargs=load_kwargs, extra={"add_pooling_layer": False})
    return SequenceClassifier(net, num_labels, cfg.pooling, dropout)


@torch.no_grad()
def predict_texts(model: SequenceClassifier, tokenizer, texts: list[str], max_length: int, label_names: list[str],
                  batch_size: int = 64) -> list[dict]:
    """Each text's predicted label and class probabilities, tokenised and padded as the run's eval set was (the same
    truncation, padding and length-sorted batches), so a run answers its own eval texts as it scored them."""
    import numpy as np

    from training.core.data.tokenize import Examples, encode_texts, length_sorted_batches
    from training.core.evaluate import eval_mode

    device = next(model.parameters()).device
    examples = Examples(encode_texts(tokenizer, texts, max_length, cache_dir=None, fingerprint=""))
    out: list[dict] = [{}] * len(texts)
    with eval_mode(model):
        for idx in length_sorted_batches(examples, batch_size):
            batch = examples.collate(idx, tokenizer.pad_token_id, device)
            probs = torch.softmax(model(**batch).float(), dim=-1)[:, : len(label_names)].cpu().numpy()
            for row, i in zip(probs, idx, strict=True):
                out[int(i)] = {"label": label_names[int(np.argmax(row))],
                               "scores": {name: float(p) for name, p in zip(label_names, row, strict=True)}}
    return out


HEAD_FILE, META_FILE = "head.safetensors", "headstart.json"

CARD_SNIPPET = '''import json, torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

folder = "{folder}"
meta = json.load(open(f"{{folder}}/headstart.json"))
encoder, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
head = load_file(f"{{folder}}/head.safetensors")
texts = ["{example}"]
batch = tokenizer(texts, truncation=True, max_length=meta["max_length"], padding=True, return_tensors="pt")
with torch.no_grad():
    states = encoder(**batch).last_hidden_state
    if meta["pooling"] == "cls":
        pooled = states[:, 0]
    else:
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    probs = torch.softmax(pooled @ head["weight"].T + head["bias"], dim=-1)[:, : len(meta["labels"])]
print([meta["labels"][i] for i in probs.argmax(-1).tolist()])'''
"""How a user loads an exported text classifier with the libraries they already use (the model card shows it and a test
runs it): the encoder with transformers' Auto classes, the head from its own file, the pooling from headstart.json."""


def export_classifier(model: SequenceClassifier, tokenizer, out: Path, label_names: list[str], max_length: int) -> dict:
    """Write the delivered classifier as a folder: the encoder (config.json with id2label, model.safetensors; a LoRA
    encoder merged into plain weights, its adapter under adapter/), the tokenizer, the head and headstart.json.
    Returns what headstart.json says."""
    import json

    from safetensors.torch import save_file

    encoder = model.backbone
    if hasattr(encoder, "peft_config"):  # LoRA: keep the adapter as trained, deliver merged weights
        encoder.save_pretrained(str(out / "adapter"))
        encoder = encoder.merge_and_unload()
    encoder.config.id2label = dict(enumerate(label_names))
    encoder.config.label2id = {name: i for i, name in enumerate(label_names)}
    encoder.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    save_file({"weight": model.head.weight.detach().cpu().contiguous(),
               "bias": model.head.bias.detach().cpu().contiguous()}, str(out / HEAD_FILE))
    meta = {"format": "headstart-text-classifier/1", "pooling": model.pooling, "max_length": max_length,
            "labels": list(label_names)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def load_exported(folder: Path) -> tuple[SequenceClassifier, object, dict]:
    """An exported text classifier folder as (model, tokenizer, headstart.json)."""
    import json

    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    encoder = AutoModel.from_pretrained(str(folder))  # as the model card loads it (a pooler it may add is unused)
    head = load_file(str(folder / HEAD_FILE))
    model = SequenceClassifier(encoder, head["weight"].shape[0], meta["pooling"], 0.0)
    with torch.no_grad():
        model.head.weight.copy_(head["weight"])
        model.head.bias.copy_(head["bias"])
    return model.eval(), AutoTokenizer.from_pretrained(str(folder)), meta

