"""capture_model on the fixture models, in both modes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fixtures import models
from quantplan.compiler.capture import (
    capture_model,
    describe_inputs,
    dynamic_shapes_from_signature,
    inputs_from_signature,
)
from quantplan.compiler.capture.eager import EagerOpNamer
from quantplan.compiler.capture.op_types import canonical_op_type
from quantplan.errors import PlanError

MODES = ("graph", "eager")


def _ops(model_and_inputs, mode):
    model, inputs = model_and_inputs
    return {op.name: op for op in capture_model(model, inputs, mode=mode).graph.ops}


def test_sequential_graph_op_names():
    graph = capture_model(*models.make_sequential()).graph
    assert [(op.name, op.type, op.module) for op in graph.ops] == [
        ("linear", "linear", "0"),
        ("relu", "relu", "1"),
        ("linear_1", "linear", "2"),
    ]


def test_sequential_eager_op_names():
    model, inputs = models.make_sequential()
    graph = capture_model(model, inputs, mode="eager").graph
    assert [op.name for op in graph.ops] == ["0.linear", "1.relu", "2.linear"]


def test_tiny_net_embedding_has_no_activation_input():
    for mode in MODES:
        ops = list(_ops(models.make_tiny_net(), mode).values())
        assert ops[0].type == "embedding"
        assert ops[0].inputs == ()
        assert ops[0].params[0].layout == "vocab_dim"


def test_root_ops_have_no_prefix_in_eager_mode():
    ops = _ops(models.make_softmax_cat(), "eager")
    assert list(ops) == ["proj.linear", "cat", "softmax"]
    assert ops["cat"].module == ""
    assert ops["cat"].module_type == "fixtures.models.basic.SoftmaxCat"


@pytest.mark.parametrize("mode", MODES)
def test_cat_counts_list_elements(mode):
    ops = _ops(models.make_softmax_cat(), mode)
    cat = ops["cat"]
    assert [tensor.shape for tensor in cat.inputs] == [(2, 8), (2, 4)]
    assert cat.input_producers[0] == ("linear" if mode == "graph" else "proj.linear")
    assert cat.input_producers[1] is None


@pytest.mark.parametrize("mode", MODES)
def test_module_paths_equal_named_modules(mode):
    model, inputs = models.make_conv_net()
    graph = capture_model(model, inputs, mode=mode).graph
    names = {name for name, _ in model.named_modules()}
    for op in graph.ops:
        assert op.module in names
        assert all(path in names for path, _ in op.module_stack)
    assert {module.path for module in graph.modules} == names - {""}


@pytest.mark.parametrize("mode", MODES)
def test_conv_net_layouts(mode):
    ops = list(_ops(models.make_conv_net(), mode).values())
    layouts = {op.type: op.params[0].layout for op in ops if op.params}
    assert layouts["conv2d"] == "out_in"
    assert layouts["conv_transpose2d"] == "in_out_conv_transpose"
    assert layouts["embedding"] == "vocab_dim"


@pytest.mark.parametrize("mode", MODES)
def test_conv1d_addmm_is_linear_in_out(mode):
    ops = [op for op in _ops(models.make_conv1d_net(), mode).values() if op.params]
    assert [op.type for op in ops] == ["linear", "linear"]
    weight = next(use for use in ops[0].params if use.role == "weight")
    assert (weight.path, weight.layout, weight.view) == ("c_fc.weight", "in_out", None)


@pytest.mark.parametrize("mode", MODES)
def test_raw_parameter_f_linear(mode):
    ops = [op for op in _ops(models.make_raw_param_linear(), mode).values() if op.params]
    gate = ops[-1].params[0]
    assert ops[-1].type == "linear"
    assert (gate.local_name, gate.path, gate.role, gate.layout) == (
        "gate",
        "gate",
        "weight",
        "out_in",
    )


@pytest.mark.parametrize("mode", MODES)
def test_tied_embeddings_aliases(mode):
    model, inputs = models.make_tied_embeddings()
    graph = capture_model(model, inputs, mode=mode).graph
    tied = next(info for info in graph.parameters if info.path == "embed.weight")
    assert tied.aliases == ("embed.weight", "lm_head.weight")
    uses = [use.path for op in graph.ops for use in op.params if use.role == "weight"]
    assert uses == ["embed.weight", "body.weight", "lm_head.weight"]


@pytest.mark.parametrize("mode", MODES)
def test_mha_in_proj_weight_through_split(mode):
    ops = [op for op in _ops(models.make_mha_net(), mode).values() if op.type == "linear"]
    assert len(ops) == 3
    for op in ops[:2]:
        weight = op.params[0]
        assert (weight.local_name, weight.role, weight.view) == (
            "in_proj_weight",
            "weight",
            "split",
        )
    assert ops[2].params[0].path == "attn.out_proj.weight"


@pytest.mark.parametrize("mode", MODES)
def test_reused_module_call_sites(mode):
    model, inputs = models.make_reused_module()
    graph = capture_model(model, inputs, mode=mode).graph
    linears = [op for op in graph.ops if op.type == "linear"]
    assert [op.call_site for op in linears] == [0, 1]
    assert [op.module for op in linears] == ["fc", "fc"]
    assert len({op.name for op in linears}) == 2
    calls = [call for call in graph.module_calls if call.path == "fc"]
    assert [(call.call_site, call.first_op) for call in calls] == [
        (0, linears[0].name),
        (1, linears[1].name),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_experts_bmm_weight(mode):
    ops = _ops(models.make_experts_net(), mode)
    bmm = next(op for op in ops.values() if op.type == "bmm")
    use = bmm.params[0]
    assert (use.local_name, use.role, use.layout, use.view) == (
        "experts",
        "weight",
        "out_in",
        "transpose",
    )
    assert len(bmm.inputs) == 1


def test_module_call_keyword_argument_position():
    class Block(nn.Module):
        def forward(self, x, mask=None, scale=None):
            return x * scale

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return self.block(x, scale=torch.ones(3))

    for mode in MODES:
        graph = capture_model(Outer(), (torch.randn(2, 3),), mode=mode).graph
        call = graph.module_calls[0]
        assert [position for position, _ in call.inputs] == [0, 2]


def test_training_flag_restored():
    model, inputs = models.make_mlp()
    model.train()
    for mode in MODES:
        capture_model(model, inputs, mode=mode)
        assert model.training


@pytest.mark.parametrize("mode", MODES)
def test_meta_model_allocates_nothing(mode):
    with torch.device("meta"):
        model = models.TinyNet()
    graph = capture_model(model, (torch.zeros(2, 7, dtype=torch.long),), mode=mode).graph
    assert all(parameter.is_meta for parameter in model.parameters())
    assert graph.ops[-1].outputs[0].shape == (2, 7, 100)


def test_inputs_signature_round_trip():
    signature = describe_inputs((torch.zeros(2, 7, dtype=torch.int64),))
    assert signature == {
        "args": [{"shape": [2, 7], "dtype": "int64"}],
        "kwargs": {},
        "dynamic_shapes": None,
    }
    rebuilt = inputs_from_signature(signature)
    assert rebuilt[0].dtype == torch.int64
    assert rebuilt[0].shape == (2, 7)


def test_dynamic_shapes_signature_round_trip():
    batch = torch.export.Dim("batch", min=1)
    signature = describe_inputs((torch.zeros(2, 3),), {"x": {0: batch}})
    assert signature["dynamic_shapes"] == {
        "mapping": {"x": {"dims": {"0": {"dim": "batch", "min": 1, "max": None}}}}
    }
    rebuilt = dynamic_shapes_from_signature(signature)
    assert list(rebuilt["x"]) == [0]


def test_dynamic_batch_gives_symbolic_shape():
    model, inputs = models.make_mlp()
    dims = {"x": {0: torch.export.Dim("batch", min=2)}}
    graph = capture_model(model, inputs, dynamic_shapes=dims).graph
    assert isinstance(graph.ops[0].inputs[0].shape[0], str)
    assert graph.capture.method == "torch.export(strict=False)"


def test_strict_export_records_module_calls():
    model, inputs = models.make_mlp()
    graph = capture_model(model, inputs, strict=True).graph
    assert graph.capture.method == "torch.export(strict=True)"
    assert [call.path for call in graph.module_calls] == ["mlp", "mlp.0", "mlp.1", "mlp.2"]


def test_invalid_mode_message():
    model, inputs = models.make_mlp()
    with pytest.raises(PlanError) as caught:
        capture_model(model, inputs, mode="trace")
    assert (
        str(caught.value) == "<root>: capture mode 'trace' is invalid; expected one of graph, eager"
    )


def test_eager_namer_counts_per_module_and_base():
    namer = EagerOpNamer()
    names = [
        namer.name(path, base)
        for path, base in [("a", "add"), ("a", "add"), ("b", "add"), ("", "add")]
    ]
    assert names == ["a.add", "a.add_1", "b.add", "add"]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("concat", "cat"),
        ("concatenate", "cat"),
        ("add_", "add"),
        ("__radd__", "add"),
        ("__matmul__", "matmul"),
    ],
)
def test_op_type_aliases(spelling, canonical):
    assert canonical_op_type(spelling) == canonical


def test_eager_add_operator_is_add():
    class TwoAdd(nn.Module):
        def forward(self, x):
            a = x + x
            return a + a

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.submodule_a = TwoAdd()
            self.submodule_b = TwoAdd()

        def forward(self, x):
            return self.submodule_b(self.submodule_a(x))

    graph = capture_model(Model(), (torch.randn(2),), mode="eager").graph
    assert [op.name for op in graph.ops] == [
        "submodule_a.add",
        "submodule_a.add_1",
        "submodule_b.add",
        "submodule_b.add_1",
    ]
