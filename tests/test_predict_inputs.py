"""`predict`'s input files are read a batch at a time and typed (issue 39): memory stays one batch's whatever the file's
size; a CSV field far over Python's default 131,072 characters is read, one over predict's stated bound is refused
naming its row; a CSV row with more or fewer fields than its header, JSON nested too deeply, and a JSON value that is
not a text for a text model are refused, naming the row or line — never cut, guessed or turned into "None"."""
import json
import tracemalloc

import pytest

from training.delivery import inputs
from training.delivery.inputs import input_batches, read_inputs
from training.errors import HeadStartError

MB = 2 ** 20


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".txt"])
def test_a_file_of_tens_of_megabytes_is_read_in_bounded_batches(tmp_path, suffix):
    path = tmp_path / f"big{suffix}"
    line = "word " * 40_000  # 200 kB per input, over csv's default field limit of 131,072 characters
    with open(path, "w", encoding="utf-8") as f:
        f.write("text\n" if suffix == ".csv" else "")
        for i in range(210):
            f.write((json.dumps({"text": f"{i} {line}"}) if suffix == ".jsonl" else f'"{i} {line}"' if suffix == ".csv"
                     else f"{i} {line}") + "\n")
    assert path.stat().st_size > 40 * MB
    tracemalloc.start()
    try:
        sizes, firsts = [], []
        for chunk in input_batches(path, "text", "text", batch=4):
            sizes.append(len(chunk))
            firsts.append(int(chunk[0].split()[0].strip('"')))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sizes == [4] * 52 + [2] and firsts == list(range(0, 210, 4))
    assert peak < 8 * MB, f"reading a {path.stat().st_size / MB:.0f} MB file peaked at {peak / MB:.0f} MB"


def test_a_csv_field_over_the_stated_bound_is_refused_naming_its_row(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_FIELD_CHARS", 300_000)
    path = tmp_path / "rows.csv"
    path.write_text("text,other\nshort,1\n" + "x" * 200_000 + ",2\n" + "y" * 300_001 + ",3\n", encoding="utf-8")
    with pytest.raises(HeadStartError, match=r"rows.csv, row 3 \(line 4\) has a value longer than 300,000 characters"):
        read_inputs(path, "text")
    path.write_text("text\n" + "x" * 200_000 + "\n", encoding="utf-8")  # over 131,072, under the bound: read
    assert read_inputs(path, "text") == ["x" * 200_000]
    lines = tmp_path / "texts.txt"
    lines.write_text("fine\n" + "z" * 300_001 + "\n", encoding="utf-8")
    with pytest.raises(HeadStartError, match="texts.txt, line 2 is longer than 300,000 characters"):
        read_inputs(lines)


@pytest.mark.parametrize("body, row, fields", [("a,b\n1,2\n3,4,5\n", 2, 3), ("a,b\n1,2\n\n3\n", 2, 1)])
def test_a_ragged_csv_row_is_refused_naming_it(tmp_path, body, row, fields):
    path = tmp_path / "rows.csv"
    path.write_text(body, encoding="utf-8")
    for rows in (True, False):
        with pytest.raises(HeadStartError, match=f"rows.csv, row {row} .* has {fields} fields under a header of 2"):
            read_inputs(path, "a", rows=rows)


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b,a\n1,2,3\n", encoding="utf-8")
    with pytest.raises(HeadStartError, match="names column 'a' twice"):
        read_inputs(path, rows=True)


@pytest.mark.parametrize("value, words", [('["a"]', "a list"), ("null", "null"), ("true", "true or false"),
                                           ("NaN", "a number"), ("3", "a number"), ('{"text": null}', "null"),
                                           ('{"text": ["a"]}', "a list")])
def test_a_text_models_json_input_must_be_a_text(tmp_path, value, words):
    path = tmp_path / "texts.jsonl"
    path.write_text(f'"fine"\n{{"text": "also fine"}}\n\n{value}\n', encoding="utf-8")
    with pytest.raises(HeadStartError, match=f"texts.jsonl, line 4: .* is {words} .*not a text"):
        read_inputs(path, "text")


def test_a_chat_models_json_input_may_be_a_list_of_turns(tmp_path):
    path = tmp_path / "chats.jsonl"
    turns = [{"role": "user", "content": "hi"}]
    path.write_text(json.dumps({"messages": turns}) + '\n"hello"\n', encoding="utf-8")
    assert read_inputs(path, "messages", form="messages") == [turns, "hello"]
    path.write_text('{"messages": 5}\n', encoding="utf-8")
    with pytest.raises(HeadStartError, match="line 1: its 'messages' field is a number .*not a text or a list of turns"):
        read_inputs(path, "messages", form="messages")


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_refused_in_words(tmp_path, depth, capsys):
    from training.__main__ import main

    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "fine"}\n' + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    with pytest.raises(HeadStartError, match="rows.jsonl, line 2: JSON nested deeper than 32 levels"):
        read_inputs(path, "text")
    with pytest.raises(HeadStartError, match="rows.jsonl, line 2: JSON nested deeper than 32 levels"):
        read_inputs(path, rows=True)
    assert main(["predict", str(tmp_path / "no-model"), "--input", str(path), "--store", str(tmp_path / "s")]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_batch_holds_at_most_max_batch_chars_of_text(tmp_path, monkeypatch):
    """Long lines close a batch before it passes MAX_BATCH_CHARS (256 lines of 10 M characters were one 2.5 GB batch)."""
    monkeypatch.setattr(inputs, "MAX_BATCH_CHARS", 1000)
    path = tmp_path / "texts.txt"
    path.write_text("".join(f"{i}{'x' * 399}\n" for i in range(7)), encoding="utf-8")
    sizes = [len(chunk) for chunk in input_batches(path)]  # BATCH (256) alone would make one batch of 7
    assert sizes == [2, 2, 2, 1]
    assert [x for chunk in input_batches(path) for x in chunk] == [f"{i}{'x' * 399}" for i in range(7)]


@pytest.mark.parametrize("suffix, head", [(".txt", b""), (".csv", b"text\n"), (".jsonl", b"")])
def test_bytes_that_are_not_utf8_are_refused_naming_the_line(tmp_path, suffix, head):
    """Were read with U+FFFD in place of the bad bytes and answered."""
    path = tmp_path / f"in{suffix}"
    path.write_bytes(head + (b'"good"\n"caf\xff"\n' if suffix == ".jsonl" else b"good\ncaf\xff\n"))
    line = 3 if suffix == ".csv" else 2
    with pytest.raises(HeadStartError, match=rf"in{suffix}, (row 2 \(line 3\)|line {line}).* not UTF-8 text"):
        read_inputs(path, "text")


@pytest.mark.parametrize("suffix, head", [(".txt", b""), (".csv", b"text\n")])
def test_a_nul_character_is_refused_naming_the_line(tmp_path, suffix, head):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(head + b"good\nba\x00d\n")
    with pytest.raises(HeadStartError, match=r"line 3 holds a NUL character" if head else r"line 2 holds a NUL"):
        read_inputs(path, "text")


def test_utf16_with_its_byte_order_mark_is_read_as_text_and_a_utf8_bom_is_skipped(tmp_path):
    """UTF-16 was read as UTF-8 with replacement characters (mojibake answered); a CSV starting with UTF-8's BOM said
    its first column was missing."""
    for encoding in ("utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(("\ufeff" if encoding.endswith("be") else "").encode(encoding) + "café\nnaïve\n".encode(encoding)
                         if encoding.endswith("be") else "café\nnaïve\n".encode(encoding))  # utf-16 writes its BOM
        assert read_inputs(path) == ["café", "naïve"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfsize,colour\n1.5,red\n")
    assert read_inputs(bom, rows=True) == [{"size": "1.5", "colour": "red"}]
    broken = tmp_path / "broken.txt"
    broken.write_bytes("ok\n".encode("utf-16") + b"\x00\xd8\n\x00")  # a lone surrogate
    with pytest.raises(HeadStartError, match="not UTF-16 text"):
        read_inputs(broken)
