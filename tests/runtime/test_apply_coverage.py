"""Every non-null plan entry is served by exactly one quantizer, in both execution modes."""

from __future__ import annotations

import pytest
import torch

import fixtures.models as models
import quantplan
from quantplan.compiler import compile_plan
from quantplan.quantization.config import QuantizerConfig
from quantplan.runtime.calibrate import run_batch
from quantplan.runtime.fake import fake_quantizers, non_null_entries

FACTORIES = [
    models.make_tiny_net,
    models.make_mlp,
    models.make_sequential,
    models.make_conv_net,
    models.make_reused_module,
    models.make_softmax_cat,
    models.make_mha_net,
    models.make_conv1d_net,
    models.make_raw_param_linear,
    models.make_tied_embeddings,
]
MODES = ["graph", "eager"]


def _prepare(factory, mode, config=None):
    torch.manual_seed(0)
    model, example_inputs = factory()
    model.eval()
    plan = compile_plan(model, example_inputs, config or QuantizerConfig(), execution_mode=mode)
    prepared = quantplan.apply_plan(model, plan, example_inputs=example_inputs)
    run_batch(prepared, example_inputs)
    return plan, prepared


def _served(prepared) -> dict[str, list[str]]:
    served: dict[str, list[str]] = {}
    for quantizer in fake_quantizers(prepared):
        for entry in quantizer.entries:
            served.setdefault(entry, []).append(quantizer.key)
    return served


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
def test_each_entry_served_once(factory, mode):
    plan, prepared = _prepare(factory, mode)
    served = _served(prepared)
    expected = set(non_null_entries(plan))

    assert expected, "the default config quantizes something in every fixture"
    assert set(served) == expected
    assert {entry: keys for entry, keys in served.items() if len(keys) != 1} == {}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
def test_each_quantizer_serves_entry(factory, mode):
    _, prepared = _prepare(factory, mode)

    for quantizer in fake_quantizers(prepared):
        assert quantizer.entries, quantizer.key


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
def test_sharing_only_edges_and_storage(factory, mode):
    plan, prepared = _prepare(factory, mode)
    specs = {}
    for op, group, key, entry in plan.entries():
        specs[f"ops/{op.name}/{group}/{key}"] = entry

    for quantizer in fake_quantizers(prepared):
        if len(quantizer.entries) == 1:
            continue
        entries = [specs[entry] for entry in quantizer.entries]
        assert len({entry.spec for entry in entries}) == 1, quantizer.key
        if quantizer.role == "weight":
            assert all("/state/" in entry for entry in quantizer.entries)
        else:
            outputs = [entry for entry in quantizer.entries if "/outputs/" in entry]
            assert outputs == [quantizer.entries[0]], quantizer.entries


def test_tied_weight_has_one_quantizer():
    _, prepared = _prepare(models.make_tied_embeddings, "graph")
    weights = [quantizer for quantizer in fake_quantizers(prepared) if quantizer.role == "weight"]

    assert sorted(quantizer.key for quantizer in weights) == [
        "params/body.weight",
        "params/embed.weight",
    ]


def _transformer(name: str):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if name == "gpt2":
        config = transformers.GPT2Config(
            n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=32
        )
        model = transformers.GPT2LMHeadModel(config)
    elif name == "llama":
        config = transformers.LlamaConfig(
            num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
            num_key_value_heads=2, vocab_size=100, max_position_embeddings=32,
        )  # fmt: skip
        model = transformers.LlamaForCausalLM(config)
    else:
        config = transformers.BertConfig(
            num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
            vocab_size=100, max_position_embeddings=32,
        )  # fmt: skip
        model = transformers.BertModel(config)
    model.config.use_cache = False
    model.eval()
    ids = torch.randint(0, 100, (1, 8))
    return model, (ids,)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
def test_transformer_entries_served_once(name, mode):
    model, example_inputs = _transformer(name)
    plan = compile_plan(model, example_inputs, QuantizerConfig(), execution_mode=mode)
    prepared = quantplan.apply_plan(model, plan, example_inputs=example_inputs)
    run_batch(prepared, example_inputs)
    served = _served(prepared)

    assert set(served) == set(non_null_entries(plan))
    assert {entry: keys for entry, keys in served.items() if len(keys) != 1} == {}
    assert all(quantizer.entries for quantizer in fake_quantizers(prepared))
