"""Task kinds as a table, as PEFT tests its methods: every (kind × strategy) keeps the contract a kind promises, every
kind scores its references and probes, a toy kind defined here plugs in without touching any other file, and no code
outside `training/tasks/` branches on a task's name."""
from __future__ import annotations

import ast
import contextlib
import math
import re
from pathlib import Path

import numpy as np
import pytest

from training.config import ModelConfig, ProbeConfig, StrategyConfig
from training.core.data.task import TaskData
from training.core.strategies import STRATEGIES, get_strategy
from training.errors import ConfigError, DeviceError
from training.tasks import TaskKind, checked, kinds, register, task_kind, unregister
from training.testing import tiny_kind_configs

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = ["text-classification", "causal-lm", "image-classification", "chat", "tabular-classification",
            "tabular-regression"]
KIND_FILES = {"__init__.py", "data.py", "model.py", "references.py", "probe.py", "words.py"}
CPU = None


@pytest.fixture(scope="module")
def cases(tmp_path_factory, tiny_bert_dir, tiny_gpt2_dir, tiny_chat_dir):
    """Per built-in kind: a tiny config (data on disk, a tiny model) and, prepared once, its kind's processor and data."""
    import torch

    global CPU
    CPU = torch.device("cpu")
    root = tmp_path_factory.mktemp("kinds")
    configs = tiny_kind_configs(root, tiny_bert_dir, tiny_gpt2_dir, tiny_chat_dir)
    prepared = {}

    def case(task: str):
        cfg = configs[task]
        if task not in prepared:
            kind = task_kind(task)
            base_dir = kind.resolve_base(cfg.model.base)
            processor = kind.load_processor(base_dir, cfg.model)
            data = kind.prepare_data(cfg.data, processor, cfg.model.max_length, root / "cache")
            prepared[task] = (base_dir, processor, data)
        return (cfg, *prepared[task])

    return case


def _metrics_in_range(metrics: dict, kind: TaskKind) -> None:
    assert math.isfinite(metrics["loss"]) and metrics["loss"] >= 0
    for key in ("accuracy", "macro_f1"):
        if key in metrics:
            assert 0.0 <= metrics[key] <= 1.0
    if "perplexity" in metrics:
        assert metrics["perplexity"] >= 1.0
    if "rmse" in metrics:
        assert metrics["rmse"] >= 0.0
    assert kind.metric in metrics


def _train(model, strategy, kind, batch, steps: int = 25) -> None:
    """A few optimizer steps on one batch, phase by phase as the loop takes them (`training.core.loop`)."""
    import torch

    for phase in strategy.phases(steps):
        strategy.enter_phase(model, phase)
        optimizer = torch.optim.AdamW(strategy.param_groups(model, phase, 0.0), lr=phase.lr)
        model.train()
        for _ in range(phase.start, phase.end):
            optimizer.zero_grad()
            kind.loss(model(**{k: v for k, v in batch.items() if k != "labels"}), batch).backward()
            optimizer.step()


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("task", BUILT_IN)
def test_every_kind_keeps_its_contract_with_every_strategy(task, strategy, cases, tmp_path):
    """A refused strategy is refused with the kind's reason; any other trains: the loss falls on a tiny set, and the
    eval metrics are in range with one outcome per eval example. A practitioner's model (`own`) is built as its run
    builds it: the kind's own base from the run's training examples, the data read again through its processor."""
    kind = task_kind(task)
    options = {"layers": 1} if strategy == "freeze" else {}
    if why := kind.refusal(strategy):
        assert len(why) > 40, "a refusal carries a reason a user can act on"
        with pytest.raises(ConfigError, match=re.escape(why)):
            get_strategy(StrategyConfig(strategy, options=options), kind)
        return
    s = get_strategy(StrategyConfig(strategy, options=options), kind)
    if s.needs_cuda:
        with pytest.raises(DeviceError, match="CUDA"):
            s.check_available("cpu")
        return
    cfg, base_dir, processor, data = cases(task)
    if s.own_model:
        base_dir = kind.own_base(data, cfg, min(16, len(data.train)), 0, {}, tmp_path / "own")
        assert (base_dir / "config.json").is_file() and not list(base_dir.glob("*.safetensors"))  # no weights
        processor = kind.load_processor(base_dir, cfg.model)
        data = kind.prepare_data(cfg.data, processor, cfg.model.max_length, None)
    train, _, evaluation, inputs = kind.run_parts(data, cfg, min(16, len(data.train)), 0)
    n_classes = len(data.label_names)
    model = kind.build_model(base_dir, pretrained=s.pretrained, num_labels=max(2, n_classes), cfg=cfg.model, seed=0,
                             load_kwargs=s.load_kwargs(), **inputs)
    s.prepare(model)
    pad = getattr(processor, "pad_token_id", 0) or 0
    batch = train.collate(np.arange(min(8, len(train))), pad, CPU)
    before = kind.evaluate(model, [batch], n_classes, contextlib.nullcontext)["loss"]
    _train(model, s, kind, batch)
    after = kind.evaluate(model, [batch], n_classes, contextlib.nullcontext)["loss"]
    assert after < before, f"{task} × {strategy}: the loss on a tiny set did not fall ({before:.4f} → {after:.4f})"
    items: dict = {}
    batches = [evaluation.collate(np.arange(i, min(i + 8, len(evaluation))), pad, CPU)
               for i in range(0, len(evaluation), 8)]
    _metrics_in_range(kind.evaluate(model, batches, n_classes, contextlib.nullcontext, items), kind)
    assert items and all(len(v) == len(evaluation) for v in items.values())


@pytest.mark.parametrize("task", BUILT_IN)
def test_every_kind_scores_its_references_and_its_forgetting_probe(task, cases):
    cfg, base_dir, processor, data = cases(task)
    kind = task_kind(task)
    rows = kind.reference_rows(data, cfg.data, [min(16, len(data.train))], [0])
    if kind.references:
        assert {r["reference"] for r in rows} >= {"majority" if kind.classification else "mean"}
        for r in rows:
            assert r["name"] and r["eval_examples"] == len(data.eval)
            _metrics_in_range({**r, "loss": r["loss"] if r.get("loss") is not None else 0.0}, kind)
    else:
        assert rows == [] and kind.words.references is None
    probes = kind.probes(cfg, processor, None)
    if task.startswith("tabular-"):
        assert probes == []  # a table's MLP has no earlier skill to forget
        with pytest.raises(ConfigError, match="no earlier skill to forget"):
            kind.probes(_with(cfg, probes=[ProbeConfig(kind="knn", source="x.csv")]), processor, None)
        return
    assert probes
    model = kind.build_model(base_dir, pretrained=True, num_labels=max(2, len(data.label_names)), cfg=cfg.model,
                             seed=0)
    for p in probes:
        value = p.measure(model, CPU, contextlib.nullcontext)
        assert math.isfinite(value) and p.key.startswith("probe/") and p.name


def _with(cfg, **changes):
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def test_every_kind_folder_has_the_same_files_and_every_built_in_kind_is_registered():
    folders = sorted(p for p in (ROOT / "training" / "tasks").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [f.name for f in folders] == ["chat", "images", "lm", "tabular", "text"]
    for folder in folders:
        assert KIND_FILES <= {p.name for p in folder.glob("*.py")}, folder.name
    assert list(kinds()) == BUILT_IN
    for kind in kinds().values():
        assert kind.title and kind.unit and kind.help and kind.words.band is not None
        assert all(n in STRATEGIES for n in (*kind.refused, *kind.default_lrs, *kind.form.default_strategies))
        assert kind.builtins, f"{kind.name} offers a built-in dataset"


# -- no code outside training/tasks/ branches on a task's name --------------------------------------------------

GROUPS = ("CLASSIFICATION", "LANGUAGE_MODELS", "TABULAR", "TABULAR_TASKS", "TASK_KINDS", "PRIMARY_METRIC")


def _outside_tasks() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
    # training/testing.py is the tests' own builders (a tiny config per kind), shipped in the package for the benches
    return files + [p for p in sorted((ROOT / "training").rglob("*.py"))
                    if "tasks" not in p.relative_to(ROOT).parts and p.name != "testing.py"]


def _branches(source: str, where: str) -> list[str]:
    """Comparisons (==, !=, in) with a task's name, `startswith` on a kind's prefix, kind-group constants and tables
    keyed by task name in `source`."""
    names = set(BUILT_IN)
    prefixes = {n.split("-")[0] for n in names}
    found = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Compare):
            for op in (node.left, *node.comparators):
                values = op.elts if isinstance(op, (ast.Tuple, ast.List, ast.Set)) else [op]
                if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                    found.append(f"{at} compares with a task name")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "endswith") and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and node.args[0].value.rstrip("-") in prefixes):
            found.append(f"{at} tests a task name's prefix")
        if isinstance(node, ast.Name) and node.id in GROUPS or isinstance(node, ast.alias) and node.name in GROUPS:
            found.append(f"{at} uses a kind group")
        if isinstance(node, ast.Dict) and sum(isinstance(k, ast.Constant) and k.value in names for k in node.keys) >= 2:
            found.append(f"{at} keys a table by task name")
    return found


def test_no_code_outside_training_tasks_compares_with_a_task_name_or_a_kind_group():
    """The acceptance's grep, as an AST walk over the app, the pages, `ui/` and every module of `training/` but its
    kinds."""
    found = [hit for path in _outside_tasks()
             for hit in _branches(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("code", [
    'if cfg.task == "chat":\n    pass\n', 'x = task in ("tabular-classification", "tabular-regression")\n',
    'ok = task.startswith("tabular-")\n', 'from training.core.kinds import LANGUAGE_MODELS\n',
    'notes = {"image-classification": 1, "chat": 2}\n', 'if task != "text-classification":\n    pass\n'])
def test_the_check_above_finds_each_kind_of_branch_the_old_code_had(code):
    assert _branches(code, "old")


# -- a toy kind, defined here, plugs in -------------------------------------------------------------------------

class ToyExamples:
    """Rows of 4 numbers; the label says whether they sum above zero."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.labels = x, y

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> "ToyExamples":
        idx = np.asarray(idx)
        return ToyExamples(self.x[idx], self.labels[idx])

    def collate(self, idx, pad_id, device, multiple: int = 1) -> dict:
        import torch

        idx = np.asarray(idx)
        return {"features": torch.from_numpy(self.x[idx]).to(device), "labels": torch.from_numpy(self.labels[idx]).to(device)}


class ToyProcessor:
    pad_token_id = 0


def _toy_net(num_labels: int, seed: int):
    import torch
    from torch import nn

    from training.core.models import Structure

    class ToyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.ModuleList([nn.Linear(4, 16)])
            self.head = nn.Linear(16, num_labels)

        def forward(self, features=None, **_):
            return self.head(torch.relu(self.backbone[0](features)))

        def flop_structure(self):
            linears = [self.backbone[0], self.head]
            return Structure(list(self.backbone), self.head, False, 0, {id(m): 1 for m in linears}, 4 * 32,
                             self.backbone)

    torch.manual_seed(seed)
    return ToyNet()


class ToyKind(TaskKind):
    """Everything a new kind needs: its name and words, its data, its model and its FLOPs; the rest is inherited."""

    name = "toy-sums"
    title = "Toy sums"
    help = "rows of four numbers → whether they sum above zero"
    unit = "training rows"
    refused = {n: "the toy model has no pretrained weights: only training from scratch applies to it"
               for n in STRATEGIES if n != "scratch"}
    default_lrs = {"scratch": 1e-2}
    default_base = "toy"
    probe_default = "none"
    references = False

    def prepare_data(self, cfg, processor, max_length, cache_dir):
        rng = np.random.default_rng(cfg.split_seed)
        x = rng.normal(size=(300, 4)).astype(np.float32)
        y = (x.sum(1) > 0).astype(np.int64)
        part = {"train": slice(0, 200), "validation": slice(200, 240), "eval": slice(240, 300)}
        ex = {k: ToyExamples(x[s], y[s]) for k, s in part.items()}
        return TaskData(self.name, ex["train"], ex["eval"], ["no", "yes"], "toy-v1",
                        {"source": cfg.source, "train_rows": 200, "validation_rows": 40, "eval_rows": 60},
                        [str(v) for v in y[part["train"]]], ex["validation"], unit=self.unit)

    def resolve_base(self, base):
        return Path(base)

    def load_processor(self, base_dir, cfg: ModelConfig):
        return ToyProcessor()

    def check_model(self, cfg, base_dir, label):
        pass

    def build_model(self, base_dir, *, pretrained, num_labels, cfg, seed, load_kwargs=None):
        return _toy_net(num_labels, seed)

    def batch_flops(self, counter, micro, data, cached):
        return counter.training_flops(0, 0, len(micro))

    def example_flops(self, counter, data, cached):
        return counter.training_flops(0, 0, 1)


@pytest.fixture
def toy():
    kind = register(ToyKind())
    yield kind
    unregister(kind.name)


def test_a_toy_kind_defined_in_a_test_plugs_in_without_touching_any_other_file(toy, tmp_path):
    """Registered from here, the toy kind is planned, trained in the one loop, stored and analysed like a built-in:
    the config names it, planning checks it, the New experiment page's picker would list it."""
    from training.analysis.report import analyse
    from training.config import BudgetConfig, DataConfig, ExperimentConfig, OptimConfig, SpeedConfig, TrainConfig
    from training.service.execution import run_experiment
    from training.service.store import Store

    assert "toy-sums" in kinds() and checked(ExperimentConfig(name="t", task="toy-sums")) is toy
    with pytest.raises(ConfigError, match="does not apply to task 'toy-sums': the toy model has no pretrained"):
        get_strategy(StrategyConfig("full"), toy)
    cfg = ExperimentConfig(name="toy", task="toy-sums", data=DataConfig(source="toy"),
                           model=ModelConfig(base="toy"), strategies=[StrategyConfig("scratch")],
                           sizes=[50, 200], seeds=[0, 1], budget=BudgetConfig(policy="steps", steps=40),
                           optim=OptimConfig(warmup_fraction=0.0), train=TrainConfig(batch_size=16, evals_per_run=2),
                           probes=[], speed=SpeedConfig(device="cpu"), lr_sweep=None)
    store = Store(tmp_path / "store")
    exp_id = run_experiment(cfg, store)
    runs = [r for r in store.runs(exp_id) if r.role == "grid"]
    assert len(runs) == 4 and all(r.status == "done" for r in runs)
    assert all(r.result["eval"]["accuracy"] > 0.7 for r in runs)  # the sum of four numbers is learnable
    assert all(len(r.result["eval_items"]["end"]["y_true"]) == 60 for r in runs)
    a = analyse(store, exp_id)
    assert a.metric == "accuracy" and set(a.summary["strategy"]) == {"scratch"}
    assert a.recommendation is not None and a.recommendation.sizes, "the one decision is made for the toy kind too"
    assert a.verdict, "and rendered in words"
