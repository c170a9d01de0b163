"""Every (task kind, strategy) on tiny models: exactly the intended parameters train, and loss goes down."""
import pytest
import torch

from training.config import BudgetConfig, ModelConfig, StrategyConfig
from training.core.models import find_blocks
from training.core.strategies import STRATEGIES, get_strategy
from training.errors import ConfigError, DeviceError
from training.service.execution import execute_run
from training.service.planning import launch
from training.tasks import build_task_model, task_kind
from training.testing import tiny_classification_config, tiny_lm_config

CLS = "text-classification"
LM = "causal-lm"
CASES = [(CLS, s) for s in ("scratch", "full", "lora", "head", "freeze", "discriminative", "lp-ft")] + \
        [(LM, s) for s in ("scratch", "full", "lora", "freeze", "discriminative")]


def _model(task, base, strategy):
    return build_task_model(task, base, pretrained=strategy.pretrained, num_labels=4, cfg=ModelConfig(max_length=24), seed=0)


def _trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("task, name", CASES)
def test_exactly_the_intended_parameters_train(task, name, tiny_bert_dir, tiny_gpt2_dir):
    base = tiny_bert_dir if task == CLS else tiny_gpt2_dir
    strategy = get_strategy(StrategyConfig(name, options={"layers": 1} if name == "freeze" else {}), task_kind(task))
    model = _model(task, base, strategy)
    strategy.prepare(model)
    names = _trainable_names(model)
    every = {n for n, _ in model.named_parameters()}
    blocks = find_blocks(model.backbone)
    block1 = {n for n, p in model.named_parameters() if any(p is q for q in blocks[1].parameters())}
    head = {n for n, p in model.named_parameters() if any(p is q for q in model.head.parameters())}
    if name in ("scratch", "full", "discriminative"):
        assert names == every
    elif name == "head":
        assert names == head and names == {"head.weight", "head.bias"}
    elif name == "freeze":
        final_norm = {"backbone.transformer.ln_f.weight", "backbone.transformer.ln_f.bias"} if task == LM else set()
        assert names == block1 | (head if task == CLS else final_norm)
    elif name == "lora":
        adapters = {n for n in every if "lora_A" in n or "lora_B" in n}
        assert adapters and names == adapters | (head if task == CLS else set())
        assert all(any(t in n for t in ("attention", "intermediate", "output", "attn", "mlp")) for n in adapters)
    elif name == "lp-ft":
        assert names == head
        probe, finetune = strategy.phases(10)
        strategy.enter_phase(model, finetune)
        assert _trainable_names(model) == every
        strategy.enter_phase(model, probe)
        assert _trainable_names(model) == head


def test_discriminative_lr_decays_by_2_6_per_block(tiny_bert_dir):
    strategy = get_strategy(StrategyConfig("discriminative", lr=1e-3), task_kind(CLS))
    model = _model(CLS, tiny_bert_dir, strategy)
    strategy.prepare(model)
    phase = strategy.phases(10)[0]
    groups = strategy.param_groups(model, phase, 0.01)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    blocks = find_blocks(model.backbone)
    top, bottom = next(blocks[1].parameters()), next(blocks[0].parameters())
    assert lr_of[id(top)] == pytest.approx(1e-3)
    assert lr_of[id(bottom)] == pytest.approx(1e-3 / 2.6)
    assert lr_of[id(model.head.weight)] == pytest.approx(1e-3)
    emb = model.backbone.embeddings.word_embeddings.weight
    assert lr_of[id(emb)] == pytest.approx(1e-3 / 2.6 ** 2)
    assert len(lr_of) == len({id(p) for p in model.parameters()})  # every parameter in exactly one group
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert id(model.head.bias) not in decayed and id(model.head.weight) in decayed


@pytest.mark.parametrize("task, name", CASES)
def test_loss_goes_down(task, name, tiny_bert_dir, tiny_gpt2_dir, topic_csv, code_jsonl, store):
    lr = {"head": 1e-2, "lora": 3e-3}.get(name, 1e-3)
    sc = StrategyConfig(name, lr=lr, until_plateau=False, options={"layers": 1} if name == "freeze" else {})
    if name == "lp-ft":
        sc.options = {"probe_lr": 1e-2}
    if task == CLS:
        cfg = tiny_classification_config(tiny_bert_dir, topic_csv, strategies=[sc], budget=BudgetConfig(policy="steps", steps=25))
    else:
        cfg = tiny_lm_config(tiny_gpt2_dir, code_jsonl[1], strategies=[sc], budget=BudgetConfig(policy="steps", steps=25))
    exp = launch(cfg, store)
    run = store.runs(exp)[0]
    row = execute_run(store, run.id)
    assert row.status == "done", row.error
    m = {(r["step"], r["key"]): r["value"] for r in store.metrics(exp_id=exp)}
    assert m[(25, "val/loss")] < m[(0, "val/loss")]
    assert m[(25, "train/loss")] < m[(13, "train/loss")] * 1.05 or name == "head"


def test_unknown_strategy_and_wrong_task(tiny_bert_dir, topic_csv, store):
    with pytest.raises(ConfigError, match="unknown strategy 'adapters'; choose from: scratch, own, full, lora, qlora"):
        launch(tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["adapters"]), store)
    with pytest.raises(ConfigError, match="'head' does not apply to task 'causal-lm'"):
        get_strategy(StrategyConfig("head"), task_kind(LM))
    with pytest.raises(ConfigError, match="strategy 'lora' has no option 'rank'; its options are: r, alpha"):
        get_strategy(StrategyConfig("lora", options={"rank": 8}), task_kind(CLS))
    assert store.experiments() == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_qlora_without_cuda_is_a_clear_error_and_stores_nothing(tiny_bert_dir, topic_csv, store):
    with pytest.raises(DeviceError, match="qlora needs a CUDA GPU.*Use lora"):
        launch(tiny_classification_config(tiny_bert_dir, topic_csv, strategies=["full", "qlora"]), store)
    assert store.experiments() == [] and not (store.root / "runs").exists()


def test_every_strategy_documents_itself():
    for cls in STRATEGIES.values():
        d = cls.describe()
        assert d["summary"] and d["when"] and d["default_lr"] > 0
    assert STRATEGIES["scratch"].default_lr > STRATEGIES["full"].default_lr


def test_strategy_options_are_declared_documented_and_validated_from_the_declaration():
    import dataclasses

    for name, cls in STRATEGIES.items():
        d = cls.describe()
        assert set(d["options"]) == {f.name for f in dataclasses.fields(cls.options_class)}
        assert all(d["option_docs"].get(k) for k in d["options"]), name  # every option says what it does
    lora = get_strategy(StrategyConfig("lora", options={"r": 8}), task_kind(CLS))
    assert lora.options.r == 8 and lora.lora_config().lora_alpha == 16  # alpha defaults to 2·r
    with pytest.raises(ConfigError, match="lora: dropout must be a number in \\[0, 1\\), got 'high'"):
        get_strategy(StrategyConfig("lora", options={"dropout": "high"}), task_kind(CLS))
    with pytest.raises(ConfigError, match="qlora: r must be a whole number"):  # inherited declaration, own name
        get_strategy(StrategyConfig("qlora", options={"r": 0}), task_kind(CLS))


def test_the_headstart_command_lists_every_strategy_option_with_its_doc():
    """The console script (installed by requirements.txt) is the same CLI as `python -m training`."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("headstart", path=str(Path(sys.executable).parent))
    assert exe, "requirements.txt installs the project: the `headstart` command"
    out = subprocess.run([exe, "strategies"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name, cls in STRATEGIES.items():
        assert name in out.stdout
        for option, doc in cls.describe()["option_docs"].items():
            assert option in out.stdout and doc.split()[0] in out.stdout, (name, option)
