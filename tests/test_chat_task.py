"""The chat task kind end to end on a tiny Llama: which strategies apply, assistant-only loss, packing per run,
answers logged during and after training, the general-chat forgetting probe, and the analysis that reads them."""
import json

import numpy as np
import pytest
import torch

from training.analysis.generations import generations_frame, side_by_side
from training.analysis.report import analyse, markdown_report
from training.config import StrategyConfig
from training.core.evaluate import chat_loss
from training.core.strategies import get_strategy
from training.errors import ConfigError
from training.service.execution import run_experiment
from training.service.records import Role, Status
from training.tasks import task_kind
from training.testing import tiny_chat_config


@pytest.mark.parametrize("name", ["head", "lp-ft"])
def test_head_only_strategies_are_refused_for_chat_with_the_reason(name):
    with pytest.raises(ConfigError, match="does not apply to task 'chat': .*whole vocabulary|head-only"):
        get_strategy(StrategyConfig(name), task_kind("chat"))


def test_chat_loss_counts_only_labelled_tokens():
    torch.manual_seed(0)
    logits = torch.randn(1, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100]])
    expected = torch.nn.functional.cross_entropy(logits[0, 1:3], torch.tensor([3, 4]))
    assert torch.allclose(chat_loss(logits, labels), expected)


def test_lora_on_a_chat_model_leaves_the_embeddings_and_output_layer_frozen(tiny_chat_dir):
    cfg = tiny_chat_config(tiny_chat_dir, tiny_chat_dir)
    kind = task_kind("chat")
    model = kind.build_model(tiny_chat_dir, pretrained=True, num_labels=2, cfg=cfg.model, seed=0)
    get_strategy(StrategyConfig("lora"), task_kind("chat")).prepare(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_a_run_trains_on_packed_rows_of_its_own_subset(tiny_chat_dir, chat_jsonl, tmp_path):
    from training.core.models import load_tokenizer
    from training.tasks import prepare_task_data

    cfg = tiny_chat_config(tiny_chat_dir, chat_jsonl)
    cfg.model.max_length = 160  # room for several short conversations per row
    tok = load_tokenizer(tiny_chat_dir)
    data = prepare_task_data(cfg.data, "chat", tok, cfg.model.max_length, tmp_path)
    train, validation, evaluation, inputs = task_kind("chat").run_parts(data, cfg, 12, 0)
    subset = data.subset(cfg.data, 12, 0)
    assert inputs == {} and validation is data.validation and evaluation is data.eval
    assert len(train) == len(subset) == 12  # a step still takes batch_size conversations
    batch = train.collate(list(range(8)), tok.pad_token_id, torch.device("cpu"))
    plain = subset.collate(list(range(8)), tok.pad_token_id, torch.device("cpu"))
    assert len(batch["input_ids"]) < 8 and batch["input_ids"].shape[1] <= cfg.model.max_length  # packed rows
    assert int((batch["labels"] != -100).sum()) == int((plain["labels"] != -100).sum())  # every answer token
    assert int(batch["attention_mask"].sum()) == int(plain["attention_mask"].sum())
    cfg.train.packing = False
    assert type(task_kind("chat").run_parts(data, cfg, 12, 0)[0]) is type(subset)


def test_chat_experiment_logs_answers_and_forgetting_and_the_report_shows_them(tiny_chat_dir, chat_jsonl, store):
    cfg = tiny_chat_config(tiny_chat_dir, chat_jsonl)
    exp = run_experiment(cfg, store)
    grid = [r for r in store.runs(exp) if r.role == Role.GRID]
    assert {r.status for r in grid} == {Status.DONE}, [r.error for r in grid]
    assert not [r for r in store.runs(exp) if r.role == Role.REFERENCE]  # no classical reference for chat
    for r in grid:
        res = r.result
        assert {"loss", "perplexity", "rouge_l"} <= set(res["eval"]) and 0.0 <= res["eval"]["rouge_l"] <= 1.0
        assert "probe/chat_perplexity" in res["probe_final"] and "probe/chat_perplexity" in res["forgetting"]
        events = [json.loads(e["data_json"]) for e in store.events(r.id) if e["kind"] == "generations"]
        splits = {(e["split"], e["weights"]) for e in events}
        assert {("validation", None), ("general", None), ("eval", "final")} <= splits
        assert all(len(e["items"]) == 2 and {"prompt", "reference", "output"} <= set(e["items"][0]) for e in events)
        keys = {m["key"] for m in store.metrics([r.id])}
        assert {"val/rouge_l", "val/perplexity", "probe/chat_perplexity"} <= keys
    frame = generations_frame(store, exp)
    table = side_by_side(frame, "eval", 12, 0, "final")
    assert list(table.columns) == ["prompt", "reference", "full", "lora", "scratch"] and len(table) == 2
    a = analyse(store, exp)
    report = markdown_report(a)
    assert "## Answers side by side — held-out eval prompts" in report
    assert "base model (before)" in report and "## ROUGE-L of the final answers" in report
    assert a.metric == "perplexity" and not a.higher_is_better


def test_generation_off_logs_no_answers(tiny_chat_dir, chat_jsonl, store):
    cfg = tiny_chat_config(tiny_chat_dir, chat_jsonl, strategies=("lora",))
    cfg.train.generations = 0
    exp = run_experiment(cfg, store)
    run = store.runs(exp)[0]
    assert run.status == Status.DONE and "rouge_l" not in run.result["eval"]
    assert generations_frame(store, exp).empty
    assert np.isfinite(run.result["eval"]["perplexity"])


def test_prompt_and_response_columns_are_suggested_from_names_then_contents():
    """Issue 41, item 6: a bank FAQ's Question and Answer columns both defaulted to "Question" (then a red error)."""
    import pandas as pd

    from training.tasks.chat.data import suggest_chat_columns

    faq = pd.DataFrame({"Question": ["How do I reset my PIN?", "Can I close my account online?"],
                        "Answer": ["Open Settings, choose Security, then Reset PIN and follow the steps.",
                                   "Yes: Settings, Account, Close account; the balance is paid out."]})
    assert suggest_chat_columns(faq) == {"prompt": "Question", "response": "Answer"}
    alpaca = pd.DataFrame({"instruction": ["Say hi"], "input": [""], "output": ["Hi there!"]})
    assert suggest_chat_columns(alpaca) == {"prompt": "instruction", "response": "output"}
    unnamed = pd.DataFrame({"id": ["1", "2"], "col_a": ["short ask", "another ask"],
                            "col_b": ["a much longer reply, as replies are", "and another long reply here"]})
    assert suggest_chat_columns(unnamed) == {"prompt": "col_a", "response": "col_b"}
