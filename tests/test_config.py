"""The experiment config: defaults, validation with actionable messages, YAML/JSON round trips."""
import dataclasses
import re

import pytest

from training import config as C
from training.config import ExperimentConfig, StrategyConfig, field_docs
from training.errors import ConfigError
from training.presets import PRESETS, get_preset


def test_every_field_has_a_docstring():
    for cls in (C.DataConfig, C.ModelConfig, C.StrategyConfig, C.BudgetConfig, C.OptimConfig, C.TrainConfig,
                C.ProbeConfig, C.SpeedConfig, C.PretrainConfig, C.ExperimentConfig):
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, f"{cls.__name__} fields without a docstring: {missing}"


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_presets_round_trip_through_files(tmp_path, name, suffix):
    cfg = get_preset(name)
    path = tmp_path / f"cfg{suffix}"
    cfg.save(path)
    assert ExperimentConfig.load(path) == cfg


def test_strategies_accept_plain_names_and_overrides():
    cfg = ExperimentConfig.from_dict({"name": "x", "strategies": ["scratch", {"name": "lora", "lr": "1e-3",
                                                                             "options": {"r": 4}}]})
    assert cfg.strategies == [StrategyConfig("scratch"), StrategyConfig("lora", lr=1e-3, options={"r": 4})]


@pytest.mark.parametrize("patch, message", [
    ({"sizes": [0]}, "must be a positive integer"),
    ({"sizes": [-5]}, "must be a positive integer"),
    ({"sizes": ["lots"]}, "use positive integers or 'all'"),
    ({"sizes": []}, "at least one training-set size"),
    ({"sizes": [100, 100]}, "listed twice"),
    ({"seeds": []}, "seeds must be"),
    ({"strategies": []}, "at least one strategy"),
    ({"strategies": ["full", "full"]}, "strategy listed twice: full"),
    ({"data": {"eval_fraction": 1.5}}, "eval_fraction must be between 0 and 1"),
    ({"optim": {"name": "lion"}}, "optim.name must be one of adamw, adam, sgd, rmsprop, adagrad"),
    ({"train": {"batch_size": 32, "micro_batch_size": 5}}, "must divide"),
    ({"budget": {"policy": "vibes"}}, "budget.policy must be one of"),
    ({"model": {"init": "orthogonal"}}, "model.init must be default, xavier or he"),
    ({"lr": 0.1}, "unknown field 'lr' in config; fields are: name, task"),
    ({"optim": {"learning_rate": 1}}, "unknown field 'learning_rate' in config.optim"),
    ({"model": {"base": "pretrain"}}, "hybrid path needs both"),
    ({"probes": [{"kind": "knn"}]}, "knn probe needs a labelled `source`"),
    ({"budget": {"epochs": float("inf")}}, "budget.epochs must be a positive number"),
    ({"budget": {"plateau_cap": 0.5}}, "budget.plateau_cap must be a number ≥ 1"),
    ({"budget": {"patience": 0}}, "budget.patience must be at least 1"),
    ({"strategies": [{"name": "scratch", "budget_multiplier": float("inf")}]}, "budget_multiplier must be a positive number"),
    ({"strategies": [{"name": "scratch", "lr": float("nan")}]}, "lr must be a positive number"),
    ({"data": {"validation_fraction": 0}}, "validation_fraction must be between 0 and 1"),
    ({"lr_sweep": {"size": 0}}, "lr_sweep.size must be a positive integer or 'all'"),
])
def test_bad_values_name_the_fix(patch, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExperimentConfig.from_dict({"name": "x", **patch})


def test_the_task_kind_refuses_an_unknown_task_and_a_hybrid_it_cannot_take_where_work_starts():
    """The config names a task; its kind (the registry in `training.tasks`) decides — planning calls `checked`."""
    from training.tasks import checked

    with pytest.raises(ConfigError, match="unknown task 'translation'; choose one of: text-classification, causal-lm"):
        checked(ExperimentConfig.from_dict({"name": "x", "task": "translation"}))
    hybrid = {"name": "x", "model": {"base": "pretrain"}, "pretrain": {"data": {"source": "builtin:python-stdlib"}}}
    with pytest.raises(ConfigError, match="the pretrain \\(hybrid\\) path is for task causal-lm"):
        checked(ExperimentConfig.from_dict({**hybrid, "task": "chat"}))
    assert checked(ExperimentConfig.from_dict({**hybrid, "task": "causal-lm"})).name == "causal-lm"


def test_all_size_resolves_to_pool():
    cfg = ExperimentConfig(name="x", sizes=[1000, "all", 100])
    assert cfg.resolved_sizes(500) == [100, 500, 1000]


def test_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ExperimentConfig.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ExperimentConfig.load(bad)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'quik'; presets are: quick"):
        get_preset("quik")


def test_config_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, training.config, training.presets, training.core.strategies; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_presets_give_curves_and_seeds():
    """Every preset evaluates at least 4 times per run (curves, not dots; the overfitting check needs them), and
    every preset but the CPU demos of a question (the 3-minute quick demo; chatbot-quick, a 135M-parameter chat model
    on 2 CPU cores, whose full question is `chatbot`) runs 3 seeds for 95% intervals."""
    from training.presets import PRESETS

    for name, make in PRESETS.items():
        cfg = make()
        assert cfg.train.evals_per_run >= 4, name
        assert len(cfg.seeds) >= (1 if name in ("quick", "chatbot-quick") else 3), name
        assert cfg.lr_sweep is not None or all(s.lr is not None for s in cfg.strategies), name


def test_every_setting_is_read_in_one_place_checked_and_in_the_readme(monkeypatch):
    from pathlib import Path

    from training.errors import ConfigError
    from training.settings import load_settings, variables

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name, _ in variables())
    with pytest.raises(ConfigError, match="HEADSTART_UPLOAD_MAX_MB must be a whole number, got 'ten'"):
        load_settings({"HEADSTART_UPLOAD_MAX_MB": "ten"})
    with pytest.raises(ConfigError, match="HEADSTART_MODE must be one of local, team, demo"):
        load_settings({"HEADSTART_MODE": "open"})
    assert load_settings({"HEADSTART_MODE": "demo"}).upload_max_mb == 10
    root = Path(__file__).resolve().parents[1]
    code = [p for d in ("training", "ui", "pages") for p in (root / d).rglob("*.py") if p.name != "settings.py"]
    readers = [str(p.relative_to(root)) for p in code
               if any("environ" in line and "HEADSTART_" in line for line in p.read_text(encoding="utf-8").splitlines())]
    assert readers == []  # no module reads a HEADSTART_ variable itself


def test_no_import_cycle_in_training():
    """Imports between training's modules form no cycle — module-level ones and those deferred inside functions
    alike (deferring keeps torch out of the app, it does not excuse a circle): dependencies point one way."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "training"

    def module(path: Path) -> str:
        parts = path.relative_to(root.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    graph = {}
    for path in root.rglob("*.py"):
        name, package = module(path), module(path) if path.name == "__init__.py" else module(path).rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # deferred imports too
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "training":
                target = node.module
            else:
                continue
            deps |= {f"{target}.{a.name}" for a in node.names} | {target}
        graph[name] = deps
    graph = {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}
    done, stack = set(), []

    def visit(n):
        assert n not in stack, " → ".join(stack[stack.index(n):] + [n])
        if n in done:
            return
        stack.append(n)
        for d in graph[n]:
            visit(d)
        stack.pop()
        done.add(n)

    for n in graph:
        visit(n)


def test_the_folders_are_layers():
    """training/core (data, models, strategies, loop) imports nothing of training/tasks, training/service or
    training/analysis; training/tasks (the kinds) nothing of training/service or training/analysis; training/service
    nothing of training/analysis; the UI (app.py, pages/, ui/) never imports core training modules that pull in
    torch. Deferred imports count: deferring keeps torch out of the app, it does not excuse a layer."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def top_imports(path: Path) -> set[str]:
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
        return out

    rules = [("training/core", ("training.tasks", "training.service", "training.analysis")),
             ("training/tasks", ("training.service", "training.analysis")), ("training/service", ("training.analysis",))]
    offenders = [f"{p.relative_to(root)} imports {m}" for folder, banned in rules for p in (root / folder).rglob("*.py")
                 for m in top_imports(p) if m.startswith(banned)]
    assert not offenders, offenders


def test_suggested_sizes_fit_the_file():
    """Issue 27, item 4: "100, 1000, all" failed on small files; an upload's sizes now come from its row count."""
    from training.config import DataConfig, pool_estimate, suggested_sizes

    d = DataConfig(source="x.csv")
    assert pool_estimate(1000, d) == 720 and pool_estimate(100_000, d) == 98_500  # eval capped at 1,000, validation 500
    assert suggested_sizes(100_000, d) == [1000, 10_000, "all"]
    assert suggested_sizes(5000, d) == [100, 1000, "all"]
    assert suggested_sizes(1000, d) == [100, "all"]
    assert suggested_sizes(400, d) == [72, "all"]  # a pool of 288: a quarter of it, then all
    assert suggested_sizes(40, d) == ["all"]
    assert pool_estimate(1000, DataConfig(source="x.csv", eval_source="test.csv")) == 900  # nothing held out for eval


@pytest.mark.parametrize("text, says", [
    ("name: x\nname: y\n", "key 'name' is given twice (line 2)"),
    ("name: x\nspeed: {num_threads: 1000000000}\n", "speed.num_threads must be from 1 to 1024"),
    ("name: x\noptim: {weight_decay: .inf}\n", "optim.weight_decay must be a number from 0 to 10, got inf"),
    ("name: x\nstrategies: [{name: full, weight_decay: .nan}]\n", "strategy full: weight_decay must be a number"),
    ("name: x\nspeed: {device: 'cuda:abc'}\n", "speed.device must be auto, cpu, cuda or cuda:N"),
    ("name: x\ntrain: {batch_size: 1000000000000000000000}\n", "train.batch_size must be from 1 to 1,000,000"),
    ("name: x\nbudget: {policy: steps, steps: 100000000000}\n", "budget.steps must be from 1 to 10,000,000"),
    ("name: x\nlr_sweep: {lrs: {fulll: [0.001]}}\n", "lr_sweep.lrs names fulll, which is not among the strategies"),
    ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
])
def test_a_config_out_of_bounds_or_malformed_is_refused_in_words(text, says):
    """Issue 28, items 8 and 9: silent accepts (10⁹ threads, weight decay inf, rates for an unknown strategy, duplicate
    keys) and tracebacks (deep nesting, a bad device, a batch that overflowed SQLite) become messages."""
    from training.config import ExperimentConfig
    from training.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(says)):
        ExperimentConfig.from_text(text, "my.yaml")


def test_unreadable_config_files_are_named(tmp_path):
    from training.config import ExperimentConfig
    from training.errors import ConfigError

    (tmp_path / "u16.yaml").write_text("name: x\n", encoding="utf-16")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01binary")
    for name, says in (("u16.yaml", "is not UTF-8 text"), ("folder.yaml", "is a folder"), ("bin.yaml", "is not valid YAML")):
        with pytest.raises(ConfigError, match=says):
            ExperimentConfig.load(tmp_path / name)


def test_the_same_text_and_label_column_is_refused_where_work_starts():
    """Issue 28, item 8: the page refused it, the CLI accepted it; the text kind refuses it when a plan starts."""
    from training.config import ExperimentConfig
    from training.errors import ConfigError
    from training.tasks import checked

    cfg = ExperimentConfig.from_text("name: x\ndata: {source: a.csv, text_column: t, label_column: t}\n")
    with pytest.raises(ConfigError, match="the model would be given the answer"):
        checked(cfg)
