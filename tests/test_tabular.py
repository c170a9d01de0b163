"""Tabular tasks: reading and typing a table, the errors a user sees, preprocessing fitted on a run's training rows
only, the batches and the MLP the loop trains, and the references (trivial, gradient-boosted trees, linear)."""
import numpy as np
import pandas as pd
import pytest
import torch

from training.config import DataConfig
from training.core.data.tokenize import length_sorted_batches, stream_indices
from training.core.models import find_blocks
from training.errors import DataError
from training.tasks.tabular import references as tabular_reference
from training.tasks.tabular.data import (
    BUILTIN_TABLES,
    TabularExamples,
    TabularPreprocessor,
    load_tabular_table,
    prepare,
    prepare_run_parts,
    suggest_target,
)
from training.tasks.tabular.model import MLPBlock, build_tabular_model
from training.tasks.tabular.references import regression_scores, tabular_reference_rows
from training.testing import tabular_rows

CLS, REG = "tabular-classification", "tabular-regression"
TARGET = {CLS: "label", REG: "price"}


def write(tmp_path, rows, name="table.csv") -> str:
    path = tmp_path / name
    df = pd.DataFrame(rows)
    if name.endswith(".parquet"):
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False)
    return str(path)


@pytest.fixture(autouse=True)
def fewer_rounds(monkeypatch):
    """300 boosting rounds × 6 settings per fit is the product's budget; 40 rounds keep these tests fast."""
    monkeypatch.setattr(tabular_reference, "GBDT_MAX_ITER", 40)


# -- reading and typing ----------------------------------------------------------------------------

def test_column_typing_drops_ids_constants_target_copies_and_free_text(tmp_path):
    n = 60
    rng = np.random.default_rng(0)
    rows = [{"sku": f"SKU-{i:04d}", "row": i, "country": "NL", "size": float(rng.normal()),
             "colour": ["red", "green", "blue"][i % 3], "in_stock": bool(i % 2), "comment": f"note {i // 2}",
             "label_copy": "yes" if i % 4 else "no", "label": "yes" if i % 4 else "no"} for i in range(n)]
    t = load_tabular_table(write(tmp_path, rows), CLS)
    assert t.numeric == ["size"]  # a CSV is read as text: the numbers are recognised anyway
    assert t.categorical == ["colour", "in_stock"]
    assert list(t.frame.columns) == ["size", "colour", "in_stock"] and t.frame["size"].dtype == np.float64
    notes = " | ".join(t.notes)
    for col, why in (("sku", "like an ID"), ("row", "counts the rows"), ("country", "same value"),
                     ("comment", "too many"), ("label_copy", "copy of the target")):
        assert f"column {col!r} dropped" in notes and why in notes, (col, notes)
    assert t.label_names == ["no", "yes"] and len(t) == n and len(t.fingerprint) == 64


def product_table(n: int = 200, copies: int = 20, seed: int = 0) -> pd.DataFrame:
    """A product export: a random SKU number per row, a name per row, category, weight, a 1–5 rating and the price;
    the last `copies` rows repeat earlier ones exactly."""
    rng = np.random.default_rng(seed)
    cat = rng.choice(["shoes", "bags", "hats"], n)
    weight = rng.uniform(0.1, 3, n).round(2)
    df = pd.DataFrame({"sku": rng.choice(np.arange(100_000, 999_999), n, replace=False),
                       "name": [f"{c} model {i}" for i, c in enumerate(cat)], "category": cat, "weight_kg": weight,
                       "rating": rng.choice([3.0, 3.5, 4.0, 4.5, 5.0], n),
                       "price": (20 + 30 * weight + 40 * (cat == "bags") + rng.normal(0, 5, n)).round(2)})
    return pd.concat([df, df.iloc[:copies]], ignore_index=True)


def test_a_product_table_suggests_its_target_and_drops_a_numeric_sku(tmp_path):
    df = product_table()
    assert suggest_target(df, REG) == "price"  # `rating` is named like a label, but price is what a table is for
    assert suggest_target(df.rename(columns={"price": "amount_paid"}), REG) == "amount_paid"  # last number column
    assert suggest_target(df, CLS) == "rating"  # classes: not the SKU, the name or the price
    assert suggest_target(pd.DataFrame(tabular_rows(50)), CLS) == "label"
    t = load_tabular_table(write(tmp_path, df), REG, label_column="price")
    assert t.dropped_columns == ["sku", "name"] and t.numeric == ["weight_kg", "rating"]
    assert "its name says it identifies a row" in t.notes[0]
    # A number column that is not named like an ID stays, however many values it has.
    assert load_tabular_table(write(tmp_path, df.rename(columns={"sku": "stock"}), "b.csv"), REG,
                              label_column="price").numeric == ["stock", "weight_kg", "rating"]


def test_copied_rows_are_counted_and_kept_on_one_side_of_the_split(tmp_path):
    cfg = DataConfig(source=write(tmp_path, product_table(copies=40)), label_column="price", eval_fraction=0.3)
    data = prepare(cfg, REG)
    assert data.info["duplicate_rows"] == 40 and "40 of 240 rows repeat another row" in data.info["note"]
    table = data.extra["table"]
    sides = {}
    for part, idx in zip("tve", data.extra["indices"], strict=True):
        for i in idx:
            sides.setdefault(table.groups[i], set()).add(part)
    assert sum(len(s) > 1 for s in sides.values()) == 0 and sum(g.startswith("copy-") for g in table.groups) == 80
    assert load_tabular_table(write(tmp_path, product_table(copies=0), "c.csv"), REG, label_column="price").groups is None


def test_a_test_file_for_a_table_is_scored_whole_and_checked(tmp_path):
    df = product_table(copies=0)
    test = product_table(60, copies=0, seed=1).drop(columns=["sku"])  # an ID column the table drops may be absent
    test.loc[:4] = df.drop(columns=["sku"]).iloc[:5].to_numpy()  # five rows of the table itself
    cfg = DataConfig(source=write(tmp_path, df), label_column="price", eval_source=write(tmp_path, test, "test.csv"))
    data = prepare(cfg, REG)
    assert data.info["eval_rows"] == data.info["eval_file_rows"] == 60 and len(data.eval) == 60
    assert data.info["train_rows"] + data.info["validation_rows"] == 200  # the table is all training side
    assert data.info["test_rows_in_table"] == 5 and "5 of the test set's 60 rows are also rows" in data.info["note"]
    assert data.fingerprint != data.info["source_fingerprint"]
    with pytest.raises(DataError, match="test set file .*test2.csv has no column 'weight_kg'"):
        prepare(DataConfig(source=cfg.source, label_column="price",
                           eval_source=write(tmp_path, test.drop(columns=["weight_kg"]), "test2.csv")), REG)
    with pytest.raises(DataError, match="'weight_kg' of the test set .* holds 'heavy'"):
        prepare(DataConfig(source=cfg.source, label_column="price",
                           eval_source=write(tmp_path, test.assign(weight_kg="heavy"), "test3.csv")), REG)
    rows = tabular_rows(120)
    new_class = [dict(r, label="medium") for r in tabular_rows(10, seed=5)]
    with pytest.raises(DataError, match="class 'medium' in 'label'"):
        prepare(DataConfig(source=write(tmp_path, rows, "t.csv"), eval_source=write(tmp_path, new_class, "e.csv")), CLS)


def test_missing_tokens_and_missing_targets(tmp_path):
    rows = [{"x": "NA" if i % 5 == 0 else "inf" if i == 1 else str(i * 0.5), "c": "" if i % 7 == 0 else "ab"[i % 2],
             "y": "" if i % 10 == 3 else str(i)} for i in range(40)]
    t = load_tabular_table(write(tmp_path, rows), REG, label_column="y")
    assert t.numeric == ["x"] and t.categorical == ["c"]
    assert t.dropped_rows == 4 and len(t) == 36 and t.target.dtype == np.float64
    assert t.frame["x"].isna().sum() == 9 and t.frame["c"].isna().sum() > 0  # kept: the preprocessing imputes


def test_explicit_feature_columns_and_parquet_dtypes(tmp_path):
    rows = [{"a": i % 7, "b": ["u", "v"][i % 2], "flag": i % 3 == 0, "y": i % 3} for i in range(30)]
    t = load_tabular_table(write(tmp_path, rows, "t.parquet"), CLS, label_column="y", feature_columns=["a", "flag"])
    assert t.numeric == ["a"] and t.categorical == ["flag"] and t.label_names == ["0", "1", "2"]


def test_fingerprint_follows_the_content(tmp_path):
    rows = tabular_rows(50)
    a = load_tabular_table(write(tmp_path, rows, "a.csv"), CLS)
    b = load_tabular_table(write(tmp_path, rows, "b.csv"), CLS)
    rows[3]["size"] += 1
    c = load_tabular_table(write(tmp_path, rows, "c.csv"), CLS)
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize("rows, task, kwargs, says", [
    ([{"x": 1, "y": 2}] * 3, REG, {"label_column": "target"},
     ["'target' not found", "my_upload.csv", "columns are: x, y", "data.label_column"]),
    ([{"x": 1, "y": i} for i in range(5)], REG, {"label_column": "y"}, ["no usable feature columns", "my_upload.csv",
                                                                         "'x' dropped"]),
    ([{"x": i, "y": "cheap" if i else "12"} for i in range(5)], REG, {"label_column": "y"},
     ["not numeric", "'cheap'", "tabular-classification", "my_upload.csv"]),
    ([{"x": i, "y": "a"} for i in range(5)], CLS, {"label_column": "y"}, ["only one class", "'a'", "my_upload.csv"]),
    ([{"x": i % 3, "y": i * 1.37} for i in range(200)], CLS, {"label_column": "y"},
     ["looks like a measurement", "200 distinct", "tabular-regression", "my_upload.csv"]),
    ([{"x": i, "y": 5} for i in range(5)], REG, {"label_column": "y"}, ["same value", "my_upload.csv"]),
    ([{"x": i, "y": i % 2} for i in range(5)], CLS, {"label_column": "y", "feature_columns": ["x", "z"]},
     ["'z' not found", "data.feature_columns"]),
    ([{"x": i, "y": i % 2} for i in range(5)], CLS, {"label_column": "y", "feature_columns": ["x", "y"]},
     ["includes the target column 'y'"]),
])
def test_errors_name_the_file_and_the_fix(tmp_path, rows, task, kwargs, says):
    with pytest.raises(DataError) as e:
        load_tabular_table(write(tmp_path, rows), task, display_name="my_upload.csv", **kwargs)
    for s in says:
        assert s in str(e.value), (s, str(e.value))


def test_builtins_load_offline():
    d = load_tabular_table("builtin:diamonds", REG)  # the generic "label" becomes the built-in's own target
    assert len(d) == 53_940 and d.target_column == "price" and d.target.dtype == np.float64
    assert d.numeric == ["carat", "depth", "table", "x", "y", "z"] and d.categorical == ["cut", "color", "clarity"]
    assert d.notes == [] and d.target.min() == 326
    p = load_tabular_table("builtin:penguins", CLS)
    assert len(p) == 344 and p.label_names == ["Adelie", "Chinstrap", "Gentoo"] and p.frame.isna().any().any()
    m = load_tabular_table("builtin:mpg", REG)
    assert len(m) == 234 and m.target_column == "hwy" and "manufacturer" in m.categorical
    cut = load_tabular_table("builtin:diamonds", CLS, label_column="cut", max_rows=500)
    assert len(cut) == 500 and "price" in cut.numeric
    assert set(BUILTIN_TABLES) == {"diamonds", "penguins", "mpg"}
    with pytest.raises(DataError, match="tabular built-ins are: diamonds"):
        load_tabular_table("builtin:nope", REG)


# -- preprocessing: fitted on the run's training rows only -----------------------------------------

def leaky_table(tmp_path, task=REG):
    """Train rows 0..39 ordinary; rows 40..59 (val and eval) have extreme numbers, an unseen category, and missing
    values in a column complete in the training rows."""
    rows = []
    for i in range(60):
        later = i >= 40
        rows.append({"num": 1e6 + i if later else float(i % 10), "full": np.nan if later and i % 2 else float(i % 4),
                     "cat": "never-in-train" if later else "ab"[i % 2], "gap": np.nan if i % 5 == 0 else float(i % 3),
                     "y": 1e5 if later else float(i % 7)} | ({"y": "ab"[i % 2]} if task == CLS else {}))
    return load_tabular_table(write(tmp_path, rows), task, label_column="y")


def test_preprocessing_sees_only_training_rows(tmp_path):
    t = leaky_table(tmp_path)
    train, rest = np.arange(40), np.arange(40, 60)
    tr, val, ev, info = prepare_run_parts(t, train, rest[:10], rest[10:], [], REG)
    x = t.frame.iloc[train]
    prep = TabularPreprocessor(t.numeric, t.categorical, REG).fit(x, t.target[train])
    scaler = prep.columns.named_transformers_["num"][-1]
    assert scaler.mean_[0] == pytest.approx(x["num"].mean())  # the eval rows' 1e6 left no trace
    assert scaler.scale_[0] == pytest.approx(x["num"].std(ddof=0))
    encoder = prep.columns.named_transformers_["cat"][-1]
    assert [list(c) for c in encoder.categories_] == [["a", "b"]]
    assert info["target_mean"] == pytest.approx(t.target[train].mean()) and info["target_mean"] < 10
    assert info["target_scale"] == pytest.approx(t.target[train].std())
    assert np.allclose(tr.labels.mean(), 0, atol=1e-6) and np.allclose(tr.labels.std(), 1, atol=1e-5)
    assert ev.labels.min() > 1000  # standardised with the training rows' scale, so far out (not re-centred)
    assert tr.features.dtype == np.float32 and ev.features.shape == (10, info["n_features"])
    assert np.isfinite(ev.features).all()  # a new category and new missing values do not crash or make NaN
    cat_cols = [i for i, name in enumerate(info["feature_names"]) if name.startswith("cat__")]
    assert (ev.features[:, cat_cols] == 0).all()  # an unseen category is no known category


def test_missing_values_are_imputed_with_an_indicator(tmp_path):
    t = leaky_table(tmp_path)
    train = np.arange(40)
    tr, _, _, info = prepare_run_parts(t, train, np.arange(40, 50), np.arange(50, 60), [], REG)
    names = info["feature_names"]
    assert "missing__missingindicator_gap" in names and "missing__missingindicator_full" not in names  # none in train
    gap, flag = names.index("num__gap"), names.index("missing__missingindicator_gap")
    missing = t.frame["gap"].iloc[train].isna().to_numpy()
    assert set(tr.features[:, flag]) == {0.0, 1.0} and (tr.features[:, flag] == missing).all()  # 0/1, not scaled
    # the imputed rows all hold the training median (standardised), the middle of the present values
    assert len(set(tr.features[missing, gap].round(5))) == 1
    assert np.median(tr.features[~missing, gap]) == pytest.approx(tr.features[missing, gap][0], abs=1e-5)


def test_classification_codes_follow_the_given_label_list(tmp_path):
    t = leaky_table(tmp_path, CLS)
    tr, val, ev, info = prepare_run_parts(t, np.arange(40), np.arange(40, 50), np.arange(50, 60), ["a", "b", "c"], CLS)
    assert tr.labels.dtype == np.int64 and set(tr.labels) == {0, 1}
    assert info["target_mean"] is None and info["target_scale"] is None


# -- batches and the model -------------------------------------------------------------------------

@pytest.mark.parametrize("task, dtype", [(CLS, torch.int64), (REG, torch.float32)])
def test_examples_batch_without_lengths(task, dtype):
    labels = np.arange(10, dtype=np.int64) % 3 if task == CLS else np.linspace(-1, 1, 10).astype(np.float32)
    data = TabularExamples(np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32), labels)
    assert not hasattr(data, "lengths") and len(data) == 10
    batch = data.collate(np.array([3, 1, 4]), 0, torch.device("cpu"))
    assert batch["features"].shape == (3, 4) and batch["features"].dtype == torch.float32
    assert batch["labels"].dtype == dtype and batch["labels"].shape == (3,)
    assert torch.equal(batch["features"][1], torch.from_numpy(data.features[1]))
    assert [len(b) for b in length_sorted_batches(data, 4)] == [4, 4, 2]
    assert len(stream_indices(len(data), 0, 0, 25, getattr(data, "lengths", None), 4)) == 25
    assert len(data.subset(np.array([0, 2]))) == 2


@pytest.mark.parametrize("n_outputs, shape", [(3, (5, 3)), (1, (5,))])
def test_mlp_shapes_blocks_and_seeding(n_outputs, shape):
    model = build_tabular_model(7, n_outputs, seed=0, width=16, depth=3, dropout=0.0, target_mean=10.0,
                                target_scale=2.0)
    x = torch.randn(5, 7)
    assert model(features=x).shape == shape and model.embed(x).shape == (5, 16)
    blocks = find_blocks(model.backbone)
    assert len(blocks) == 3 and all(isinstance(b, MLPBlock) for b in blocks)
    assert isinstance(model.head, torch.nn.Linear) and model.head.out_features == n_outputs
    assert float(model.target_mean) == 10.0 and float(model.target_scale) == 2.0
    assert "target_scale" in model.state_dict()
    same = build_tabular_model(7, n_outputs, seed=0, width=16, depth=3, dropout=0.0)
    other = build_tabular_model(7, n_outputs, seed=1, width=16, depth=3, dropout=0.0)
    assert torch.equal(model(features=x), same(features=x)) and not torch.equal(model(features=x), other(features=x))
    he = build_tabular_model(7, n_outputs, seed=0, width=16, init="he")
    assert not torch.equal(he.head.weight, build_tabular_model(7, n_outputs, seed=0, width=16).head.weight)
    model(features=x[:1]).sum().backward()  # a batch of one trains (no batch statistics)


def test_mlp_learns_a_synthetic_table(tmp_path):
    t = load_tabular_table(write(tmp_path, tabular_rows(300)), CLS)
    idx = np.arange(len(t))
    tr, _, ev, info = prepare_run_parts(t, idx[:240], idx[240:260], idx[260:], t.label_names, CLS)
    model = build_tabular_model(info["n_features"], 2, seed=0, width=32, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(150):
        batch = tr.collate(stream_indices(len(tr), 0, step * 32, 32), 0, torch.device("cpu"))
        loss = torch.nn.functional.cross_entropy(model(features=batch["features"]), batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    batch = ev.collate(np.arange(len(ev)), 0, torch.device("cpu"))
    assert (model(features=batch["features"]).argmax(-1) == batch["labels"]).float().mean() > 0.8


# -- references ------------------------------------------------------------------------------------

def test_regression_scores_by_hand():
    y, pred = np.array([1.0, 2.0, 3.0, 6.0]), np.array([2.0, 2.0, 1.0, 6.0])
    s = regression_scores(pred, y, train_scale=2.0)
    # errors 1, 0, -2, 0: MSE 5/4; mean |e| 3/4; SST around the mean 3: 4 + 1 + 0 + 9 = 14
    assert s["rmse"] == pytest.approx(np.sqrt(1.25)) and s["mae"] == pytest.approx(0.75)
    assert s["r2"] == pytest.approx(1 - 5 / 14) and s["loss"] == pytest.approx(1.25 / 4)


def split(n, seed=0):
    p = np.random.default_rng(seed).permutation(n)
    return p[: int(0.6 * n)], p[int(0.6 * n): int(0.8 * n)], p[int(0.8 * n):]


@pytest.mark.parametrize("task", [CLS, REG])
def test_trees_beat_the_trivial_reference(tmp_path, task):
    t = load_tabular_table(write(tmp_path, tabular_rows(400, task=task)), task, label_column=TARGET[task])
    pool, val, evals = split(len(t))
    subsets = {(60, 0): np.arange(60), (240, 0): np.arange(240)}
    rows = tabular_reference_rows(t, pool, val, evals, subsets, t.label_names, task)
    by = {(r["reference"], r["n_train"]): r for r in rows}
    trivial = "majority" if task == CLS else "mean"
    assert {r["reference"] for r in rows} == {trivial, "gbdt", "linear"} and len(rows) == 6
    for n in (60, 240):
        assert by[("gbdt", n)]["loss"] < by[(trivial, n)]["loss"]
        assert set(by[("gbdt", n)]["params"]) == {"learning_rate", "max_leaf_nodes", "max_iter", "min_samples_leaf"}
        assert by[("gbdt", n)]["name"] == "gradient-boosted trees (scikit-learn)"
        assert by[("gbdt", n)]["eval_examples"] == len(evals)
    if task == CLS:
        assert by[("gbdt", 240)]["accuracy"] > by[("majority", 240)]["accuracy"] + 0.2
        assert 0 <= by[("linear", 240)]["macro_f1"] <= 1 and "C" in by[("linear", 240)]["params"]
    else:
        assert by[("gbdt", 240)]["r2"] > 0.8 and abs(by[("mean", 240)]["r2"]) < 0.1
        assert by[("linear", 240)]["r2"] > 0.9 and "alpha" in by[("linear", 240)]["params"]
        assert by[("mean", 240)]["params"] == {}


@pytest.mark.parametrize("task", [CLS, REG])
def test_reference_choices_never_see_the_eval_labels(tmp_path, task):
    t = load_tabular_table(write(tmp_path, tabular_rows(300, task=task)), task, label_column=TARGET[task])
    pool, val, evals = split(len(t))
    subsets = {(120, 0): np.arange(120)}
    first = tabular_reference_rows(t, pool, val, evals, subsets, t.label_names, task)
    t.target[evals] = np.random.default_rng(1).permutation(t.target[evals])
    t.frame.iloc[evals] = t.frame.iloc[evals].sample(frac=1, random_state=1).to_numpy()  # shuffled eval rows too
    second = tabular_reference_rows(t, pool, val, evals, subsets, t.label_names, task)
    for a, b in zip(first, second, strict=True):
        assert a["params"] == b["params"]  # chosen on the validation rows alone
    assert any(a["loss"] != b["loss"] for a, b in zip(first, second, strict=True))  # and eval did change the scores


def test_subset_without_a_second_class_gets_only_the_trivial_reference(tmp_path):
    t = load_tabular_table(write(tmp_path, tabular_rows(120)), CLS)
    pool, val, evals = split(len(t))
    one_class = np.flatnonzero(t.target[pool] == "large")[:5]
    rows = tabular_reference_rows(t, pool, val, evals, {(5, 0): one_class}, t.label_names, CLS)
    assert [r["reference"] for r in rows] == ["majority"]


def test_a_class_of_a_few_rows_is_named(tmp_path):
    """A newcomer's wine table had quality 3 once in 505 rows and nothing said so (issue 27)."""
    from training.tasks.tabular.data import class_warnings

    rows = tabular_rows(120) + [dict(tabular_rows(1)[0], label="huge")]
    t = load_tabular_table(write(tmp_path, rows), CLS)
    (warning,) = class_warnings(t)
    assert "1 of the 3 classes of 'label'" in warning and "'huge' (1 row)" in warning
    assert class_warnings(load_tabular_table(write(tmp_path, tabular_rows(120), "b.csv"), CLS)) == []
