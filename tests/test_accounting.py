"""Analytic FLOPs: a hand count on a toy model, and agreement with torch's own FLOP counter."""
import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from training.config import ModelConfig, StrategyConfig
from training.core.accounting import FlopCounter
from training.core.models import structure
from training.core.strategies import get_strategy
from training.tasks import build_task_model, task_kind

# The tiny BERT of conftest: hidden 32, 2 blocks, intermediate 64, 4 labels.
H, FF, L, C = 32, 64, 2, 4
BLOCK = 4 * (H * H + H) + (H * FF + FF) + (FF * H + H)  # q, k, v, attention output; FFN in and out
HEAD = H * C + C


def _prepared(tiny_bert_dir, name, options=None):
    strategy = get_strategy(StrategyConfig(name, options=options or {}), task_kind("text-classification"))
    model = build_task_model("text-classification", tiny_bert_dir, pretrained=strategy.pretrained, num_labels=C,
                             cfg=ModelConfig(), seed=0)
    strategy.prepare(model)
    return model


def test_hand_count_for_full_freeze_and_head(tiny_bert_dir):
    lengths = [5, 9, 12]
    T, Q, S = sum(lengths), sum(x * x for x in lengths), len(lengths)
    attn = 4 * H * Q  # forward score + value matmuls of one block
    full = FlopCounter(*_pair(_prepared(tiny_bert_dir, "full")))
    assert full.training_flops(T, Q, S) == L * (6 * BLOCK * T + 3 * attn) + 6 * HEAD * S
    freeze = FlopCounter(*_pair(_prepared(tiny_bert_dir, "freeze", {"layers": 1})))
    # block 0 below the lowest trainable block: forward only; block 1 and the head train.
    assert freeze.training_flops(T, Q, S) == (2 * BLOCK * T + attn) + (6 * BLOCK * T + 3 * attn) + 6 * HEAD * S
    head = FlopCounter(*_pair(_prepared(tiny_bert_dir, "head")))
    assert head.training_flops(T, Q, S) == L * (2 * BLOCK * T + attn) + 6 * HEAD * S


def test_lora_is_4n_base_plus_6n_adapter(tiny_bert_dir):
    model = _prepared(tiny_bert_dir, "lora", {"r": 2})
    counter = FlopCounter(*_pair(model))
    adapters = 4 * 2 * (H + H) + 2 * (H + FF) + 2 * (FF + H)  # r·(in+out) for q, k, v, o and the FFN pair
    T, Q, S = 10, 100, 1
    assert counter.units[0].trainable == adapters
    expected = L * (4 * BLOCK * T + 6 * adapters * T + 3 * 4 * H * Q) + 6 * HEAD * S
    assert counter.training_flops(T, Q, S) == expected


def _pair(model):
    return model, structure(model)


@pytest.mark.parametrize("name", ["full", "scratch", "head", "lora"])
def test_agrees_with_torch_flop_counter(tiny_bert_dir, name):
    """torch counts the matmuls it actually runs (no bias adds); ours includes biases: within 5%."""
    model = _prepared(tiny_bert_dir, name)
    model.train()
    torch.manual_seed(0)
    ids = torch.randint(1000, 2000, (3, 16))
    mask = torch.ones_like(ids)
    with FlopCounterMode(display=False) as fc:
        logits = model(input_ids=ids, attention_mask=mask)
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    measured = fc.get_total_flops()
    analytic = FlopCounter(*_pair(model)).training_flops(48, 3 * 16 * 16, 3)
    # head: autograd skips the frozen encoder's backward entirely, as the 2N rule says. LoRA: the
    # 4N_base + 6N_adapter rule also counts the input gradient of the lowest block's q/k/v, which
    # autograd skips because nothing below trains — an overcount of about 1/(3·layers).
    tolerance = 0.10 if name == "lora" else 0.05
    assert abs(measured - analytic) / analytic < tolerance, (measured, analytic)


def _plan_table(seeds: int, sizes: list[int], cost: float, min_steps: int = 30, batch: int = 32) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        for n in sizes:
            for strategy, cap, per_step in (("scratch", 4, cost), ("full", 1, cost), ("head", 1, cost / 50)):
                steps = cap * max(min_steps, -(-3 * n // batch))
                rows.append({"strategy": strategy, "n_train": n, "seed": seed, "total_steps": steps,
                             "est_s": steps * per_step})
    return pd.DataFrame(rows)


def test_fit_to_time_takes_one_seed_then_scales_every_size_alike_and_says_when_nothing_fits():
    """Issue 27, item 4: a newcomer's first preflight said 51 h on two CPU cores with nothing to do about it."""
    from training.analysis.preflight import FIT_SECONDS, fit_to_time

    cfg = {"seeds": [0, 1, 2], "sizes": [100, 1000, "all"], "train": {"batch_size": 32},
           "budget": {"policy": "epochs", "epochs": 3.0, "min_steps": 30}}
    table = _plan_table(3, [100, 1000, 5000], 0.5)
    changes, what, fits = fit_to_time(cfg, 5000, table)
    assert fits and changes["seeds"] == 1 and what.startswith("1 seed instead of 3; sizes ")
    small, middle, large = changes["sizes"]
    assert small < 100 and middle / small == pytest.approx(10, rel=0.05) and large / small == pytest.approx(50, rel=0.05)
    refit = _plan_table(1, changes["sizes"], 0.5)
    assert refit["est_s"].sum() <= FIT_SECONDS * 1.1  # the fitted plan, planned again, fits
    assert fit_to_time(cfg, 5000, _plan_table(3, [100, 1000, 5000], 0.01)) is None  # it fits already

    steps = {**cfg, "seeds": [0], "budget": {"policy": "steps", "steps": 1000}}
    changes, what, fits = fit_to_time(steps, 5000, _plan_table(1, [100], 2.0).assign(total_steps=1000, est_s=750.0))
    assert fits and changes == {"steps": 400} and what == "400 steps per run instead of 1,000"

    tiny = {**cfg, "seeds": [0], "sizes": [10, "all"]}
    changes, what, fits = fit_to_time(tiny, 30, _plan_table(1, [10, 30], 20.0))
    assert not fits and changes == {} and "every run trains at least 30 steps" in what and "use a GPU" in what
