"""Built-in experiments that run offline. `python -m training presets` lists them.

Text (see README "Built-in data"): `builtin:stdlib-docstrings` — docstrings of Python's standard
library labelled by Library Reference chapter; `builtin:tweet-sentiment` — 37k human-labelled tweets
(negative / neutral / positive); reference text for the forgetting probe — NumPy and pandas docstrings;
causal-LM corpora — the standard library's source (A) and pandas' source (B). Images: `builtin:mnist-5k` — 5,000
MNIST digits; `builtin:digits-8x8` — scikit-learn's digits; `builtin:lfw-faces` — the image forgetting probe.
"""
from __future__ import annotations

from training.config import (
    BudgetConfig,
    DataConfig,
    ExperimentConfig,
    LRSweepConfig,
    ModelConfig,
    PretrainConfig,
    ProbeConfig,
    SpeedConfig,
    StrategyConfig,
    TrainConfig,
)
from training.errors import ConfigError

S = StrategyConfig


def quick() -> ExperimentConfig:
    """The smallest honest version of `docstrings`: 5 strategies × 2 sizes × 1 seed, ≤ 3 min on 2 CPU cores — the
    controlled scratch and the practitioner's own model beside three fine-tuning strategies. Its learning-rate search
    ships with the app (no search runs), both from-scratch models train until they stop improving, and the majority
    class and TF-IDF references run beside it."""
    return ExperimentConfig(
        name="quick",
        task="text-classification",
        data=DataConfig(source="builtin:stdlib-docstrings", eval_max=200, validation_max=150),
        model=ModelConfig(base="builtin:minilm-l6", max_length=32),  # the summary line carries the topic
        strategies=[S("scratch"), S("own"), S("full"), S("lora"), S("head")],
        sizes=[64, 200],
        seeds=[0],
        budget=BudgetConfig(policy="epochs", epochs=2, min_steps=20),
        train=TrainConfig(batch_size=16, evals_per_run=4, eval_at_start=False),
        probes=[ProbeConfig(kind="retrieval", max_examples=100)],
        # A wider grid than the default: its search is run once and shipped (bench/store_lr_search.py), so it
        # costs the demo nothing, and a 3-rate grid put every fine-tuned strategy's choice on its edge.
        lr_sweep=LRSweepConfig(factors=[1 / 9, 1 / 3, 1.0, 3.0, 9.0]),
    )


def sentiment_cpu() -> ExperimentConfig:
    """The sentiment question at CPU size: quick's 5 strategies × 2 sizes on `builtin:tweet-sentiment`, 3 seeds. With
    one seed it was measured as a candidate quick demo (212 s on 2 CPU cores, over the 3-minute target, and one
    seed told no two strategies apart: LOG.md, 2026-11-24); its learning-rate search ships with the app."""
    cfg = quick()
    cfg.name = "sentiment-cpu"
    cfg.seeds = [0, 1, 2]
    cfg.data = DataConfig(source="builtin:tweet-sentiment", eval_max=200, validation_max=150)
    cfg.model = ModelConfig(base="builtin:minilm-l6", max_length=48)  # tweets: median ≈ 25 tokens
    return cfg


def docstrings() -> ExperimentConfig:
    """The text-classification preset: 4 strategies × 4 sizes × 3 seeds on stdlib docstrings, MiniLM."""
    return ExperimentConfig(
        name="docstrings",
        task="text-classification",
        data=DataConfig(source="builtin:stdlib-docstrings", eval_max=1000),
        model=ModelConfig(base="builtin:minilm-l6", max_length=64),  # median docstring ≈ 35 tokens
        strategies=[S("scratch"), S("full"), S("lora"), S("head")],
        sizes=[100, 300, 1000, "all"],
        seeds=[0, 1, 2],
        budget=BudgetConfig(policy="epochs", epochs=3, min_steps=50),
        train=TrainConfig(batch_size=32, evals_per_run=5),
        probes=[ProbeConfig(kind="retrieval", max_examples=400)],
    )


def sentiment() -> ExperimentConfig:
    """The seeds' own question — "fine-tune a pretrained BERT for our sentiment classifier, or train our own?" — on
    37k real human-labelled tweets: MiniLM (a small BERT), scratch / full / LoRA / head / LP-FT, N from 100 to every
    training tweet, 3 seeds, every fairness default."""
    return ExperimentConfig(
        name="sentiment",
        task="text-classification",
        data=DataConfig(source="builtin:tweet-sentiment", eval_max=1000),
        model=ModelConfig(base="builtin:minilm-l6", max_length=64),  # tweets: median ≈ 25 tokens, 99% under 64
        strategies=[S("scratch"), S("full"), S("lora"), S("head"), S("lp-ft")],
        sizes=[100, 1000, 3000, "all"],
        seeds=[0, 1, 2],
        budget=BudgetConfig(policy="epochs", epochs=3, min_steps=50),
        train=TrainConfig(batch_size=32, evals_per_run=5),
        probes=[ProbeConfig(kind="retrieval", max_examples=400)],
    )


def images() -> ExperimentConfig:
    """The seeds' "start our image classifier from an ImageNet network?" question with what installs offline — no
    product photos ship in any package, so these are 5,000 handwritten MNIST digits (28×28, shown at 48×48):
    ImageNet EfficientNet-Lite0, scratch / full / LoRA / head / LP-FT, N from 100 to every training image,
    3 seeds; forgetting = the features' 5-NN accuracy on faces vs non-faces, a visual skill MNIST never trains."""
    return ExperimentConfig(
        name="images",
        task="image-classification",
        data=DataConfig(source="builtin:mnist-5k", eval_max=1000),
        model=ModelConfig(base="builtin:efficientnet-lite0", image_size=48),
        strategies=[S("scratch"), S("full"), S("lora"), S("head"), S("lp-ft")],
        sizes=[100, 1000, "all"],
        seeds=[0, 1, 2],
        budget=BudgetConfig(policy="epochs", epochs=3, min_steps=50),
        # the probe is one forward pass over 200 small images: cheap enough to draw forgetting during training
        train=TrainConfig(batch_size=32, evals_per_run=5, probe_every_eval=True),
        probes=[ProbeConfig(kind="auto", max_examples=200)],
    )


def images_cpu() -> ExperimentConfig:
    """`images` at CPU size: 4 strategies × 2 sizes × 3 seeds on the MNIST digits at 32×32 pixels (under half the
    preset's pixels: the ImageNet features transfer less at this size — LOG.md measures both)."""
    cfg = images()
    cfg.name = "images-cpu"
    cfg.data = DataConfig(source="builtin:mnist-5k", eval_max=500, validation_max=200)
    cfg.model = ModelConfig(base="builtin:efficientnet-lite0", image_size=32)
    cfg.strategies = [S("scratch"), S("full"), S("lora"), S("head")]
    cfg.sizes = [100, 500]
    cfg.budget = BudgetConfig(policy="epochs", epochs=2, min_steps=20)
    cfg.train = TrainConfig(batch_size=16, evals_per_run=4, probe_every_eval=True)
    return cfg


def all_strategies() -> ExperimentConfig:
    """Every strategy that runs on CPU, two sizes, three seeds — a tour of the tradeoffs."""
    cfg = docstrings()
    cfg.name = "all-strategies"
    cfg.strategies = [S(n) for n in ("scratch", "full", "lora", "head", "freeze", "discriminative", "lp-ft")]
    cfg.sizes = [300, "all"]
    return cfg


def hybrid_code() -> ExperimentConfig:
    """Causal-LM hybrid: pre-train a small GPT on stdlib source (A), then scratch vs full vs LoRA on
    pandas source (B); forgetting = perplexity on held-out stdlib files."""
    return ExperimentConfig(
        name="hybrid-code",
        task="causal-lm",
        data=DataConfig(source="builtin:pandas-source", eval_max=200),
        model=ModelConfig(base="pretrain", max_length=128),
        strategies=[S("scratch", lr=1e-3), S("full", lr=3e-4), S("lora", lr=2e-3)],
        sizes=[100, 400, 1600],
        seeds=[0, 1, 2],
        budget=BudgetConfig(policy="epochs", epochs=2, min_steps=40),
        train=TrainConfig(batch_size=16, evals_per_run=4),
        probes=[ProbeConfig(kind="auto", max_examples=200)],
        pretrain=PretrainConfig(data=DataConfig(source="builtin:python-stdlib", eval_max=300), vocab_size=4096,
                                n_layer=4, n_embd=128, n_head=4, steps=800, lr=1e-3),
    )


def chatbot() -> ExperimentConfig:
    """The seeds' "fine-tune an open LLaMA-family chat model on our support conversations — with LoRA or fully, and
    what does it forget?" question, GPU-sized: SmolLM2-135M-Instruct (LLaMA architecture) on 118 technical-help
    conversations (chatterbot-corpus: coding, computers, tech support), scratch / full / LoRA / freeze at N = 25, 50
    and all, 3 seeds; answers side by side; forgetting = perplexity on 18 general topics and general prompts'
    answers, at every evaluation."""
    return ExperimentConfig(
        name="chatbot",
        task="chat",
        data=DataConfig(source="builtin:chatterbot-tech", eval_max=24, validation_max=12),
        model=ModelConfig(base="builtin:smollm2-135m-instruct", max_length=192),
        strategies=[S("scratch"), S("full"), S("lora"), S("freeze")],
        sizes=[25, 50, "all"],
        seeds=[0, 1, 2],
        budget=BudgetConfig(policy="epochs", epochs=3, min_steps=20),
        train=TrainConfig(batch_size=8, evals_per_run=5, probe_every_eval=True, generations=6),
        probes=[ProbeConfig(kind="auto", max_examples=400)],
    )


def chatbot_quick() -> ExperimentConfig:
    """`chatbot` at CPU size: scratch / full / LoRA at N = 20 and all (≈85 conversations), one seed, rows of 128
    tokens, 2 epochs (scratch until a plateau, at most 2× that); its learning-rate search ships with the app. It shows
    the answers side by side and the forgetting check, not a conclusion (one seed)."""
    cfg = chatbot()
    cfg.name = "chatbot-quick"
    cfg.model = ModelConfig(base="builtin:smollm2-135m-instruct", max_length=128)
    cfg.strategies = [S("scratch"), S("full"), S("lora")]
    cfg.sizes = [20, "all"]
    cfg.seeds = [0]
    cfg.budget = BudgetConfig(policy="epochs", epochs=2, min_steps=10, plateau_cap=2.0)
    cfg.train = TrainConfig(batch_size=4, evals_per_run=4, generations=4, generation_tokens=32)
    cfg.probes = [ProbeConfig(kind="auto", max_examples=100)]
    cfg.lr_sweep = LRSweepConfig(size=40)  # 9 search runs of 20 steps; shipped (bench/store_lr_search.py)
    return cfg


def tabular() -> ExperimentConfig:
    """The seeds' "we have tabular product data and no pretrained model: is a neural net trained from scratch worth
    it?" question: 53,940 diamonds (plotnine's package data: carat, cut, colour, clarity, dimensions → price), an
    MLP from scratch against gradient-boosted trees, a linear model and the training mean at N = 100, 1,000,
    10,000 and all, 3 seeds."""
    return ExperimentConfig(
        name="tabular",
        task="tabular-regression",
        data=DataConfig(source="builtin:diamonds", label_column="price", eval_max=2000, validation_max=1000),
        model=ModelConfig(base="builtin:mlp"),
        strategies=[S("scratch")],
        sizes=[100, 1000, 10000, "all"],
        seeds=[0, 1, 2],
        budget=BudgetConfig(policy="epochs", epochs=20, min_steps=100),
        train=TrainConfig(batch_size=128, evals_per_run=10),
        probes=[],
        speed=SpeedConfig(num_threads=1),  # a small MLP: one thread is faster than two shared ones (bench/RESULTS.md)
    )


PRESETS = {"quick": quick, "sentiment-cpu": sentiment_cpu, "images-cpu": images_cpu, "docstrings": docstrings,
           "sentiment": sentiment, "images": images, "all-strategies": all_strategies, "hybrid-code": hybrid_code,
           "chatbot": chatbot, "chatbot-quick": chatbot_quick, "tabular": tabular}


def get_preset(name: str) -> ExperimentConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets are: {', '.join(PRESETS)}")
    return PRESETS[name]()


def describe_presets() -> list[dict]:
    out = []
    for name, fn in PRESETS.items():
        cfg = fn()
        out.append({"name": name, "description": " ".join(fn.__doc__.split()), "task": cfg.task,
                    "model": cfg.model.base, "data": cfg.data.source,
                    "strategies": [s.label for s in cfg.strategies], "sizes": cfg.sizes, "seeds": cfg.seeds})
    return out
