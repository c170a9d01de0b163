"""Data sources, column mapping, splits, nested subsets and the tokenisation cache."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.config import DataConfig
from training.core.data.sources import load_table
from training.core.data.split import nested_subset_order, train_eval_split
from training.core.data.task import read_table
from training.errors import DataError
from training.tasks import prepare_task_data
from training.testing import topic_rows


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_every_file_format_loads(tmp_path, fmt):
    df = pd.DataFrame(topic_rows(20))
    path = tmp_path / f"d.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    t = load_table(str(path), labelled=True)
    assert t.texts == df["text"].tolist() and t.labels == df["label"].tolist()
    assert t.label_names == sorted(set(df["label"]))


def test_column_mapping_and_integer_labels(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"review": ["good film", "bad film", "fine"], "stars": [5, 1, 3]}).to_csv(path, index=False)
    t = load_table(str(path), labelled=True, text_column="review", label_column="stars")
    assert t.labels == ["5", "1", "3"]


def test_unknown_column_lists_the_columns(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a b", "c d"], "sentiment": ["pos", "neg"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="label column 'label' not found .*columns are: text, sentiment"):
        load_table(str(path), labelled=True)


def test_one_class_only(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a b", "c d"], "label": ["pos", "pos"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="only one class \\('pos'\\).*at least two"):
        load_table(str(path), labelled=True)


def test_empty_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        load_table(str(path), labelled=True)
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        load_table(str(path), labelled=True)


def test_non_utf8_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,drink\nth\xe9,drink\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 .*re-save it as UTF-8"):
        load_table(str(path), labelled=True)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        load_table(str(tmp_path / "d.xlsx"), labelled=True)
    with pytest.raises(DataError, match="not found"):
        load_table(str(tmp_path / "missing.csv"), labelled=True)


def test_builtin_of_the_wrong_kind_and_unknown_builtin():
    with pytest.raises(DataError, match="is not text-classification data; built-ins for text-classification: stdlib-docstrings"):
        prepare_task_data(DataConfig(source="builtin:python-stdlib"), "text-classification", None, 32)  # the kind checks
    with pytest.raises(DataError, match="unknown built-in dataset 'tweets'"):
        load_table("builtin:tweets", labelled=True)


def test_rows_with_missing_text_or_label_are_dropped_and_counted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nhello there,a\n,b\nbye now,\nsee you,b\n", encoding="utf-8")
    t = load_table(str(path), labelled=True)
    assert t.texts == ["hello there", "see you"] and t.dropped_rows == 2


def test_stdlib_docstrings_builtin_is_real_and_large():
    t = load_table("builtin:stdlib-docstrings", labelled=True, group_column="group")
    assert len(t) >= 3000 and len(t.label_names) >= 4
    assert any("socket" in x.lower() for x in t.texts)
    again = load_table("builtin:stdlib-docstrings", labelled=True, group_column="group")
    assert again.fingerprint == t.fingerprint  # cached table gives identical rows


def test_split_keeps_groups_on_one_side_and_is_stratified_and_deterministic():
    t = load_table("builtin:stdlib-docstrings", labelled=True, group_column="group")
    tr, ev = train_eval_split(len(t), t.labels, t.groups, 0.2, None, seed=0)
    assert not {t.groups[i] for i in tr} & {t.groups[i] for i in ev}
    assert set(tr) | set(ev) == set(range(len(t)))
    train_counts, eval_counts = Counter(t.labels[i] for i in tr), Counter(t.labels[i] for i in ev)
    assert set(train_counts) == set(t.label_names) and set(eval_counts) == set(t.label_names)
    tr2, ev2 = train_eval_split(len(t), t.labels, t.groups, 0.2, None, seed=0)
    assert np.array_equal(tr, tr2) and np.array_equal(ev, ev2)
    _, ev3 = train_eval_split(len(t), t.labels, t.groups, 0.2, None, seed=1)
    assert not np.array_equal(ev, ev3)


@pytest.mark.parametrize("policy", ["fixed", "per-seed"])
def test_nested_subsets_for_every_seed_policy(policy):
    labels = [f"c{i % 5}" for i in range(2000)] + ["rare"] * 7
    for seed in (0, 1, 2):
        order = nested_subset_order(labels, len(labels), split_seed=0, run_seed=seed, policy=policy)
        assert sorted(order) == list(range(len(labels)))
        small, big = set(order[:100]), set(order[:1000])
        assert small <= big  # N=100 lies inside N=1000
        assert {labels[i] for i in order[:6]} == set(labels)  # the first examples cover every class
        counts = Counter(labels[i] for i in order[:1000])
        assert all(abs(counts[f"c{k}"] - 199) <= 4 for k in range(5))  # prefixes stay stratified
    a = nested_subset_order(labels, len(labels), 0, 0, policy)
    b = nested_subset_order(labels, len(labels), 0, 1, policy)
    assert (np.array_equal(a, b)) == (policy == "fixed")


def test_tokenisation_cache_is_hit_on_the_second_prepare(tmp_path, topic_csv, minilm_dir):
    from training.core.models import load_tokenizer

    class Counting:
        def __init__(self, tok):
            self.tok, self.calls = tok, 0

        def __call__(self, *a, **k):
            self.calls += 1
            return self.tok(*a, **k)

        def __getattr__(self, name):
            return getattr(self.tok, name)

    tok = Counting(load_tokenizer(minilm_dir))
    cfg = DataConfig(source=str(topic_csv), group_column="doc")
    first = prepare_task_data(cfg, "text-classification", tok, 32, tmp_path)
    calls = tok.calls
    second = prepare_task_data(cfg, "text-classification", tok, 32, tmp_path)
    assert calls == 1 and tok.calls == 1
    assert all(np.array_equal(x, y) for x, y in zip(first.train.ids, second.train.ids, strict=True))
    third = prepare_task_data(cfg, "text-classification", tok, 16, tmp_path)  # new max length → new key
    assert tok.calls == 2 and max(len(x) for x in third.train.ids) <= 16


def test_hf_source_goes_through_the_datasets_library(tmp_path, monkeypatch):
    """hf:NAME:CONFIG downloads a hub repo (replaced here by a local folder) and parses it with `datasets`."""
    repo = tmp_path / "hub" / "imdb-like"
    (repo / "plain").mkdir(parents=True)
    (repo / "other").mkdir()
    pd.DataFrame(topic_rows(30)).to_parquet(repo / "plain" / "train-00000-of-00001.parquet")
    pd.DataFrame(topic_rows(10, seed=3)).to_parquet(repo / "other" / "train-00000-of-00001.parquet")
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: plain\n  data_files:\n  - split: train\n    path: plain/train-*\n"
        "- config_name: other\n  data_files:\n  - split: train\n    path: other/train-*\n---\n", encoding="utf-8")
    calls = []

    def fake_snapshot(repo_id, repo_type):
        calls.append((repo_id, repo_type))
        return str(repo)

    monkeypatch.setattr("training.core.data.sources.hf_snapshot", fake_snapshot)
    t = load_table("hf:someone/imdb-like:other", labelled=True)
    assert calls == [("someone/imdb-like", "dataset")]
    assert t.texts == [r["text"] for r in topic_rows(10, seed=3)]
    with pytest.raises(DataError, match="someone/imdb-like"):
        load_table("hf:someone/imdb-like:nope", labelled=True)


def test_hf_download_failure_is_actionable(monkeypatch):
    def offline(repo_id, repo_type):
        raise OSError("network unreachable")

    monkeypatch.setattr("training.core.data.sources.hf_snapshot", offline)
    with pytest.raises(DataError, match="could not download Hugging Face dataset 'x/y'.*local file"):
        load_table("hf:x/y", labelled=True)


def test_causal_lm_blocks_never_cross_the_split(tmp_path, code_jsonl, tiny_gpt2_dir):
    from training.core.models import load_tokenizer

    tok = load_tokenizer(tiny_gpt2_dir)
    cfg = DataConfig(source=str(code_jsonl[0]), group_column="file")
    data = prepare_task_data(cfg, "causal-lm", tok, 16, tmp_path)
    assert len(data.train) > 0 and len(data.eval) > 0
    assert all(len(b) == 16 for b in data.train.ids)
    table = read_table(cfg, labelled=False)
    tr, ev = train_eval_split(len(table), None, table.groups, cfg.eval_fraction, None, cfg.split_seed)
    assert not set(tr) & set(ev)
    assert json.loads(code_jsonl[0].read_text().splitlines()[0])["file"] == "a0.py"


def test_eval_validation_and_training_pool_are_disjoint_by_group(tmp_path, topic_csv, minilm_dir):
    from training.core.models import load_tokenizer

    cfg = DataConfig(source=str(topic_csv), group_column="doc", eval_max=60)
    data = prepare_task_data(cfg, "text-classification", load_tokenizer(minilm_dir), 32, tmp_path)
    rows = pd.read_csv(topic_csv)
    doc_of = dict(zip(rows["text"], rows["doc"], strict=False))
    docs = {part: {doc_of[t] for t in data.texts[part]} for part in ("train", "validation", "eval")}
    assert not docs["train"] & docs["validation"] and not docs["train"] & docs["eval"]
    assert not docs["validation"] & docs["eval"]
    assert len(data.validation) == data.info["validation_rows"] > 0
    assert len(data.train) + len(data.validation) + len(data.eval) == len(rows)


def test_eval_source_is_the_eval_set_row_for_row(tmp_path, topic_csv, minilm_dir):
    from training.core.models import load_tokenizer

    test = tmp_path / "my_test.csv"
    test_rows = pd.DataFrame(topic_rows(37, seed=11)).drop(columns=["doc"])
    test_rows.to_csv(test, index=False)
    cfg = DataConfig(source=str(topic_csv), group_column="doc", eval_source=str(test), eval_max=10)
    data = prepare_task_data(cfg, "text-classification", load_tokenizer(minilm_dir), 32, tmp_path)
    assert data.texts["eval"] == list(test_rows["text"])  # every row, in order; eval_max does not apply
    assert [data.label_names[y] for y in data.eval.labels] == list(test_rows["label"])
    assert len(data.train) + len(data.validation) == len(pd.read_csv(topic_csv))  # the source is all training side
    pd.DataFrame({"text": ["a new kind of row"], "label": ["gardening"]}).to_csv(test, index=False)
    with pytest.raises(DataError, match="the eval set file .*my_test.csv has label 'gardening'.*its labels are: computing"):
        prepare_task_data(cfg, "text-classification", load_tokenizer(minilm_dir), 32, tmp_path)


def test_the_tweet_sentiment_builtin_is_real_labelled_text_once_each():
    t = load_table("builtin:tweet-sentiment", labelled=True, group_column="group")
    assert len(t) == 37185 and t.label_names == ["negative", "neutral", "positive"]
    assert len(set(t.texts)) == len(t.texts) and all(s == s.strip() and "\r" not in s for s in t.texts)
    counts = {name: t.labels.count(name) for name in t.label_names}
    assert counts == {"negative": 15954, "neutral": 14424, "positive": 6807}
    assert len(set(t.groups)) == len(t)  # no two tweets share a source: the split is a plain stratified one


WINE_HEADER = ('"fixed acidity";"volatile acidity";"citric acid";"residual sugar";"chlorides";"free sulfur dioxide";'
               '"total sulfur dioxide";"density";"pH";"sulphates";"alcohol";"quality"')
WINE_ROWS = ["7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4;5", "7.8;0.88;0;2.6;0.098;25;67;0.9968;3.2;0.68;9.8;5",
             "7.8;0.76;0.04;2.3;0.092;15;54;0.997;3.26;0.65;9.8;5", "11.2;0.28;0.56;1.9;0.075;17;60;0.998;3.16;0.58;9.8;6",
             "7.4;0.66;0;1.8;0.075;13;40;0.9978;3.51;0.56;9.4;5", "7.9;0.6;0.06;1.6;0.069;15;59;0.9964;3.3;0.46;9.4;5",
             "7.3;0.65;0;1.2;0.065;15;21;0.9946;3.39;0.47;10;7", "7.8;0.58;0.02;2;0.073;9;18;0.9968;3.36;0.57;9.5;7"]


def test_a_semicolon_csv_like_the_uci_wine_file_is_split_on_semicolons(tmp_path):
    from training.core.data.sources import load_frame
    from training.tasks.tabular.data import load_tabular_table
    path = tmp_path / "winequality-red.csv"
    path.write_text("\n".join([WINE_HEADER, *WINE_ROWS]) + "\n", encoding="utf-8")
    df = load_frame(str(path))
    assert list(df.columns) == WINE_HEADER.replace('"', "").split(";") and len(df) == len(WINE_ROWS)
    assert df["quality"].tolist() == [r.rsplit(";", 1)[1] for r in WINE_ROWS] and df["pH"].iloc[0] == "3.51"
    table = load_tabular_table(str(path), "tabular-regression", label_column="quality")
    assert table.target_column == "quality" and "fixed acidity" in table.frame.columns and len(table) == len(WINE_ROWS)
    assert table.target.tolist() == [5.0, 5.0, 5.0, 6.0, 5.0, 5.0, 7.0, 7.0]
    t = load_table(str(path), labelled=True, text_column="alcohol", label_column="quality")
    assert t.labels == ["5", "5", "5", "6", "5", "5", "7", "7"]


def test_a_tab_separated_csv_is_split_on_tabs(tmp_path):
    path = tmp_path / "d.csv"
    df = pd.DataFrame(topic_rows(20))
    df.to_csv(path, index=False, sep="\t")
    t = load_table(str(path), labelled=True)
    assert t.texts == df["text"].tolist() and t.labels == df["label"].tolist()


def test_a_comma_csv_with_semicolons_in_quoted_cells_stays_comma_separated(tmp_path):
    from training.core.data.sources import load_frame
    path = tmp_path / "d.csv"
    df = pd.DataFrame({"text": ["first; second; third", "a; b", "no semicolon here", "x;y;z"],
                       "label": ["pos", "neg", "pos", "neg"]})
    df.to_csv(path, index=False)
    assert load_frame(str(path)).equals(df)
    # a one-column comma file whose cells hold semicolons stays one column
    one = tmp_path / "one.csv"
    one.write_text("text\nfirst; second\na; b; c\n", encoding="utf-8")
    assert load_frame(str(one))["text"].tolist() == ["first; second", "a; b; c"]


def test_a_table_read_as_one_column_says_which_separator_it_looks_like(tmp_path):
    from training.tasks.tabular.data import load_tabular_table
    path = tmp_path / "wine.tsv"  # a .tsv is always read with tabs, so the semicolons stay inside one column
    path.write_text("\n".join([WINE_HEADER, *WINE_ROWS]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="target column 'quality' not found .*separated by semicolons \\(';'\\)"):
        load_tabular_table(str(path), "tabular-regression", label_column="quality")
    with pytest.raises(DataError, match="text column 'alcohol' not found .*separated by semicolons"):
        load_table(str(path), labelled=True, text_column="alcohol", label_column="quality")


def test_rows_with_more_fields_than_the_header_are_named_not_shifted_into_other_columns(tmp_path):
    """Issue 28: a text with an unquoted comma gave its row a third field; pandas took the first column as an index
    (every text shifted: " would buy 0" read as the text, silently) or, with the long rows further down, read labels as
    texts and ended in a misleading "only one class". Now the lines are named with what to do; a trailing separator
    alone is no extra field, and short rows still read (their missing label counts as empty)."""
    from training.core.data.sources import load_frame

    every = tmp_path / "every.csv"
    every.write_text("text,label\n" + "".join(f"great product, would buy {i},{'pos' if i % 2 else 'neg'}\n"
                                              for i in range(50)), encoding="utf-8")
    with pytest.raises(DataError, match=r"every.csv: 50 rows have more fields than the header's 2 \(line 2 has 3, line 3 "
                                        r"has 3, line 4 has 3, …\)\. Usually a text holds commas without quotes"):
        load_table(str(every), labelled=True)
    some = tmp_path / "some.csv"
    some.write_text("text,label\n" + "".join((f"text {i},{'pos' if i % 2 else 'neg'}\n" if i != 30 else "a, b,pos\n")
                                              for i in range(50)), encoding="utf-8")
    with pytest.raises(DataError, match=r"some.csv: 1 row has more fields than the header's 2 \(line 32 has 3\)"):
        load_frame(str(some), display_name="some.csv")
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("text,label\nhello there,pos,\nbye now,neg,\n", encoding="utf-8")
    assert load_frame(str(trailing)).to_dict("records") == [{"text": "hello there", "label": "pos"},
                                                            {"text": "bye now", "label": "neg"}]
    short = tmp_path / "short.csv"
    short.write_text("text,label\na,pos\nb\nc,neg\n", encoding="utf-8")
    table = load_table(str(short), labelled=True)
    assert table.texts == ["a", "c"] and table.dropped_rows == 1


def test_parquet_bytes_are_text_when_utf8_and_a_binary_column_is_named_where_it_is_asked_for(tmp_path):
    """Issue 28: a Parquet file with a binary column raised UnicodeDecodeError from inside pandas. Strings stored as
    UTF-8 bytes read as text; other bytes (an image) are left out and named: by the mapping that asks for them, and
    among a table's dropped columns."""
    from training.tasks.tabular.data import load_tabular_table

    good = tmp_path / "good.parquet"
    pd.DataFrame({"text": [f"hello {i}".encode() for i in range(40)], "label": ["a", "b"] * 20}).to_parquet(good)
    assert load_table(str(good), labelled=True).texts[:2] == ["hello 0", "hello 1"]
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"text": [bytes([0xFF, 0xFE, i]) for i in range(40)], "label": ["a", "b"] * 20}).to_parquet(bad)
    with pytest.raises(DataError, match=r"text column 'text' not found .* Column 'text' holds binary values, not text "
                                        r"\(row 1 is not UTF-8\), so it is left out"):
        load_table(str(bad), labelled=True)
    mixed = tmp_path / "products.parquet"
    rng = np.random.default_rng(0)
    pd.DataFrame({"photo": [bytes([0xFF, i % 250]) for i in range(60)], "weight": rng.normal(size=60),
                  "price": rng.normal(size=60)}).to_parquet(mixed)
    table = load_tabular_table(str(mixed), "tabular-regression", label_column="price")
    assert table.numeric == ["weight"] and "photo" in table.dropped_columns
    assert "column 'photo' dropped: binary values, not text (row 1 is not UTF-8)" in table.notes


def test_a_text_files_copies_stay_on_one_side_of_the_split(tmp_path):
    """Issue 27: repeated examples could sit in training and eval at once; they are now counted and grouped (a file
    without copies splits exactly as before)."""
    from training.core.data.task import split_texts

    rows = topic_rows(200, seed=3)
    plain = tmp_path / "plain.csv"
    pd.DataFrame(rows).to_csv(plain, index=False)
    copied = tmp_path / "copied.csv"
    pd.DataFrame(rows + rows[:30] + rows[:5]).to_csv(copied, index=False)
    s = split_texts(DataConfig(source=str(copied)), labelled=True)
    assert s.info["duplicate_rows"] == 35 and "35 of 235 examples repeat another exactly" in s.info["note"]
    part = {}
    for name, idx in (("train", s.train_idx), ("validation", s.val_idx), ("eval", s.eval_idx)):
        for i in idx:
            part.setdefault((s.table.texts[i], s.table.labels[i]), set()).add(name)
    assert all(len(sides) == 1 for sides in part.values())
    before = split_texts(DataConfig(source=str(plain)), labelled=True)
    assert "duplicate_rows" not in before.info and before.table.groups is None


def test_a_jsonl_of_arrays_reads_with_string_column_names(tmp_path):
    """Issue 28, item 9: a JSONL whose lines are arrays gave columns 0, 1 and a KeyError where the page picked '0'."""
    from training.core.data.columns import check_mapping
    from training.core.data.sources import load_frame

    path = tmp_path / "arrays.jsonl"
    path.write_text("".join(json.dumps([f"text number {i}", "a" if i % 2 else "b"]) + "\n" for i in range(40)))
    df = load_frame(str(path))
    assert list(df.columns) == ["0", "1"]
    assert check_mapping(df, "0", "1", "arrays.jsonl") == []


def _sms_lines(n: int) -> list[str]:
    """An SMS spam export as people bring it: no header row, label TAB message, messages with stray quotes."""
    messages = ["Go until jurong point, crazy.. Available only in bugis n great world la e buffet...",
                "Ok lar... Joking wif u oni...", '"Hey are you coming tonight', "Free entry in 2 a wkly comp to win",
                'He said "yes" and left', "Nah I don't think he goes to usf, he lives around here though"]
    return [f"{'spam' if i % 4 == 0 else 'ham'}\t{messages[i % len(messages)]} ({i})" for i in range(n)]


def test_a_headerless_file_with_stray_quotes_is_read_line_for_line_with_a_note(tmp_path):
    """Issue 41, item 2: the headerless SMS file's first message became the column names, and its quote characters ran
    3 messages into one row. Now every line is a row, the columns are named "column 1", "column 2", and the note says
    both; the suggested mapping reads the contents (the message is the text, ham/spam the label)."""
    from training.core.data.columns import column_values, suggest_columns
    from training.core.data.sources import load_frame

    path = tmp_path / "SMSSpamCollection.tsv"
    path.write_text("\n".join(_sms_lines(120)) + "\n", encoding="utf-8")
    df = load_frame(str(path), display_name="SMSSpamCollection.tsv")
    assert list(df.columns) == ["column 1", "column 2"] and len(df) == 120
    assert df["column 2"].iloc[2] == '"Hey are you coming tonight (2)' and df["column 1"].iloc[0] == "spam"
    note = df.attrs["note"]
    assert note.startswith("SMSSpamCollection.tsv has no header row: its first line (spam Go until") and \
        "column 1 to column 2" in note and "quote characters that quote nothing" in note, note
    assert suggest_columns(df, column_values(df)) == {"text": "column 2", "label": "column 1"}
    table = load_table(str(path), labelled=True, text_column="column 2", label_column="column 1")
    assert len(table) == 120 and table.label_names == ["ham", "spam"] and "no header row" in table.note


def test_header_rows_stay_names_and_quoting_that_quotes_stays(tmp_path):
    """What must not change: a header over numbers ("PassengerId" over 1, 2, 3) or over texts is a header; a one-column
    file keeps its first line as its name; quotes around a text with commas or line breaks quote it."""
    from training.core.data.sources import load_frame

    titanic = [f'{i + 1},{i % 2},{1 + i % 3},"Passenger{i}, Mr. {"ABC"[i % 3]}",{"male" if i % 3 else "female"},'
               f'{20 + i % 40},PC {17000 + i},{7.25 + i:.2f},,{"SCQ"[i % 3]}' for i in range(30)]
    header = "PassengerId,Survived,Pclass,Name,Sex,Age,Ticket,Fare,Cabin,Embarked"
    (tmp_path / "with.csv").write_text("\n".join([header, *titanic]) + "\n", encoding="utf-8")
    (tmp_path / "without.csv").write_text("\n".join(titanic) + "\n", encoding="utf-8")
    named = load_frame(str(tmp_path / "with.csv"))
    assert list(named.columns) == header.split(",") and len(named) == 30 and not named.attrs["note"]
    bare = load_frame(str(tmp_path / "without.csv"))
    assert list(bare.columns) == [f"column {i}" for i in range(1, 11)] and len(bare) == 30
    assert bare["column 4"].iloc[0] == "Passenger0, Mr. A" and "no header row" in bare.attrs["note"]
    texts = ["text,label", '"great, would buy again",pos', '"broke after\ntwo weeks",neg', "fine for the money,pos"] * 1
    (tmp_path / "quoted.csv").write_text("\n".join(texts + ["ok,neg"] * 5) + "\n", encoding="utf-8")
    quoted = load_frame(str(tmp_path / "quoted.csv"))
    assert list(quoted.columns) == ["text", "label"] and len(quoted) == 8 and not quoted.attrs["note"]
    assert quoted["text"].iloc[1] == "broke after\ntwo weeks"
    (tmp_path / "one.csv").write_text("\n".join(["a long sentence that names the only column here oddly"] +
                                                 ["text"] * 5) + "\n", encoding="utf-8")
    assert list(load_frame(str(tmp_path / "one.csv")).columns) == ["a long sentence that names the only column here oddly"]


def _titanic_shifted(tmp_path) -> Path:
    """A Titanic-like table where 4 rows were shifted one column by a separator in a name: 'S', 'C', '1C' in Survived."""
    rows = ["PassengerId,Survived,Pclass,Sex,Age,Fare,Embarked"]
    for i in range(400):
        rows.append(f"{i + 1},{i % 2},{1 + i % 3},{'male' if i % 3 else 'female'},{20 + i % 40},{7 + i % 50}.25,"
                    f"{'SCQ'[i % 3]}")
    for i, odd in enumerate(["S", "C", "1C", "S"]):
        rows.append(f"{401 + i},{odd},3,male,30,8.05,")
    path = tmp_path / "titanic.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_label_column_with_a_few_stray_values_stops_drops_or_keeps_as_asked(tmp_path):
    """Issue 41, item 2: four shifted Titanic rows put 'S', 'C', '1C' into Survived; the preflight said nothing and a
    5-class model trained. Now a run refuses to start by default, naming the values and rows and the two choices; `drop`
    leaves those rows out and `keep` keeps them as classes, each said in the plan's note. Text classification alike."""
    from training.core.data.labels import stray_labels
    from training.tasks.tabular.data import load_tabular_table

    assert stray_labels(["0", "1"] * 200 + ["S", "C", "1C", "S"]) == ({"S": 2, "C": 1, "1C": 1},
                                                                        "not numbers, in a column of numbers")
    assert stray_labels(["pos", "neg"] * 100 + ["pos "] * 0 + ["neutral"] * 100)[0] == {}  # three real classes
    assert stray_labels(["ham"] * 300 + ["spam"] * 60 + ["hamm"])[0] == {"hamm": 1}  # a typo among large classes
    assert stray_labels(["a", "b", "c", "d"] * 3 + ["e"])[0] == {}  # small classes everywhere: nothing stands out
    path = _titanic_shifted(tmp_path)
    with pytest.raises(DataError, match=r"4 of the 404 rows of .*titanic.csv have a value in label column 'Survived' "
                                        r"that does not fit the others: 'S' \(2 rows\), 'C' \(1 row\), '1C' \(1 row\) — "
                                        r"not numbers.*data.stray_labels: drop.*data.stray_labels: keep"):
        load_tabular_table(str(path), "tabular-classification", label_column="Survived")
    dropped = load_tabular_table(str(path), "tabular-classification", label_column="Survived", stray="drop")
    assert dropped.label_names == ["0", "1"] and len(dropped) == 400 and dropped.dropped_rows == 4
    assert "left out, as asked" in dropped.read_notes[-1]
    kept = load_tabular_table(str(path), "tabular-classification", label_column="Survived", stray="keep")
    assert kept.label_names == ["0", "1", "1C", "C", "S"] and "kept as classes, as asked" in kept.read_notes[-1]
    texts = tmp_path / "reviews.csv"
    texts.write_text("text,label\n" + "".join(f"review number {i},{'ham' if i % 5 else 'spam'}\n" for i in range(400))
                     + "a shifted one,hamm\n", encoding="utf-8")
    with pytest.raises(DataError, match="'hamm' \\(1 row\\)"):
        load_table(str(texts), labelled=True)
    table = load_table(str(texts), labelled=True, stray="drop")
    assert table.label_names == ["ham", "spam"] and len(table) == 400 and "left out" in table.note


def test_what_an_attack_on_the_new_reading_found_stays_fixed(tmp_path):
    """A review of the header and quote detection (issue 41) found real headers read as data and quoted texts re-read
    with quotes as characters. Each is pinned here: a quoted greeting with a line break, a file that quotes every
    cell, pandas' default names (0, 1, 2, 3), years as columns, a form's long questions over short answers, a header
    repeated by joining two files; an over-long field is a DataError; a label with spaces or a number written two
    ways is one class, said in a note naming the file, never its folder."""
    from training.core.data.sources import load_frame

    def read(name: str, text: str):
        (tmp_path / name).write_text(text, encoding="utf-8")
        return load_frame(str(tmp_path / name))

    greet = read("greet.csv", 'text,label\n"Hi Bob,\nsee you tomorrow",pos\nok,neg\nfine,pos\n')
    assert greet["text"].tolist() == ["Hi Bob,\nsee you tomorrow", "ok", "fine"] and not greet.attrs["note"]
    quoted = read("all.csv", '"text","label"\n"Hi Bob,\nsee you",pos\n"ok","neg"\n"fine","pos"\n')
    assert list(quoted.columns) == ["text", "label"] and quoted["label"].tolist() == ["pos", "neg", "pos"]
    iris = read("iris.csv", "0,1,2,3,species\n5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,setosa\n6.3,3.3,6.0,2.5,virginica\n")
    assert list(iris.columns) == ["0", "1", "2", "3", "species"] and len(iris) == 3
    years = read("wb.csv", "country,2019,2020,2021\nFrance,1.5,2.5,3.1\nChad,0.2,0.4,0.1\nPeru,2.2,2.0,2.9\n")
    assert list(years.columns) == ["country", "2019", "2020", "2021"]
    form = read("form.csv", "Timestamp,How satisfied are you with our service?\n2024-01-02 10:00,Very\n"
                            "2024-01-03 11:00,Not much\n2024-01-04 12:00,Very\n")
    assert list(form.columns) == ["Timestamp", "How satisfied are you with our service?"]
    joined = read("joined.csv", "text,label\nhello,pos\nbye,neg\ntext,label\nok,pos\n")
    assert list(joined.columns) == ["text", "label"]
    with pytest.raises(DataError, match="long.csv could not be parsed"):
        read("long.csv", 'text,label\n"' + "word " * 30000 + '",pos\nbye,neg,extra\n')
    spaced = tmp_path / "uploads" / "ab12" / "spaced.csv"
    spaced.parent.mkdir(parents=True)
    spaced.write_text("text,label\n" + "".join(f"t{i},{'pos' if i % 2 else 'neg'}\n" for i in range(100))
                      + "t100,pos \n", encoding="utf-8")
    table = load_table(str(spaced), labelled=True)
    assert table.label_names == ["neg", "pos"] and "1 label had spaces around it" in table.note
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("text,label\n" + "".join(f"t{i},{['0', '1', '0.0', '1.0'][i % 4]}\n" for i in range(100)),
                       encoding="utf-8")
    assert load_table(str(numbers), labelled=True).label_names == ["0", "1"]
    stray = tmp_path / "uploads" / "ab12" / "stray.csv"
    stray.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(100)) + "x,S\n", encoding="utf-8")
    note = load_table(str(stray), labelled=True, stray="drop").note
    assert "of stray.csv have" in note and "uploads" not in note, note


def test_a_file_whose_name_says_no_format_is_read_by_its_content():
    """Issue 41, item 2: `SMSSpamCollection` (no extension) was refused with only a red icon."""
    from training.core.data.sources import sniff_suffix

    assert sniff_suffix("\n".join(_sms_lines(30)).encode()) == ".tsv"
    assert sniff_suffix(b"text,label\nhello,pos\nbye,neg\n") == ".csv"
    assert sniff_suffix(b'{"text": "hi", "label": "pos"}\n{"text": "bye", "label": "neg"}\n') == ".jsonl"
    assert sniff_suffix(b"PAR1\x00\x01") == ".parquet" and sniff_suffix(b"PK\x03\x04rest") == ".zip"
    assert sniff_suffix(b"\x89PNG\r\n\x1a\n\x00\x00") is None and sniff_suffix(b"   \n") is None
