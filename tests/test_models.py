"""Base models: the offline built-in, hub ids through the network edge, local dirs, no remote code."""
import shutil

import pytest
import torch
from safetensors.torch import load_file

from training.config import ModelConfig
from training.core.models import find_blocks, resolve_base
from training.errors import ConfigError
from training.tasks import build_task_model


def test_builtin_minilm_loads_the_real_weights_offline(minilm_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_task_model("text-classification", minilm_dir, pretrained=True, num_labels=3,
                             cfg=ModelConfig(), seed=0)
    shipped = load_file(str(minilm_dir / "model.safetensors"))
    w = shipped["encoder.layer.0.attention.self.query.weight"]
    assert torch.equal(model.backbone.encoder.layer[0].attention.self.query.weight, w)
    assert len(find_blocks(model.backbone)) == 6


def test_minilm_dir_can_be_pointed_at_a_local_copy(tmp_path, minilm_dir, monkeypatch):
    copy = tmp_path / "minilm"
    shutil.copytree(minilm_dir, copy)
    monkeypatch.setenv("HEADSTART_MINILM_DIR", str(copy))
    assert resolve_base("builtin:minilm-l6") == copy


@pytest.mark.parametrize("init", ["default", "xavier", "he"])
def test_scratch_is_the_same_architecture_with_fresh_weights(minilm_dir, init):
    pre = build_task_model("text-classification", minilm_dir, pretrained=True, num_labels=3, cfg=ModelConfig(), seed=0)
    scratch = build_task_model("text-classification", minilm_dir, pretrained=False, num_labels=3,
                               cfg=ModelConfig(init=init), seed=0)
    a, b = dict(pre.named_parameters()), dict(scratch.named_parameters())
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    q = "backbone.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(a[q], b[q])
    std = b[q].std().item()
    expected = {"default": 0.02, "xavier": (2 / (384 + 384)) ** 0.5, "he": (2 / 384) ** 0.5}[init]
    assert abs(std - expected) / expected < 0.1


def test_hub_model_goes_through_the_snapshot_edge(monkeypatch, tiny_bert_dir):
    seen = []
    def fake_snapshot(repo_id, repo_type):
        seen.append((repo_id, repo_type))
        return str(tiny_bert_dir)

    monkeypatch.setattr("training.core.data.sources.hf_snapshot", fake_snapshot)
    assert resolve_base("hf:someone/tiny-bert") == tiny_bert_dir
    assert seen == [("someone/tiny-bert", "model")]


def test_bad_model_names(tmp_path):
    with pytest.raises(ConfigError, match="unknown built-in model 'gpt5'"):
        resolve_base("builtin:gpt5")
    with pytest.raises(ConfigError, match="not builtin:minilm-l6, hf:ORG/NAME or an existing directory"):
        resolve_base(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="has no config.json"):
        resolve_base(str(tmp_path))
