"""The words pages and reports use for a language model: no references run beside it."""
from __future__ import annotations

from training.tasks.base import Words
from training.tasks.words import HEAD_START, SPREAD_BAND

BUILTINS = {"python-stdlib": "the Python standard library's source", "pandas-source": "pandas' source",
            "numpy-source": "NumPy's source"}

WORDS = Words(band=SPREAD_BAND, references=None, literature=HEAD_START)
