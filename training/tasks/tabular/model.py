"""The tabular task model: a plain MLP trained from scratch on the preprocessed columns (see
`training.tasks.tabular.data`).

[Linear → LayerNorm → ReLU → Dropout] × depth, then a linear head — the "MLP" baseline of Gorishniy et al. 2021,
"Revisiting Deep Learning Models for Tabular Data", with a LayerNorm in each block (measured against BatchNorm and
no norm in bench/tabular_lr_scan.py: see bench/RESULTS.md). LayerNorm rather than BatchNorm also keeps a row's
output independent of the other rows in its batch, so a batch of one and eval-mode switching behave the same.
"""
from __future__ import annotations

import json
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
                values.append(float(v))
            except (TypeError, ValueError):
                raise HeadStartError(f"row {i}: column {c!r} holds numbers, got {v!r}") from None
        data[c] = np.array(values, dtype=np.float64)
    for c in prep.categorical:
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
    """Write the delivered MLP as a folder: model.pt2 (`torch.export`: loads with torch alone, any number of rows),
    model.safetensors with config.json (its weights and shape, for Head Start and for rebuilding it), and
    preprocessing.joblib (the scikit-learn ColumnTransformer fitted on the run's own training rows)."""
    import joblib
    from safetensors.torch import save_file

    model = model.cpu().eval()
    blocks = model.backbone.blocks if hasattr(model.backbone, "blocks") else []
    config = {"n_features": prep.n_features, "n_outputs": model.n_outputs, "width": model.head.in_features,
              "depth": len(blocks), "target_mean": float(model.target_mean), "target_scale": float(model.target_scale),
              "numeric": list(prep.numeric), "categorical": list(prep.categorical), "labels": list(label_names),
              "feature_names": prep.feature_names}
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    joblib.dump(prep.columns, out / "preprocessing.joblib")
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


def load_exported_tabular(folder: Path):
    """(model, preprocessing, labels) of a folder `export_tabular` wrote."""
    import joblib
    from safetensors.torch import load_file

    from training.tasks.tabular.data import TabularPreprocessor

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model = TabularMLP(config["n_features"], config["n_outputs"], config["width"], config["depth"], 0.0,
                       config["target_mean"], config["target_scale"])
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    task = "tabular-regression" if config["n_outputs"] == 1 else "tabular-classification"
    prep = TabularPreprocessor(config["numeric"], config["categorical"], task, config["labels"])
    prep.columns = joblib.load(folder / "preprocessing.joblib")
    prep.target_mean, prep.target_scale = config["target_mean"], config["target_scale"]
    return model.eval(), prep, config["labels"]


CARD_SNIPPET = '''import json, joblib, numpy as np, pandas as pd, torch

folder = "{folder}"
config = json.load(open(f"{{folder}}/config.json"))
preprocessing = joblib.load(f"{{folder}}/preprocessing.joblib")  # scikit-learn, fitted on the run's training rows
model = torch.export.load(f"{{folder}}/model.pt2").module()
rows = pd.DataFrame([{example}])
for c in config["numeric"]:
    rows[c] = pd.to_numeric(rows[c], errors="coerce").astype("float64")
for c in config["categorical"]:
    rows[c] = rows[c].astype(object).where(rows[c].notna(), np.nan)
features = torch.from_numpy(np.ascontiguousarray(preprocessing.transform(rows[config["numeric"] + config["categorical"]]),
                                                 dtype=np.float32))
with torch.no_grad():
    out = model(features)
print([round(float(v), 4) for v in out.reshape(-1)] if config["n_outputs"] == 1
      else [config["labels"][i] for i in out.argmax(-1).tolist()])'''
"""How a user loads an exported table model with torch, pandas and scikit-learn (no Head Start): the card shows it, a
test runs it. Regression prints each value rounded to 4 decimals."""
