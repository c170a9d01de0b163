"""The practitioner's text model (`own`): what an engineer who "trains our own" builds — a tokenizer fitted on the run's
own training texts and a model sized to them by a stated rule — written as a base folder (`config.json`, tokenizer
files, no weights) that the text kind loads like any base model and builds from random weights.

The rule (`rule`), measured on review sentences and tweets at 100–7,000 examples (LOG.md 2026-12-07):
- **below 50,000 examples, a bag of words**: a word-level tokenizer (the `tokenizers` library; lower-cased, BERT's
  pre-tokenisation; every word of the training texts, the 30,000 most frequent at most — the vocabulary TF-IDF uses)
  and a mean-pooled bag of word embeddings under a linear head, as fastText is; width 64 below 10,000 examples, 128
  above. It reads up to BAG_MAX_LENGTH tokens of each text (or the experiment's max length where that is longer): a
  bag costs little per token, and an engineer would not cut reviews at a transformer's 64 tokens (TF-IDF reads them
  whole); on 3,000 film reviews cut at 64 tokens it scored 0.70 at 1,000 examples against TF-IDF's 0.82, and 0.84
  reading 512. On 1,000 review sentences one or two transformer layers, a WordPiece vocabulary and BERT's normalised
  embeddings each scored 0.02–0.06 below this bag at every rate tried.
- **from 50,000 examples, a small encoder**: a WordPiece tokenizer (pieces seen twice, at most 30,000) and a BERT
  encoder of width 128 below 100,000 examples and 256 from there, with 2 transformer layers below 500,000 and 4 from
  there; heads = width / 64, feed-forward 4 × width.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from training.core.models import build_own_base

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_VOCAB = 30_000
MIN_FREQUENCY = 2
SIZING = ((10_000, 64), (100_000, 128), (None, 256))
"""(examples below which, width); the last applies from there on."""
DEPTH = ((50_000, 0), (500_000, 2), (None, 4))
"""(examples below which, transformer layers); 0 is the bag of words."""
BAG_MAX_LENGTH = 512
"""The most tokens of a text the bag of words reads (where the experiment's max length is shorter)."""
BAG = "headstart-token-bag"
"""config.json's model_type for the bag of words (`TokenBagClassifier`): not a transformers architecture."""


def rule(n: int, options: dict) -> dict:
    """The architecture for a run of n training examples (the rule above; `options` override width and layers)."""
    def pick(table) -> int:
        return next(v for below, v in table if below is None or n < below)

    width = options.get("width") or pick(SIZING)
    layers = options.get("layers") if options.get("layers") is not None else pick(DEPTH)
    return {"width": int(width), "layers": int(layers), "heads": max(1, int(width) // 64),
            "vocab_limit": int(options.get("vocab_size") or MAX_VOCAB), "tokens": "words" if layers == 0 else "wordpiece"}


def fit_tokenizer(texts: list[str], vocab_limit: int, tokens: str = "wordpiece"):
    """A tokenizer trained on `texts` (lower-cased, BERT's pre-tokenisation): `words` — a word-level vocabulary of every
    word, the most frequent `vocab_limit` at most; `wordpiece` — word pieces seen at least twice. As a transformers
    fast tokenizer with BERT's special tokens and [CLS] … [SEP] around each text."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if tokens == "words":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_limit, min_frequency=1, special_tokens=list(SPECIALS),
                                            show_progress=False)
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_limit, min_frequency=MIN_FREQUENCY,
                                            special_tokens=list(SPECIALS), show_progress=False)
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def write_base(texts: list[str], n: int, options: dict, max_length: int, folder: Path) -> Path:
    """The run's own base folder: the tokenizer fitted on `texts` (its n training texts) and the model's config sized
    by `rule` (the bag of words', or a BERT encoder's). Reused where a folder built from the same texts and rule is
    already there; written to a temporary folder and renamed, so a crash never leaves half a base."""
    from transformers import BertConfig

    arch = rule(n, options)
    if arch["layers"] == 0:
        max_length = max(max_length, BAG_MAX_LENGTH)
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8", "replace")).hexdigest()[:16]
    want = {"texts": digest, "n": n, "max_length": max_length, **arch}

    def write(tmp: Path) -> str:
        tokenizer = fit_tokenizer(texts, arch["vocab_limit"], arch["tokens"])
        tokenizer.model_max_length = max_length
        tokenizer.save_pretrained(str(tmp))
        if arch["layers"] == 0:
            (tmp / "config.json").write_text(json.dumps({
                "model_type": BAG, "vocab_size": len(tokenizer), "hidden_size": arch["width"],
                "pad_token_id": tokenizer.pad_token_id, "max_length": max_length}, indent=2), encoding="utf-8")
            return (f"a word-level tokenizer fitted on the run's {n:,} training texts ({len(tokenizer):,} words) and a "
                    f"mean-pooled bag of {arch['width']}-wide word embeddings, from random weights")
        BertConfig(vocab_size=len(tokenizer), hidden_size=arch["width"], num_hidden_layers=arch["layers"],
                   num_attention_heads=arch["heads"], intermediate_size=4 * arch["width"],
                   max_position_embeddings=max_length, type_vocab_size=1,
                   pad_token_id=tokenizer.pad_token_id).save_pretrained(str(tmp))
        return (f"a WordPiece tokenizer fitted on the run's {n:,} training texts ({len(tokenizer):,} pieces) and an "
                f"encoder of width {arch['width']} with {arch['layers']} transformer layers, from random weights")

    return build_own_base(folder, want, write)


def is_bag(base_dir: Path) -> bool:
    """Whether a base folder is a practitioner's bag of words (not a transformers model)."""
    try:
        return json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8")).get("model_type") == BAG
    except (OSError, ValueError, AttributeError):
        return False


def max_length_of(base_dir: Path, default: int) -> int:
    """The most tokens a practitioner's base reads (its config's), or `default` for any other base."""
    try:
        spec = json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
    if spec.get("model_type") == BAG:
        return int(spec.get("max_length") or default)
    return default
