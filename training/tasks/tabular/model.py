"""The tabular task model: a plain MLP trained from scratch on the preprocessed columns (see
`training.tasks.tabular.data`).

[Linear → LayerNorm → ReLU → Dropout] × depth, then a linear head — the "MLP" baseline of Gorishniy et al. 2021,
"Revisiting Deep Learning Models for Tabular Data", with a LayerNorm in each block (measured against BatchNorm and
no norm in bench/tabular_lr_scan.py: see bench/RESULTS.md). LayerNorm rather than BatchNorm also keeps a row's
output independent of the other rows in its batch, so a batch of one and eval-mode switching behave the same.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

DEFAULT_WIDTH = 256
DEFAULT_DEPTH = 3
DEFAULT_DROPOUT = 0.1


class MLPBlock(nn.Module):
    """One hidden layer: Linear → LayerNorm → ReLU → Dropout."""

    def __init__(self, n_in: int, width: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(n_in, width)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.relu(self.norm(self.linear(x))))


class MLPBackbone(nn.Module):
    """The hidden stack; `blocks` is the ModuleList `find_blocks` returns (bottom to top)."""

    def __init__(self, n_features: int, width: int, depth: int, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(MLPBlock(n_features if i == 0 else width, width, dropout) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class TabularMLP(nn.Module):
    """Preprocessed features → class logits [n, n_outputs], or (regression, n_outputs == 1) the standardised
    prediction [n]. Buffers `target_mean` and `target_scale` (regression; 0 and 1 for classification) turn a
    standardised prediction back into the target's units: y = mean + scale · output."""

    def __init__(self, n_features: int, n_outputs: int, width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH,
                 dropout: float = DEFAULT_DROPOUT, target_mean: float = 0.0, target_scale: float = 1.0):
        super().__init__()
        self.n_outputs = n_outputs
        self.backbone = MLPBackbone(n_features, width, depth, dropout)
        self.head = nn.Linear(width, n_outputs)
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_scale", torch.tensor(float(target_scale)))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden vector of each row (what the head sees)."""
        return self.backbone(features)


    def flop_structure(self):
        """Every layer runs once per row; activations: each layer's output a few times (fp32 output, norm, activation
        and dropout mask)."""
        from training.core.models import Structure, find_blocks

        linears = [m for m in self.modules() if isinstance(m, nn.Linear)]
        act = sum(4 * m.out_features for m in linears) * 4
        return Structure(find_blocks(self.backbone), self.head, False, 0, {id(m): 1 for m in linears}, act,
                         self.backbone)

    def forward(self, features=None, input_ids=None, attention_mask=None) -> torch.Tensor:
        out = self.head(self.embed(features))
        return out.squeeze(-1) if self.n_outputs == 1 else out


def build_tabular_model(n_features: int, n_outputs: int, *, seed: int, width: int = DEFAULT_WIDTH,
                        depth: int = DEFAULT_DEPTH, dropout: float | None = None, init: str = "default",
                        target_mean: float = 0.0, target_scale: float = 1.0) -> TabularMLP:
    """A freshly initialised MLP; its weights depend on `seed` only. `n_outputs`: the number of classes, or 1 for
    regression. `init`: `default` (PyTorch's Linear init), `xavier` or `he` (see `models.reinitialise`)."""
    from training.core.models import reinitialise

    torch.manual_seed(seed)
    model = TabularMLP(n_features, n_outputs, width, depth, DEFAULT_DROPOUT if dropout is None else dropout,
                       target_mean, target_scale)
    reinitialise(model, init)
    return model


# -- delivery: a run's MLP answering new rows, and as a folder -----------------------------------

def rows_frame(prep, rows: list):
    """New rows (column → value mappings, as a CSV or JSON lines gives them) as the frame the run's preprocessing
    reads: every column the model reads must be present (an empty value is a missing one, imputed as in training);
    numeric columns must hold numbers. Errors name the row and the column."""
    import numpy as np
    import pandas as pd

    from training.errors import HeadStartError

    cols = list(prep.numeric) + list(prep.categorical)
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict):
            raise HeadStartError(f"input {i} is not a table row (a mapping of column → value)")
        missing = [c for c in cols if c not in r]
        if missing:
            raise HeadStartError(f"row {i} has no column {missing[0]!r} (the model reads {', '.join(cols)}; leave a "
                                 "value empty where it is missing)")

    def blank(v) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())

    data = {}
    for c in prep.numeric:
        values = []
        for i, r in enumerate(rows, 1):
            v = r[c]
            if blank(v):
                values.append(np.nan)
                continue
            try:
                if isinstance(v, bool | dict | list):  # JSON true is no number (float(True) would read it as 1)
                    raise TypeError
                number = float(v)
            except (TypeError, ValueError, OverflowError):
                shown = json.dumps(v)[:80] if isinstance(v, bool | dict | list) else repr(str(v)[:80])
                raise HeadStartError(f"row {i}: column {c!r} holds numbers, got {shown}") from None
            values.append(number if np.isfinite(number) else np.nan)  # infinities are missing, as in training
        data[c] = np.array(values, dtype=np.float64)
    for c in prep.categorical:
        for i, r in enumerate(rows, 1):
            if isinstance(r[c], dict | list):  # a JSON object or list is no category (its text would be one)
                raise HeadStartError(f"row {i}: column {c!r} holds categories (a text or a number), got "
                                     f"{'an object' if isinstance(r[c], dict) else 'a list'} "
                                     f"({json.dumps(r[c])[:60]})")
        data[c] = pd.Series([np.nan if blank(r[c]) else str(r[c]) for r in rows], dtype=object)
    return pd.DataFrame(data, columns=cols)


@torch.no_grad()
def predict_rows(model: TabularMLP, prep, rows: list, label_names: list[str]) -> list[dict]:
    """Each row's predicted class with its probabilities, or (regression) its predicted value in the target's units."""
    from training.core.evaluate import eval_mode

    x = torch.from_numpy(prep.transform(rows_frame(prep, rows)))
    with eval_mode(model):
        out = model(features=x.to(next(model.parameters()).device)).float().cpu()
    if model.n_outputs == 1:
        mean, scale = float(model.target_mean), float(model.target_scale)
        return [{"value": mean + scale * float(v)} for v in out.reshape(-1).numpy().astype("float64")]
    probs = torch.softmax(out, dim=-1)[:, : len(label_names)].numpy()
    return [{"label": label_names[int(row.argmax())], "scores": {n: float(p) for n, p in zip(label_names, row, strict=True)}}
            for row in probs]


def export_tabular(model: TabularMLP, prep, out: Path, label_names: list[str]) -> dict:
    """Write the delivered MLP as a folder: model.safetensors with config.json (its weights and shape, what Head
    Start and the model card rebuild it from), preprocessing.json (the preprocessing fitted on the run's own training
    rows, as plain numbers: see `fitted`), and model.pt2 (`torch.export`, for those who load their own exports with
    torch alone). Nothing in it is a pickle."""
    from safetensors.torch import save_file

    import training.tasks.tabular.fitted as fitted

    model = model.cpu().eval()
    blocks = model.backbone.blocks if hasattr(model.backbone, "blocks") else []
    config = {"n_features": prep.n_features, "n_outputs": model.n_outputs, "width": model.head.in_features,
              "depth": len(blocks), "target_mean": float(model.target_mean), "target_scale": float(model.target_scale),
              "numeric": list(prep.numeric), "categorical": list(prep.categorical), "labels": list(label_names),
              "feature_names": prep.feature_names}
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    (out / fitted.FILE).write_text(json.dumps(fitted.parameters(prep.columns), indent=1), encoding="utf-8")
    example = torch.zeros(2, prep.n_features)
    program = torch.export.export(_Outputs(model), (example,), dynamic_shapes=({0: torch.export.Dim("rows")},))
    torch.export.save(program, str(out / "model.pt2"))
    return {"labels": list(label_names), "numeric": list(prep.numeric), "categorical": list(prep.categorical),
            "regression": model.n_outputs == 1, "example": getattr(prep, "example", None)}


class _Outputs(nn.Module):
    """What model.pt2 computes from preprocessed features: class probabilities, or the prediction in the target's
    units."""

    def __init__(self, model: TabularMLP):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.model(features=features).float()
        if self.model.n_outputs == 1:
            return self.model.target_mean + self.model.target_scale * out
        return torch.softmax(out, dim=-1)


MAX_CONFIG_BYTES = 64 * 2 ** 20
MAX_LABELS = 100_000
MAX_WIDTH, MAX_DEPTH = 8192, 16
"""Bounds on what an exported folder's config.json may claim (width and depth: what model.mlp_width and mlp_depth
allow); the weights' own shapes must then match it, so the model is never larger than the file that holds it."""


def load_exported_tabular(folder: Path):
    """(model, preprocessing, labels) of a folder `export_tabular` wrote, every file checked before it is used:
    config.json's shape and labels, model.safetensors' tensors against that shape (read from its header first),
    preprocessing.json (see `fitted.load`) against config.json. Nothing is unpickled: a folder with only the older
    preprocessing.joblib is refused."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    import training.tasks.tabular.fitted as fitted
    from training.errors import HeadStartError
    from training.tasks.exported import read_json, refusal

    def refuse(file: str, what: str) -> HeadStartError:
        return refusal(folder, file, what)

    if not (folder / fitted.FILE).exists() and (folder / "preprocessing.joblib").exists():
        raise HeadStartError(f"{folder} was exported by an older Head Start: its preprocessing is a pickle "
                             "(preprocessing.joblib), and predict never loads a pickle — unpickling runs whatever code "
                             "the file holds. Export the model again (python -m training export-model RUN --out "
                             "FOLDER) to get preprocessing.json")
    config = read_json(folder, "config.json", MAX_CONFIG_BYTES)
    if not isinstance(config, dict):
        raise refuse("config.json", "it is not a mapping")

    def whole(key: str, low: int, high: int) -> int:
        v = config.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise refuse("config.json", f"{key} must be a whole number from {low} to {high:,}")
        return v

    def finite(key: str) -> float:
        v = config.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise refuse("config.json", f"{key} must be a finite number")
        return float(v)

    def names(key: str, most: int) -> list[str]:
        v = config.get(key)
        if not (isinstance(v, list) and len(v) <= most and all(isinstance(x, str) for x in v)):
            raise refuse("config.json", f"{key} must be a list of at most {most:,} texts")
        return v

    n_features = whole("n_features", 1, fitted.MAX_COLUMNS * (fitted.MAX_CATEGORIES + 3))
    n_outputs, width, depth = whole("n_outputs", 1, MAX_LABELS), whole("width", 1, MAX_WIDTH), whole("depth", 1, MAX_DEPTH)
    target_mean, target_scale = finite("target_mean"), finite("target_scale")
    labels = names("labels", MAX_LABELS)
    if (n_outputs == 1) != (not labels) or len(labels) > n_outputs:
        raise refuse("config.json", f"{len(labels)} labels for {n_outputs} outputs")
    prep = fitted.load(folder)
    if (names("numeric", fitted.MAX_COLUMNS), names("categorical", fitted.MAX_COLUMNS)) != (prep.numeric,
                                                                                          prep.categorical) \
            or prep.n_features != n_features:
        raise refuse(fitted.FILE, "its columns or feature count differ from config.json's")

    shapes = {"target_mean": (), "target_scale": (), "head.weight": (n_outputs, width),
              "head.bias": (n_outputs,)}
    for i in range(depth):
        shapes |= {f"backbone.blocks.{i}.linear.weight": (width, n_features if i == 0 else width),
                   **{f"backbone.blocks.{i}.{k}": (width,) for k in ("linear.bias", "norm.weight", "norm.bias")}}
    weights_file = folder / "model.safetensors"
    try:
        with safe_open(str(weights_file), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        if found != shapes:
            raise refuse("model.safetensors", f"its tensors do not match config.json's n_features {n_features}, "
                                              f"width {width}, depth {depth} and n_outputs {n_outputs}")
        weights = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError) as e:
        raise refuse("model.safetensors", f"it cannot be read ({str(e)[:120]})") from None
    if any(w.dtype != torch.float32 or not bool(torch.isfinite(w).all()) for w in weights.values()):
        raise refuse("model.safetensors", "its weights must be finite float32 numbers")
    model = TabularMLP(n_features, n_outputs, width, depth, 0.0, target_mean, target_scale)
    model.load_state_dict(weights)
    return model.eval(), prep, labels


CARD_SNIPPET = '''import json, numpy as np, pandas as pd, torch
from safetensors.torch import load_file
from torch.nn.functional import layer_norm, linear

folder = "{folder}"
config = json.load(open(f"{{folder}}/config.json"))
prep = json.load(open(f"{{folder}}/preprocessing.json"))  # fitted on the run's own training rows
weights = load_file(f"{{folder}}/model.safetensors")
rows = pd.DataFrame([{example}])

# the run's preprocessing: impute, standardise and flag missing numbers; one-hot categories (a missing one is "missing")
num = [c["column"] for c in prep["numeric"]]
x = rows[num].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64).reshape(len(rows), len(num))
x[~np.isfinite(x)] = np.nan
missing = np.isnan(x)
fill, mean, scale = (np.array([c[k] for c in prep["numeric"]]) for k in ("fill", "mean", "scale"))
parts = [(np.where(missing, fill, x) - mean) / scale, missing[:, [num.index(c) for c in prep["missing_indicators"]]]]
for c in prep["categorical"]:
    values = [v if isinstance(v, str) else "missing" if pd.isna(v) else str(v) for v in rows[c["column"]]]
    codes = pd.Categorical(values, categories=c["categories"]).codes  # -1: rare or unseen, the shared column if any
    parts.append(np.eye(len(c["categories"]) + 1)[codes][:, : len(c["categories"]) + c["other"]])
h = torch.from_numpy(np.hstack(parts).astype(np.float32))

with torch.no_grad():  # the MLP: [Linear → LayerNorm → ReLU] × depth, then a linear head
    for i in range(config["depth"]):
        w = {{k: weights[f"backbone.blocks.{{i}}.{{k}}"] for k in ("linear.weight", "linear.bias", "norm.weight", "norm.bias")}}
        h = torch.relu(layer_norm(linear(h, w["linear.weight"], w["linear.bias"]), (config["width"],),
                                  w["norm.weight"], w["norm.bias"]))
    out = linear(h, weights["head.weight"], weights["head.bias"]).float()
print([round(config["target_mean"] + config["target_scale"] * float(v), 4) for v in out[:, 0]]
      if config["n_outputs"] == 1 else [config["labels"][i] for i in out[:, : len(config["labels"])].argmax(-1).tolist()])'''
"""How a user loads an exported table model with torch, safetensors, numpy and pandas (no Head Start, no pickle): the
card shows it, a test runs it. Regression prints each value rounded to 4 decimals."""

