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


class TokenBagClassifier(nn.Module):
    """The practitioner's model below its rule's size for transformer layers (`training.tasks.text.own`): a mean-pooled
    bag of word embeddings, dropout and a linear head — fastText's shape. No normalisation of the embeddings: a word's
    vector length is how much it counts in the mean (a layer norm, as BERT's embeddings have, cost 0.02–0.06 of
    accuracy on review sentences; LOG.md 2026-12-07)."""

    head_per_token = False
    pooling = "mean"

    def __init__(self, vocab_size: int, width: int, num_labels: int, dropout: float, pad_token_id: int = 0):
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, width, padding_idx=pad_token_id)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_labels)
        nn.init.normal_(self.embeddings.weight, std=0.1)
        with torch.no_grad():
            self.embeddings.weight[pad_token_id].zero_()
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        return (self.embeddings(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids=None, attention_mask=None, features=None) -> torch.Tensor:
        if features is None:
            features = self.embed(input_ids, attention_mask)
        return self.head(self.dropout(features))

    def flop_structure(self):
        """No blocks: an embedding lookup is free in the FLOP count (Kaplan et al.); the head is the only matmul."""
        from training.core.models import Structure

        return Structure([], self.head, False, self.embeddings.embedding_dim)


def build_classifier(base_dir: Path, *, pretrained: bool, num_labels: int, cfg: ModelConfig, seed: int,
                     load_kwargs: dict | None = None) -> SequenceClassifier | TokenBagClassifier:
    """The model a run trains: the encoder's pretrained weights from base_dir, or the same architecture from scratch,
    and a new head (its initial weights depend on the run seed only); a practitioner's bag of words where base_dir is
    one (`own`)."""
    from transformers import AutoModel

    from training.tasks.text.own import is_bag

    if is_bag(base_dir):
        import json

        spec = json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8"))
        torch.manual_seed(seed)
        return TokenBagClassifier(int(spec["vocab_size"]), int(spec["hidden_size"]), num_labels,
                                  cfg.dropout if cfg.dropout is not None else 0.1, int(spec.get("pad_token_id", 0)))

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
    texts = [read_prefix(tokenizer, t, max_length) for t in texts]
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


def read_prefix(tokenizer, text: str, max_length: int) -> str:
    """The part of `text` a model that reads `max_length` tokens reads: the shortest prefix, cut at a space, that the
    tokenizer makes into more than max_length + 16 tokens (it tries 32 characters a token, then 4 times as many
    characters each time), else the whole text. Truncating that prefix gives the ids truncating the whole text gives,
    while the tokenizer never sees the rest: a 10 M-character line made 2 M tokens' encodings (0.55 GB) to keep 128."""
    n = max(1024, 32 * max_length)
    while n < len(text):
        cut = text.rfind(" ", n // 2, n)  # a word cut in two changes its own tokens only; cut between words
        prefix = text[:cut if cut > 0 else n]
        if len(tokenizer(prefix, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]) \
                > max_length + 16:
            return prefix
        n *= 4
    return text


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


BAG_FORMAT = "headstart-token-bag/1"
TEXT_FORMAT = "headstart-text-classifier/1"

BAG_CARD_SNIPPET = '''import json, torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

folder = "{folder}"
meta = json.load(open(f"{{folder}}/headstart.json"))
weights, tokenizer = load_file(f"{{folder}}/model.safetensors"), AutoTokenizer.from_pretrained(folder)
texts = ["{example}"]
batch = tokenizer(texts, truncation=True, max_length=meta["max_length"], padding=True, return_tensors="pt")
with torch.no_grad():
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (weights["embeddings.weight"][batch["input_ids"]] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    probs = torch.softmax(pooled @ weights["head.weight"].T + weights["head.bias"], dim=-1)[:, : len(meta["labels"])]
print([meta["labels"][i] for i in probs.argmax(-1).tolist()])'''
"""How a user loads an exported bag of words (the practitioner's model) with torch and transformers' tokenizer."""


def export_classifier(model, tokenizer, out: Path, label_names: list[str], max_length: int) -> dict:
    """Write the delivered classifier as a folder: the encoder (config.json with id2label, model.safetensors; a LoRA
    encoder merged into plain weights, its adapter under adapter/), the tokenizer, the head and headstart.json — or,
    for a practitioner's bag of words, its weights (embeddings and head) beside the tokenizer. Returns what
    headstart.json says."""
    import json

    from safetensors.torch import save_file

    if isinstance(model, TokenBagClassifier):
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
        tokenizer.save_pretrained(str(out))
        meta = {"format": BAG_FORMAT, "pooling": "mean", "max_length": max_length, "labels": list(label_names),
                "vocab_size": model.embeddings.num_embeddings, "width": model.embeddings.embedding_dim,
                "pad_token_id": model.embeddings.padding_idx}
        (out / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return meta

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
    meta = {"format": TEXT_FORMAT, "pooling": model.pooling, "max_length": max_length,
            "labels": list(label_names)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def load_exported(folder: Path) -> tuple[SequenceClassifier, object, dict]:
    """An exported text classifier folder as (model, tokenizer, headstart.json), every file checked before it is
    used (`training.tasks.exported`): headstart.json's every field, the encoder loaded only from model.safetensors once
    the model config.json describes matches the weights' header, a head that fits the encoder and the labels."""
    import math

    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from training.errors import HeadStartError
    from training.tasks.exported import check_files, load_transformers, read_json, refusal

    folder = Path(folder)
    check_files(folder)
    meta = read_json(folder, META_FILE)
    if not isinstance(meta, dict):
        raise refusal(folder, META_FILE, "it is not a mapping")
    if meta.get("format") == BAG_FORMAT:
        return _load_bag(folder, meta)
    if meta.get("format") != TEXT_FORMAT:
        raise HeadStartError(f"{folder / META_FILE} names the format {str(meta.get('format'))[:60]!r}; Head Start exports "
                             f"{TEXT_FORMAT} and {BAG_FORMAT}: export the model again")
    if meta.get("pooling") not in ("cls", "mean"):
        raise refusal(folder, META_FILE, f"pooling must be \"cls\" or \"mean\", not {str(meta.get('pooling'))[:40]!r}")
    length = meta.get("max_length")
    if not (isinstance(length, int) and not isinstance(length, bool) and 1 <= length <= MAX_TOKENS):
        raise refusal(folder, META_FILE, f"max_length must be a whole number of tokens from 1 to {MAX_TOKENS:,}")
    labels = meta.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise refusal(folder, META_FILE, "labels must be a list of class names")
    encoder = load_transformers(folder, AutoModel)  # as the card does (its pooler unused)
    try:
        head = load_file(str(folder / HEAD_FILE))
    except (SafetensorError, OSError, ValueError) as e:
        raise refusal(folder, HEAD_FILE, f"it cannot be read ({str(e)[:120]})") from None
    weight, bias = head.get("weight"), head.get("bias")
    width = encoder.config.hidden_size
    if set(head) != {"weight", "bias"} or weight.dim() != 2 or bias.dim() != 1 or weight.shape[1] != width \
            or bias.shape[0] != weight.shape[0] or not len(labels) <= weight.shape[0] <= MAX_CLASSES:
        raise refusal(folder, HEAD_FILE, f"it must hold weight [classes, {width}] and bias [classes] with "
                                         f"{len(labels)} to {MAX_CLASSES:,} classes for headstart.json's "
                                         f"{len(labels)} labels")
    if not all(math.isfinite(float(w.float().abs().max())) for w in (weight, bias)):
        raise refusal(folder, HEAD_FILE, "its weights hold NaN or infinite values")
    model = SequenceClassifier(encoder, weight.shape[0], meta["pooling"], 0.0)
    with torch.no_grad():
        model.head.weight.copy_(weight)
        model.head.bias.copy_(bias)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise refusal(folder, "tokenizer.json", f"its tokenizer cannot be loaded ({type(e).__name__})") from None
    return model.eval(), tokenizer, meta


MAX_TOKENS, MAX_CLASSES = 100_000, 100_000
"""The bounds on an exported text classifier's max_length and its head's classes."""


BAG_TOKENIZER_MAX_BYTES = 20 * 2 ** 20
"""The largest tokenizer.json an exported bag of words may have (its 30,000 words take about 1 MB; a 38 MB one took
1.7 GB of memory to load)."""


def _load_bag(folder: Path, meta: dict) -> tuple[TokenBagClassifier, object, dict]:
    """An exported bag of words, checked before it answers: sized by its weights' own shapes (never by numbers its
    headstart.json claims), every weight finite, a head that fits the embeddings and the labels, a tokenizer whose ids
    stay inside the embeddings. Anything else is refused in words, naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from training.errors import HeadStartError

    def refuse(what: str) -> HeadStartError:
        return HeadStartError(f"{folder} is not a bag of words Head Start exported: {what}. Export the model again "
                              "(python -m training export-model RUN --out FOLDER)")

    weights_file, tokenizer_file = folder / "model.safetensors", folder / "tokenizer.json"
    for f in (weights_file, tokenizer_file):
        if not f.is_file():
            raise refuse(f"{f.name} is missing")
    if tokenizer_file.stat().st_size > BAG_TOKENIZER_MAX_BYTES:
        raise refuse(f"tokenizer.json is {tokenizer_file.stat().st_size / 2 ** 20:,.0f} MB (at most "
                     f"{BAG_TOKENIZER_MAX_BYTES // 2 ** 20} MB)")
    try:
        weights = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError) as e:
        raise refuse(f"model.safetensors cannot be read ({str(e)[:120]})") from None
    if set(weights) != {"embeddings.weight", "head.weight", "head.bias"}:
        raise refuse("model.safetensors does not hold exactly embeddings.weight, head.weight and head.bias")
    emb, head, bias = weights["embeddings.weight"], weights["head.weight"], weights["head.bias"]
    if emb.dim() != 2 or head.dim() != 2 or bias.dim() != 1 or 0 in emb.shape or head.shape[1] != emb.shape[1] \
            or bias.shape[0] != head.shape[0] or head.shape[0] < 1:
        raise refuse(f"its weights do not fit together (embeddings {tuple(emb.shape)}, head {tuple(head.shape)}, "
                     f"bias {tuple(bias.shape)})")
    if not all(bool(torch.isfinite(w).all()) for w in weights.values()):
        raise refuse("its weights hold NaN or infinite values")
    labels = meta.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)
            and len(labels) <= head.shape[0]):
        raise refuse(f"headstart.json's labels must be a list of 1 to {head.shape[0]} class names")
    length = meta.get("max_length")
    if not (isinstance(length, int) and not isinstance(length, bool) and 1 <= length <= 100_000):
        raise refuse("headstart.json's max_length must be a whole number of tokens")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise refuse(f"its tokenizer cannot be loaded ({type(e).__name__})") from None
    top = max(tokenizer.get_vocab().values(), default=-1)
    if len(tokenizer) > emb.shape[0] or top >= emb.shape[0]:
        raise refuse(f"its tokenizer has {len(tokenizer):,} tokens (ids up to {top:,}) for {emb.shape[0]:,} embeddings")
    pad = meta.get("pad_token_id")
    bag = TokenBagClassifier(emb.shape[0], emb.shape[1], head.shape[0], 0.0,
                             pad if isinstance(pad, int) and not isinstance(pad, bool) and 0 <= pad < emb.shape[0] else 0)
    bag.load_state_dict(weights)
    return bag.eval(), tokenizer, meta
