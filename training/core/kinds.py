"""The task kinds' names and headline metrics: a leaf every module may import (the kinds themselves, in `tasks`, import
the model, data and evaluation modules — so those read these names from here, never from `tasks`)."""
from __future__ import annotations

PRIMARY_METRIC = {"text-classification": ("accuracy", True), "causal-lm": ("perplexity", False),
                  "image-classification": ("accuracy", True), "chat": ("perplexity", False),
                  "tabular-classification": ("accuracy", True), "tabular-regression": ("rmse", False)}
"""The headline eval metric of each task kind and whether higher is better."""
CLASSIFICATION = ("text-classification", "image-classification", "tabular-classification")
"""Task kinds scored by cross-entropy over classes, accuracy and macro-F1."""
LANGUAGE_MODELS = ("causal-lm", "chat")
"""Task kinds whose model predicts the next token (loss and perplexity; the output layer spans the vocabulary)."""
TABULAR = ("tabular-classification", "tabular-regression")
MLP_BASE = "builtin:mlp"
