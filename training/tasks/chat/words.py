"""The words pages and reports use for chat: no references run beside it; its answers are read side by side."""
from __future__ import annotations

from training.tasks.base import Words
from training.tasks.words import HEAD_START, NOTES, SPREAD_BAND

_band, _references, _literature = (
    SPREAD_BAND, None,
    HEAD_START + " **For chat:** the metric is the perplexity of the held-out answers (the assistant's tokens only; "
    "lower is better); ROUGE-L of the generated answers against the reference is beside it, and the answers "
    "themselves are side by side below — read them, since overlap scores miss whether an answer is right. Zhou et "
    "al. (2023, \"LIMA\") tuned a pretrained LLaMA on 1,000 curated conversations and found most of a chat model's "
    "skill comes from pretraining; a model trained from scratch on a small set of conversations has no language "
    "to build on, so expect it to babble.")
WORDS = Words(band=_band, references=_references, literature=_literature, notes={
        "probe": (
            NOTES["probe"] + " **For chat:** the probe is the perplexity of the answers in general conversations "
            "outside the fine-tuning data, and the general prompts' answers before and after show what was lost in "
            "words — the \"it forgot its general ability\" that LLaMA-Factory users report (issues #2611, #19). LoRA "
            "\"learns less and forgets less\" than full fine-tuning (Biderman et al. 2024)."),
    })
