"""Issue 14: an upload that understands the file — suggested text and label columns, a per-column summary,
refusals in the page's words, and read errors that name the user's file instead of the store's path."""
import random
import re

import pandas as pd
import pytest

from training.core.data.columns import MAX_CLASSES, check_mapping, column_summary, suggest_columns
from training.core.data.sources import load_frame
from training.errors import DataError

OPENINGS = ["The battery", "Delivery", "The screen", "Customer service", "The price", "Setup", "The manual", "Sound"]
VERDICTS = ["was great and I would buy it again", "broke after two weeks of normal use", "is fine for the money",
            "was slower than the seller promised", "exceeded what I expected from the photos", "felt cheap and flimsy"]


def review_rows(n: int, seed: int = 0) -> list[dict]:
    """Product reviews as sentences with a 1-5 star rating: the shape of a typical first upload."""
    rng = random.Random(seed)
    return [{"review": f"{rng.choice(OPENINGS)} {rng.choice(VERDICTS)}; order {rng.randrange(10_000)}.",
             "stars": str(rng.randint(1, 5))} for _ in range(n)]


def reviews() -> pd.DataFrame:
    return pd.DataFrame(review_rows(300))


def test_suggests_the_longest_text_and_a_low_cardinality_label():
    assert suggest_columns(reviews()) == {"text": "review", "label": "stars"}
    df = reviews().assign(id=[str(i) for i in range(300)], verified=["yes", "no"] * 150)[["id", "verified", "stars", "review"]]
    # stars is named like a label, so it wins over the (fewer-valued) verified flag; id can hold no classes
    assert suggest_columns(df) == {"text": "review", "label": "stars"}
    assert suggest_columns(df.drop(columns="stars")) == {"text": "review", "label": "verified"}
    # numbers are never the text, even when they are the longest cells
    df = pd.DataFrame({"amount": ["123456789012345"] * 4, "note": ["ok", "bad", "ok", "bad"]})
    assert suggest_columns(df)["text"] == "note"


def test_column_summary_gives_kind_distinct_values_and_three_examples():
    df = reviews().assign(price=[f"{i * 1.5:.2f}" for i in range(300)], age=[str(20 + i % 40) for i in range(300)])
    summary = column_summary(df).set_index("column")
    assert list(summary.columns) == ["type", "distinct values", "examples"]
    assert summary.loc["review", "type"] == "text" and summary.loc["review", "distinct values"] > 150
    assert summary.loc["stars", "type"] == "number or category" and summary.loc["stars", "distinct values"] == 5
    assert summary.loc["price", "type"] == "number"
    assert summary.loc["age", "type"] == "number"  # 40 ages are a number, as the table model reads them (issue 41)
    assert summary.loc["price", "examples"] == "0.00 · 1.50 · 3.00"
    assert all(len(e) <= 40 for e in summary.loc["review", "examples"].split(" · "))


@pytest.mark.parametrize("text, label, frame, expected", [
    ("review", "stars", reviews, None),
    ("review", "review", reviews, "Text column and Label column are both 'review'.*'stars' looks like it"),
    ("stars", "review", reviews, "Text column 'stars' of reviews.csv holds numbers, not text.*'review' looks like it"),
    ("review", "shop", lambda: reviews().assign(shop="north"),
     "Label column 'shop' of reviews.csv has one value only \\('north'\\).*at least two classes"),
    ("review", "code", lambda: reviews().assign(code=[f"c{i % 160}" for i in range(300)]),
     "Label column 'code' of reviews.csv has 160 different values in 300 rows \\(fewer than 2 rows per class"),
    ("review", "code", lambda: pd.DataFrame({"review": [r["review"] for r in review_rows(1000)],
                                             "code": [str(i % (MAX_CLASSES + 1)) for i in range(1000)]}),
     "has 201 different values in 1,000 rows \\(more than 200\\)"),
    ("review", "label", reviews, "Label column 'label' is not a column of reviews.csv; its columns are: review, stars"),
])
def test_check_mapping_refuses_in_the_pages_words(text, label, frame, expected):
    problems = check_mapping(frame(), text, label, "reviews.csv")
    if expected is None:
        assert problems == []
    else:
        assert re.search(expected, " ".join(problems)), problems
        assert not [p for p in problems if "data." in p or "uploads" in p], problems


def test_check_mapping_for_a_causal_lm_only_looks_at_the_text():
    assert check_mapping(reviews(), "review", None, "reviews.csv", labelled=False) == []
    assert "holds numbers" in check_mapping(reviews(), "stars", None, "reviews.csv", labelled=False)[0]


def test_read_errors_name_the_uploaded_file_and_call_binary_binary(tmp_path):
    junk = tmp_path / "acd03f4ddbcd9a8f" / "junk.csv"
    junk.parent.mkdir()
    junk.write_bytes(random.Random(0).randbytes(4000))
    with pytest.raises(DataError) as e:
        load_frame(str(junk), display_name="junk.csv")
    message = str(e.value)
    assert message.startswith("junk.csv is not a readable text table") and "NUL" in message
    assert "iconv" not in message and str(tmp_path) not in message
    # mostly undecodable, without NUL bytes, is binary too
    junk.write_bytes(bytes(random.Random(1).choice(range(0x80, 0x100)) for _ in range(4000)))
    with pytest.raises(DataError, match="junk.csv is not a readable text table: .* not text in any encoding"):
        load_frame(str(junk), display_name="junk.csv")
    # a latin-1 file is text in the wrong encoding: the iconv advice stays, with the user's name
    latin = tmp_path / "drinks.csv"
    latin.write_bytes("text,label\ncaf\xe9 au lait,drink\nth\xe9,drink\n".encode("latin-1"))
    with pytest.raises(DataError, match="^caf.csv is not UTF-8 .*iconv -f latin1 -t utf-8 caf.csv"):
        load_frame(str(latin), display_name="caf.csv")
    # UTF-16 (Excel's "Unicode text") has NUL bytes but is text: re-encoding fixes it
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes("text,label\nhello,a\n".encode("utf-16"))
    with pytest.raises(DataError, match="not UTF-8 .*iconv -f utf-16"):
        load_frame(str(utf16))
    # without a display name (the CLI) messages keep the path
    with pytest.raises(DataError, match=f"^{junk} is not a readable text table"):
        load_frame(str(junk))


def test_the_preflight_warns_when_eval_or_validation_are_too_small_to_tell_strategies_apart():
    from training.analysis.preflight import split_warnings

    # the newcomer's image zip: 36 eval and 15 validation images
    small = split_warnings({"data": {"eval_rows": 36, "validation_rows": 15}}, "accuracy")
    assert len(small) == 2
    assert small[0].startswith("Only 36 eval examples") and "±0.16 (95%)" in small[0] and "about 1,537 eval" in small[0]
    assert small[1].startswith("Only 15 validation examples") and "±0.25" in small[1]
    assert split_warnings({"data": {"eval_rows": 1000, "validation_rows": 500}}, "accuracy") == []
    assert "Add data: validation is 10% of the training side" in small[1]  # not "a larger test set": it adds no validation
    # Issue 27: a chat file's 5 eval and 2 validation conversations passed silently; every metric is warned about now.
    chat = split_warnings({"data": {"eval_rows": 5, "validation_rows": 2}}, "perplexity", "conversations")
    assert [w.split(":")[0] for w in chat] == ["Only 5 eval conversations", "Only 2 validation conversations"]
    assert "most differences between strategies will be noise" in chat[0] and "±" not in chat[0]
    assert "Add rows to your test set" in split_warnings({"data": {"eval_rows": 40, "eval_source": "t.csv"}}, "rmse")[0]


def test_a_label_whose_classes_mostly_have_a_few_rows_is_warned_about():
    from training.core.data.columns import label_warnings

    rng = random.Random(0)
    names = [f"reviewer {i}" for i in range(134)]
    df = pd.DataFrame({"text": [f"review {i}" for i in range(400)],
                       "reviewer": names + [rng.choice(names) for _ in range(266)],
                       "sentiment": ["pos", "neg"] * 200})
    assert check_mapping(df, "text", "reviewer", "reviews.csv") == []  # ~3 rows per class: not refused …
    (warning,) = label_warnings(df, "reviewer", "reviews.csv")  # … but warned about
    assert warning.startswith("Label column 'reviewer' of reviews.csv has 134 classes") and "fewer than 5 rows" in warning
    assert label_warnings(df, "sentiment", "reviews.csv") == []


def test_without_a_label_like_name_the_rightmost_class_column_is_suggested():
    """A newcomer's support export (issue 27): `priority` (3 values) before `queue` (4, the routing target) — the
    fewest-values rule picked priority."""
    import random

    rng = random.Random(0)
    df = pd.DataFrame([{"ticket": f"My {rng.choice(['card', 'loan', 'app'])} does not work, order {i}",
                        "priority": rng.choice(["low", "normal", "high"]),
                        "queue": rng.choice(["billing", "cards", "loans", "tech"])} for i in range(200)])
    assert suggest_columns(df) == {"text": "ticket", "label": "queue"}
