"""The practitioner's text model (`own`): what an engineer who "trains our own" builds — a tokenizer fitted on the run's
own training texts and an encoder sized to them by a stated rule — written as a base folder (`config.json`, tokenizer
files, no weights) that the text kind loads like any base model and builds from random weights.

The rule (`SIZING`), measured on review sentences and tweets at 100–7,000 examples (LOG.md 2026-12-07):
- **tokenizer**: WordPiece (the `tokenizers` library), lower-cased, BERT's pre-tokenisation; its vocabulary is the
  word pieces seen at least twice in the run's training texts, at most 30,000.
- **width** (embedding and hidden size): 64 below 10,000 examples, 128 below 100,000, 256 from there.
- **layers** (transformer layers above the embeddings): none below 50,000 examples — a mean-pooled bag of token
  embeddings, as fastText is — then 2 below 500,000 and 4 from there; heads = width / 64, feed-forward 4 × width. On
  1,000–7,000 sentences one or two layers scored below the bag at every learning rate tried (LOG.md), as the
  literature expects of a transformer trained from scratch on little data.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MARKER = "headstart-own.json"
"""What the folder was built from (the rule's inputs and outputs); a folder whose marker matches is reused."""
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_VOCAB = 30_000
MIN_FREQUENCY = 2
SIZING = ((10_000, 64), (100_000, 128), (None, 256))
"""(examples below which, width); the last applies from there on."""
DEPTH = ((50_000, 0), (500_000, 2), (None, 4))
"""(examples below which, transformer layers)."""


def rule(n: int, options: dict) -> dict:
    """The architecture for a run of n training examples (the rule above; `options` override width and layers)."""
    def pick(table) -> int:
        return next(v for below, v in table if below is None or n < below)

    width = options.get("width") or pick(SIZING)
    layers = options.get("layers") if options.get("layers") is not None else pick(DEPTH)
    return {"width": int(width), "layers": int(layers), "heads": max(1, int(width) // 64),
            "vocab_limit": int(options.get("vocab_size") or MAX_VOCAB)}


def fit_tokenizer(texts: list[str], vocab_limit: int):
    """A WordPiece tokenizer trained on `texts` (lower-cased, BERT's pre-tokenisation), as a transformers fast
    tokenizer with BERT's special tokens and [CLS] … [SEP] around each text."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_limit, min_frequency=MIN_FREQUENCY,
                                                             special_tokens=list(SPECIALS), show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def write_base(texts: list[str], n: int, options: dict, max_length: int, folder: Path) -> Path:
    """The run's own base folder: the tokenizer fitted on `texts` (its n training texts) and a BERT config sized by
    `rule`. Reused where a folder built from the same texts and rule is already there; written to a temporary folder
    and renamed, so a crash never leaves half a base."""
    from transformers import BertConfig

    arch = rule(n, options)
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8", "replace")).hexdigest()[:16]
    want = {"texts": digest, "n": n, "max_length": max_length, **arch}
    marker = folder / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("built_from") == want:
                return folder
        except ValueError:
            pass
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    tokenizer = fit_tokenizer(texts, arch["vocab_limit"])
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(str(tmp))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=arch["width"], num_hidden_layers=arch["layers"],
                        num_attention_heads=arch["heads"], intermediate_size=4 * arch["width"],
                        max_position_embeddings=max_length, type_vocab_size=1, pad_token_id=tokenizer.pad_token_id)
    config.save_pretrained(str(tmp))
    (tmp / MARKER).write_text(json.dumps({
        "built_from": want, "vocab_size": len(tokenizer),
        "what": f"WordPiece tokenizer fitted on the run's {n:,} training texts ({len(tokenizer):,} pieces); an encoder "
                f"of width {arch['width']} with {arch['layers']} transformer layers, from random weights"}, indent=2),
        encoding="utf-8")
    if folder.exists():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return folder


def describe(folder: Path) -> str:
    """What a run's own base is, in words (from its marker)."""
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))["what"]
    except (OSError, ValueError, KeyError):
        return ""
