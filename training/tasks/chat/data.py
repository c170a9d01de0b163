"""Conversations for chat fine-tuning: read them from a source, render them with the model's own chat template, and
mark the tokens the loss is computed on (the assistant's turns).

Sources: local .jsonl/.json/.csv/.tsv/.parquet files and `hf:DATASET[:CONFIG]` (through `sources.load_frame`), with a
`messages` column (a list of `{role, content}` turns; ShareGPT's `{from, value}` with roles human/gpt also reads) or
`prompt`/`response` columns (one exchange); and two offline built-ins from the `chatterbot-corpus` package's English
YAML files (BSD), read as package data; exact duplicates are dropped:
  builtin:chatterbot-tech     technical help: coding.yml (98 distinct programming questions answered with code),
                              computers.yml (10) and tech_support.yml (1,050 entries but only 10 distinct exchanges,
                              each repeated ~100 times — a split of it would put the same exchange on both sides):
                              118 conversations, the fine-tuning set of the chat presets.
  builtin:chatterbot-general  the 18 other English topics (ai, botprofile, conversations, emotion, ..., 780
                              conversations, a third of them trivia): general chat no preset trains on — the
                              forgetting probe and the general prompts.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.config import DataConfig
from training.core.data.task import TaskData, split_indices
from training.errors import DataError

if TYPE_CHECKING:
    import torch

ROLES = {"system": "system", "user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant"}
"""Role names accepted in data, and the chat-template role each becomes (ShareGPT says human/gpt)."""

FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
"""ChatML's layout with the tokenizer's own end-of-sequence token closing each turn (for a tokenizer that defines
`<|im_end|>` as its eos this is exactly ChatML): used for a model that has no chat template, e.g. a base LM."""

CORPUS_PACKAGE = "chatterbot_corpus"
TECH_TOPICS = ("coding", "computers", "tech_support")
NOT_GENERAL = TECH_TOPICS
"""Topic files left out of builtin:chatterbot-general (see the module docstring)."""
BUILTINS = {"chatterbot-tech": "technical help from chatterbot-corpus: coding, computers, tech support (118 distinct)",
            "chatterbot-general": "general conversations from chatterbot-corpus (18 English topics; the forgetting probe)"}
CHAT_BUILTINS = {k: v for k, v in BUILTINS.items() if k != "chatterbot-general"}
"""The built-ins offered as fine-tuning data (general is the probe's)."""


@dataclass
class ChatTable:
    conversations: list[list[dict]]
    """Each a list of `{"role": "system"|"user"|"assistant", "content": str}` ending with an assistant turn."""
    fingerprint: str
    """sha256 of the content: keys the tokenisation cache and is recorded with every run."""
    dropped_rows: int
    """Rows skipped: no assistant turn, an empty turn, or a turn that is not a {role, content} record."""
    where: str
    """How messages name the source, e.g. "file support.jsonl" or "built-in dataset 'chatterbot-tech'"."""
    topics: list[str] | None = None
    """Built-ins: the topic (chatterbot's file name) of each conversation."""
    duplicates: int = 0
    """Conversations dropped because they repeat an earlier one turn for turn: a copy could sit in training and eval
    at once, and repeating it trains the model to recite it."""

    def __len__(self) -> int:
        return len(self.conversations)


# -- reading conversations --------------------------------------------------------------------------

def load_chat_table(source: str, *, messages_column: str = "messages", prompt_column: str = "prompt",
                    response_column: str = "response", hf_split: str = "train", max_rows: int | None = None,
                    display_name: str | None = None) -> ChatTable:
    """The conversations of `source` (see the module docstring), each ending with an assistant turn."""
    from training.core.data.sources import describe_source, load_frame

    kind, _, name = source.partition(":")
    if kind == "builtin":
        return _builtin_table(name, max_rows)
    where = describe_source(source, display_name)
    if kind != "hf" and Path(source).suffix.lower() == ".json":
        df = _json_frame(Path(source).expanduser(), display_name or str(source))
        df = df.head(max_rows) if max_rows else df
    else:
        df = load_frame(source, hf_split=hf_split, max_rows=max_rows, display_name=display_name)
    if len(df) == 0:
        raise DataError(f"{where} has no rows; give at least a few conversations")
    problem = mapping_problem(df, messages_column if messages_column in df.columns else None, prompt_column,
                              response_column, where)
    if problem:
        raise DataError(problem)
    if messages_column in df.columns:
        parsed = [_parse_messages(cell) for cell in df[messages_column].tolist()]
    elif prompt_column in df.columns and response_column in df.columns:
        parsed = [_parse_pair(p, r) for p, r in zip(df[prompt_column].tolist(), df[response_column].tolist(), strict=True)]
    else:
        columns = ", ".join(str(c) for c in df.columns)
        raise DataError(f"{where} has no {messages_column!r} column (a list of {{role, content}} turns) and no "
                        f"{prompt_column!r}/{response_column!r} columns; its columns are: {columns}. Set "
                        "data.messages_column, or data.prompt_column and data.response_column, to the ones to use.")
    conversations = [c for c in parsed if isinstance(c, list)]
    reasons = Counter(c for c in parsed if isinstance(c, str))
    if not conversations:
        why = "; ".join(f"{n} {'row has' if n == 1 else 'rows have'} {r}" for r, n in reasons.most_common())
        raise DataError(f"no usable conversation in {where}: {why}. Each needs at least one assistant turn "
                        "with text, and every turn a role (system, user or assistant) and non-empty content.")
    unique = list({json.dumps(c, sort_keys=True): c for c in conversations}.values())
    return ChatTable(unique, _fingerprint(unique), sum(reasons.values()), where,
                     duplicates=len(conversations) - len(unique))


TURN_FORMAT = ("each row's messages a list of {\"role\": \"user\"|\"assistant\"|\"system\", \"content\": \"…\"} turns "
               "(ShareGPT's {\"from\": \"human\"|\"gpt\", \"value\": \"…\"} also reads), or one text column for the prompt "
               "and another for the response")


def turn_keys(cells) -> list[str] | None:
    """The keys of the turns in the first cells that hold lists of records (JSON strings of them too), or None when
    none does."""
    keys: set[str] | None = None
    for cell in list(cells)[:20]:
        if isinstance(cell, str) and cell.lstrip().startswith("["):
            try:
                cell = json.loads(cell)
            except json.JSONDecodeError:
                continue
        if isinstance(cell, np.ndarray):
            cell = cell.tolist()
        if isinstance(cell, list) and cell and all(isinstance(t, dict) for t in cell):
            keys = (keys or set()) | {str(k) for t in cell for k in t}
    return sorted(keys) if keys is not None else None


def _speaks_roles(keys: list[str]) -> bool:
    return ("role" in keys and "content" in keys) or ("from" in keys and "value" in keys)


PROMPT_NAMES = ("prompt", "question", "instruction", "input", "query", "user", "human", "request", "q")
RESPONSE_NAMES = ("response", "answer", "output", "completion", "assistant", "gpt", "reply", "target", "a")


def suggest_chat_columns(df) -> dict[str, str | None]:
    """{"prompt": ..., "response": ...} for a file of one exchange per row: columns named like a prompt and a response
    first (question/answer, instruction/output), else by content — the response is the text column with the longest
    cells, the prompt the longest of the rest; never the same column twice (a bank FAQ's Question and Answer both
    defaulted to Question). None where the file offers nothing."""
    columns = [str(c) for c in df.columns]
    texts = [c for c in columns if df[c].map(lambda v: isinstance(v, str) and bool(v.strip())).mean() > 0.5
             and turn_keys(df[c].tolist()) is None]

    def named(names, taken=None):
        for name in names:
            for c in texts:
                if c != taken and c.strip().lower().replace(" ", "_") in (name, f"{name}s", f"{name}_text"):
                    return c
        return None

    length = {c: df[c].astype(str).str.len().mean() for c in texts}
    response = named(RESPONSE_NAMES)
    prompt = named(PROMPT_NAMES, taken=response)
    if response is None:
        response = max((c for c in texts if c != prompt), key=length.get, default=None)
    if prompt is None:
        prompt = max((c for c in texts if c != response), key=length.get, default=None)
    return {"prompt": prompt, "response": response}


def mapping_problem(df, messages_column: str | None, prompt_column: str | None, response_column: str | None,
                    where: str) -> str | None:
    """Why this mapping of a chat file's columns cannot give conversations, in words that name the keys found and
    the format expected — or None. Checked on the page before anything is planned, and again where data loads."""
    columns = [str(c) for c in df.columns]
    listed = ", ".join(columns)
    if messages_column:
        if messages_column not in columns:
            return f"{where} has no column {messages_column!r}; its columns are: {listed}"
        keys = turn_keys(df[messages_column].tolist())
        if keys is not None and not _speaks_roles(keys):
            return (f"The turns in {messages_column!r} of {where} have the keys {', '.join(keys)}, not role and content; "
                    f"a chat file needs {TURN_FORMAT}. Rename the keys in the file (e.g. speaker → role, text → content).")
        return None
    if not prompt_column or not response_column:
        return f"{where}: choose a messages column, or a prompt and a response column; a chat file needs {TURN_FORMAT}"
    if prompt_column == response_column:
        return (f"The prompt and the response are the same column {prompt_column!r} of {where}; a chat file needs "
                f"{TURN_FORMAT}. Its columns are: {listed}")
    for col in (prompt_column, response_column):
        if col in columns:
            keys = turn_keys(df[col].tolist())
            if keys is not None:
                advice = ("choose it as the messages column" if _speaks_roles(keys)
                          else f"its turns have the keys {', '.join(keys)}, not role and content")
                return (f"column {col!r} of {where} holds lists of turns, not text: {advice}; a chat file needs "
                        f"{TURN_FORMAT}")
    return None


def _json_frame(path: Path, name: str):
    """A .json file holding a list of row objects (load_frame reads JSON Lines, not a JSON array)."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"data file {name} not found")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{name} is not UTF-8 text ({e.reason}); re-save it as UTF-8") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{name} could not be parsed as JSON: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{name} must hold a JSON array of row objects, e.g. [{{\"messages\": [...]}}, ...]; "
                        "for one object per line save it as .jsonl")
    return pd.DataFrame(rows)


def _parse_messages(cell) -> list[dict] | str:
    """A conversation from a messages cell, or why the row is dropped."""
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except json.JSONDecodeError:
            return "a messages cell that is not JSON"
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if not isinstance(cell, list):
        return "a messages cell that is not a list of turns"
    turns = []
    for turn in cell:
        if not isinstance(turn, dict):
            return "a turn that is not a {role, content} record"
        role = turn.get("role") or turn.get("from")  # a parquet struct column holds both keys, one of them None
        content = turn.get("content") if turn.get("content") is not None else turn.get("value")
        if not isinstance(role, str) or role.lower() not in ROLES or not isinstance(content, str):
            return "a turn that is not a {role, content} record"
        turns.append({"role": ROLES[role.lower()], "content": content})
    return _finish(turns)


def _parse_pair(prompt, response) -> list[dict] | str:
    turns = [{"role": "user", "content": _text(prompt)}, {"role": "assistant", "content": _text(response)}]
    return _finish(turns)


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _finish(turns: list[dict]) -> list[dict] | str:
    """The turns up to the last assistant turn, or why there is no usable conversation."""
    last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=None)
    if last is None:
        return "no assistant turn"
    turns = turns[: last + 1]
    if any(not t["content"].strip() for t in turns):
        return "an empty turn"
    return turns


def _fingerprint(conversations: list[list[dict]]) -> str:
    return hashlib.sha256(json.dumps(conversations, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


# -- built-ins --------------------------------------------------------------------------------------

def _builtin_table(name: str, max_rows: int | None) -> ChatTable:
    import yaml

    if name not in BUILTINS:
        raise DataError(f"unknown built-in chat dataset {name!r}; built-ins for chat: "
                        + ", ".join(f"builtin:{n}" for n in BUILTINS))
    files = sorted(_corpus_folder().glob("*.yml"))
    if name == "chatterbot-tech":
        files = [f for f in files if f.stem in TECH_TOPICS]
    else:
        files = [f for f in files if f.stem not in NOT_GENERAL]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    conversations, topics, seen, dropped = [], [], set(), 0
    for f in files:
        entries = yaml.load(f.read_text(encoding="utf-8"), Loader=loader).get("conversations") or []
        for entry in entries:
            conv = _corpus_conversation(entry)
            if conv is None:
                dropped += 1
                continue
            key = json.dumps(conv)
            if key in seen:  # tech_support.yml repeats each of its 10 exchanges ~100 times
                continue
            seen.add(key)
            conversations.append(conv)
            topics.append(f.stem.replace("_", " "))
    if max_rows:
        conversations, topics = conversations[:max_rows], topics[:max_rows]
    return ChatTable(conversations, _fingerprint(conversations), dropped, f"built-in dataset {name!r}", topics)


def _corpus_folder() -> Path:
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the built-in chat datasets are read from the package chatterbot-corpus==1.3.3; install it "
                        "(pip install -r requirements.txt) or give a chat file")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "english"


def _corpus_conversation(entry) -> list[dict] | None:
    """chatterbot's [user, assistant, user, ...] strings as turns (numbers YAML parsed, e.g. '22', back to text);
    None for an entry that is not a list of texts (trivia.yml has one bare string)."""
    if not isinstance(entry, list):
        return None
    texts = []
    for x in entry:
        if isinstance(x, bool) or not isinstance(x, (str, int, float)):
            return None
        texts.append(str(x).strip())
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]
    conv = _finish(turns)
    return conv if isinstance(conv, list) else None


# -- the chat template and the loss mask ------------------------------------------------------------

def _template(tokenizer) -> str | None:
    """What to render with: None (the tokenizer's own template) or, for a tokenizer without one, the documented
    `FALLBACK_CHAT_TEMPLATE`."""
    return None if tokenizer.chat_template else FALLBACK_CHAT_TEMPLATE


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The conversation as the chat template writes it (FALLBACK_CHAT_TEMPLATE when the tokenizer has none)."""
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             chat_template=_template(tokenizer))
    except TemplateError as e:
        raise DataError(f"the chat template of {_model_name(tokenizer)} refused a conversation ({e}); the data's turns "
                        "must follow the order that model expects") from None


def _ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of rendered text: the template writes any special tokens itself (as apply_chat_template does)."""
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def encode_conversation(tokenizer, messages: list[dict], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, loss mask) of a conversation rendered by the tokenizer's chat template, truncated to its first
    max_length tokens. The mask is True on each assistant turn's tokens: its content and what the template writes
    after it before the next turn (for ChatML `<|im_end|>\\n`, so the model learns to stop), and False on system and
    user turns and on the assistant header (`<|im_start|>assistant\\n`), which the model is given, not asked to write.

    A tokenizer without a chat template renders with FALLBACK_CHAT_TEMPLATE (ChatML's layout, each turn closed by the
    tokenizer's eos token). The assistant tokens are found by rendering the conversation prefix by prefix (see
    `_spans_by_prefix`); a template that rewrites earlier turns as the conversation grows is handled by finding each
    answer's text in the rendering instead (`_spans_by_content`)."""
    text = render(tokenizer, messages)
    ids = _ids(tokenizer, [text])[0]
    spans = _spans_by_prefix(tokenizer, messages, ids)
    if spans is None:
        spans = _spans_by_content(tokenizer, messages, text, ids)
    mask = np.zeros(len(ids), dtype=bool)
    for start, end in spans:
        mask[start:end] = True
    return np.asarray(ids[:max_length], dtype=np.int32), mask[:max_length]


def _spans_by_prefix(tokenizer, messages, ids: list[int]) -> list[tuple[int, int]] | None:
    """Token spans of the assistant turns: for turn i, rendering messages[:i] with the generation prompt gives the
    context, rendering messages[:i+1] extends it by that turn. None when a rendering is not a prefix of the longer
    one (the template rewrites earlier turns, or the tokenisation of a prefix differs from the whole's)."""
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if turns[0] == 0:
        return None  # nothing to render before a leading assistant turn
    texts = []
    for i in turns:
        texts += [render(tokenizer, messages[:i], add_generation_prompt=True), render(tokenizer, messages[: i + 1])]
    parts = _ids(tokenizer, texts)
    spans = []
    for context, upto in zip(parts[::2], parts[1::2], strict=True):
        if upto[: len(context)] != context or ids[: len(upto)] != upto:
            return None
        spans.append((len(context), len(upto)))
    return spans


def _spans_by_content(tokenizer, messages, text: str, ids: list[int]) -> list[tuple[int, int]]:
    """Token spans of the assistant turns found by their text in the rendering, each with the special token that
    follows it (the end of turn)."""
    name = _model_name(tokenizer)
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"the chat template of {name} rewrites earlier turns, and its tokenizer is not a fast one, so "
                        "the assistant's tokens cannot be told apart; use a model with a fast tokenizer")
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    special = set(tokenizer.all_special_ids)
    spans, cursor = [], 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        content = m["content"].strip()
        start_char = text.find(content, cursor)
        if start_char < 0:
            raise DataError(f"could not find the assistant's answers in what the chat template of {name} renders, so "
                            "the loss cannot be restricted to them; use a model whose template writes each turn's "
                            "text as given (ChatML, Llama 3, Mistral and most others do)")
        end_char = cursor = start_char + len(content)
        inside = [t for t, (a, b) in enumerate(offsets) if a < end_char and b > start_char]
        start, end = inside[0], inside[-1] + 1
        if end < len(ids) and ids[end] in special:
            end += 1
        spans.append((start, end))
    return spans


def _model_name(tokenizer) -> str:
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__


def prompt_ids(tokenizer, messages: list[dict]) -> np.ndarray:
    """The token ids a model answers from: the conversation and the template's assistant header."""
    return np.asarray(_ids(tokenizer, [render(tokenizer, messages, add_generation_prompt=True)])[0], dtype=np.int32)


def stop_token_ids(tokenizer) -> list[int]:
    """Tokens that end an answer: eos, and the special token the template writes after an assistant's content
    (ChatML's `<|im_end|>`, Llama 3's `<|eot_id|>`) when that differs."""
    stops = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    answer = "Hello there"
    text = render(tokenizer, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": answer}])
    tail = _ids(tokenizer, [text[text.rfind(answer) + len(answer):]])[0]
    if tail and tail[0] in set(tokenizer.all_special_ids) and tail[0] not in stops:
        stops.append(tail[0])
    return stops


def generation_prompts(conversations: list[list[dict]], k: int) -> list[tuple[list[dict], str]]:
    """(the turns before the last assistant turn, that turn's text as the reference answer) of the first k
    conversations that have a turn before their last answer."""
    out = []
    for conv in conversations:
        if len(out) == k:
            break
        last = max(i for i, m in enumerate(conv) if m["role"] == "assistant")
        if last > 0:
            out.append((conv[:last], conv[last]["content"]))
    return out


# -- examples, batches and packing ------------------------------------------------------------------

@dataclass
class ChatExamples:
    """Tokenised conversations: ids and the loss mask (True on assistant tokens), one array pair per row."""
    ids: list[np.ndarray]
    masks: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def subset(self, idx) -> "ChatExamples":
        return ChatExamples([self.ids[i] for i in idx], [self.masks[i] for i in idx])

    def collate(self, idx, pad_id: int, device: torch.device, multiple: int = 1) -> dict[str, torch.Tensor]:
        """A right-padded batch on `device`, its width rounded up to `multiple` (see `Examples.collate`).
        `labels` are token-aligned: labels[t] is input_ids[t] where the loss mask is True, else -100 (and -100 on
        padding); the LM loss shifts them, so position t's logits are scored against labels[t + 1]."""
        rows = [self.ids[i] for i in idx]
        width = max(len(r) for r in rows)
        width = -(-width // multiple) * multiple
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        attention = np.zeros((len(rows), width), dtype=np.int64)
        labels = np.full((len(rows), width), -100, dtype=np.int64)
        for j, i in enumerate(idx):
            r, m = self.ids[i], self.masks[i]
            input_ids[j, : len(r)] = r
            attention[j, : len(r)] = 1
            labels[j, : len(r)] = np.where(m, r, -100)
        import torch  # here, not at import: the app's pages read this module's built-ins without torch

        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention),
                 "labels": torch.from_numpy(labels)}
        non_blocking = device.type == "cuda"
        return {k: (v.pin_memory() if non_blocking else v).to(device, non_blocking=non_blocking)
                for k, v in batch.items()}


@dataclass
class PackedChatExamples(ChatExamples):
    """Training conversations whose batches are packed when they are collated: a step still takes `batch_size`
    conversations (so epochs, budgets and FLOPs count conversations, as without packing), and the conversations of
    one batch share rows of up to `max_length` tokens — first-fit by decreasing length — instead of each padding a
    row of its own. See `pack` for the tradeoff."""
    max_length: int = 0

    def subset(self, idx) -> "PackedChatExamples":
        return PackedChatExamples([self.ids[i] for i in idx], [self.masks[i] for i in idx], self.max_length)

    def collate(self, idx, pad_id: int, device: torch.device, multiple: int = 1) -> dict[str, torch.Tensor]:
        rows: list[list[int]] = []
        room: list[int] = []
        for i in sorted(idx, key=lambda i: -len(self.ids[i])):
            fit = next((r for r, left in enumerate(room) if left >= len(self.ids[i])), None)
            if fit is None:
                rows.append([i])
                room.append(self.max_length - len(self.ids[i]))
            else:
                rows[fit].append(i)
                room[fit] -= len(self.ids[i])
        packed = ChatExamples([np.concatenate([self.ids[i] for i in r]) for r in rows],
                              [np.concatenate([self.masks[i] for i in r]) for r in rows])
        return packed.collate(range(len(packed)), pad_id, device, multiple)


def pack(examples: ChatExamples, max_length: int) -> ChatExamples:
    """Whole conversations, in order, concatenated into rows of at most max_length tokens (a conversation never
    splits across rows; one longer than max_length stays alone in its row).

    Tradeoff: far fewer padded tokens per batch, so faster training on short conversations; but a packed
    conversation can attend to the conversations before it in its row (one causal mask over the row, as TRL's
    default packing does), and a batch holds a varying number of conversations."""
    ids, masks = [], []
    row_ids: list[np.ndarray] = []
    row_masks: list[np.ndarray] = []
    used = 0
    for x, m in zip(examples.ids, examples.masks, strict=True):
        if row_ids and used + len(x) > max_length:
            ids.append(np.concatenate(row_ids))
            masks.append(np.concatenate(row_masks))
            row_ids, row_masks, used = [], [], 0
        row_ids.append(x)
        row_masks.append(m)
        used += len(x)
    if row_ids:
        ids.append(np.concatenate(row_ids))
        masks.append(np.concatenate(row_masks))
    return ChatExamples(ids, masks)


def encode_chat_table(tokenizer, conversations: list[list[dict]], max_length: int, *, cache_dir: Path | None,
                      fingerprint: str) -> tuple[ChatExamples, int]:
    """(the encoded conversations, how many were dropped because no assistant token fits in max_length), cached on
    disk by (tokenizer, chat template, data fingerprint, max length) like `tokenize.encode_texts`."""
    from training.core.data.tokenize import _cache_path, _save, tokenizer_key  # torch: only where encoding runs

    template = tokenizer.chat_template or FALLBACK_CHAT_TEMPLATE
    template = template if isinstance(template, str) else json.dumps(template, sort_keys=True)
    template_key = hashlib.sha256(template.encode()).hexdigest()[:16]
    path = _cache_path(cache_dir, "chat", tokenizer_key(tokenizer), template_key, fingerprint, max_length)
    if path is not None and path.exists():
        with np.load(path) as z:
            flat, flat_mask, offsets, dropped = z["flat"], z["mask"], z["offsets"], int(z["dropped"])
    else:
        encoded = [encode_conversation(tokenizer, c, max_length) for c in conversations]
        kept = [(x, m) for x, m in encoded if m.any()]
        dropped = len(encoded) - len(kept)
        offsets = np.concatenate([[0], np.cumsum([len(x) for x, _ in kept], dtype=np.int64)])
        flat = np.concatenate([x for x, _ in kept]) if kept else np.zeros(0, np.int32)
        flat_mask = np.concatenate([m for _, m in kept]) if kept else np.zeros(0, bool)
        if path is not None:
            _save(path, flat=flat, mask=flat_mask, offsets=offsets, dropped=np.int64(dropped))
    if len(offsets) == 1 and conversations:
        raise DataError(f"no assistant turn starts within the first {max_length} tokens of any conversation; raise "
                        "model.max_length (the chat template's system prompt and the user turns come first)")
    pieces = range(len(offsets) - 1)
    return (ChatExamples([flat[offsets[i]:offsets[i + 1]] for i in pieces],
                         [flat_mask[offsets[i]:offsets[i + 1]] for i in pieces]), dropped)


# -- the task's data ------------------------------------------------------------------------------

def prepare(cfg: DataConfig, tokenizer, max_length: int, cache_dir: Path | None,
            unit: str = "training conversations") -> TaskData:
    """Chat: one example per conversation, rendered with the model's chat template, the loss on the assistant's
    turns only; split by conversation (the training subset is packed per run, see `TaskKind.run_parts`)."""
    def read(source: str, split: str, max_rows: int | None):
        return load_chat_table(source, messages_column=cfg.messages_column, prompt_column=cfg.prompt_column,
                               response_column=cfg.response_column, hf_split=split, max_rows=max_rows)

    table = read(cfg.source, cfg.hf_split, cfg.max_rows)
    eval_table = read(cfg.eval_source, cfg.eval_hf_split, None) if cfg.eval_source else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table.conversations), None, None,
                                                 None if eval_table is None else len(eval_table.conversations),
                                                 table.where, True)

    def encode(t, idx: np.ndarray, part: str) -> tuple[ChatExamples, list[list[dict]], int]:
        convs = [t.conversations[i] for i in idx]
        examples, dropped = encode_chat_table(tokenizer, convs, max_length, cache_dir=cache_dir,
                                              fingerprint=f"{t.fingerprint}:{cfg.split_seed}:{part}:{len(idx)}")
        return examples, convs, dropped

    train, train_convs, dropped_train = encode(table, train_idx, "train")
    validation, val_convs, dropped_val = encode(table, val_idx, "validation")
    evals, eval_convs, dropped_eval = (encode(table, eval_idx, "eval") if eval_table is None
                                       else encode(eval_table, eval_idx, "eval"))
    if min(len(train), len(validation), len(evals)) == 0:
        raise DataError(f"{table.where} has no conversation whose assistant turn fits in {max_length} tokens in one of "
                        "the training, validation and eval parts; raise model.max_length or give more conversations")
    fingerprint = table.fingerprint if eval_table is None else hashlib.sha256(
        f"{table.fingerprint}|{eval_table.fingerprint}".encode()).hexdigest()
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": table.fingerprint,
            "rows": len(table.conversations), "dropped_rows": table.dropped_rows, "train_rows": len(train),
            "validation_rows": len(validation), "eval_rows": len(evals),
            "truncated_away": dropped_train + dropped_val + dropped_eval, "duplicate_rows": table.duplicates,
            "assistant_tokens": int(sum(int(m.sum()) for m in train.masks))}
    if table.duplicates:
        info["note"] = (f"{table.duplicates:,} conversations of {table.where} repeat an earlier one turn for turn and "
                        f"were dropped, leaving {len(table.conversations):,}: a copy could sit in training and eval at once.")
    return TaskData("chat", train, evals, [], fingerprint, info, None, validation,
                    extra={"conversations": {"train": train_convs, "validation": val_convs, "eval": eval_convs}}, unit=unit)
