"""The resolution examples of the config documentation and the field cases, as plan checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fixtures.models import basic, weights
from quantplan.compiler import compile_plan
from quantplan.errors import PlanError
from quantplan.quantization import QuantizerConfig
from tests.compiler.test_resolve_rules import (
    INT4_BLOCK,
    INT8_CHANNEL,
    MODES,
    codes,
    config,
    op_in,
    weight_only,
)

INT8_TENSOR = {"dtype": "int8", "granularity": {"type": "per_tensor"}}
LINEAR = "torch.nn.modules.linear.Linear"


def compiled(model, inputs, cfg, mode, **kwargs):
    return compile_plan(model, inputs, cfg, execution_mode=mode, **kwargs)


def weights_of(plan, op_type):
    return [op.state["weight"] for op in plan.ops if op.type == op_type and "weight" in op.state]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "cfg",
    [
        config(global_config={"op_type_config": {"linear": None}}),
        config(module_type_configs={LINEAR: None}),
    ],
)
def test_skip_linear_as_op_or_module(mode, cfg):
    plan = compiled(*basic.make_mlp(), cfg, mode)
    assert all(entry.spec is None for entry in weights_of(plan, "linear"))
    assert op_in(plan, "", "add").outputs[0].spec is not None


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        return torch.softmax(self.proj(x) @ x.transpose(-1, -2), dim=-1)


class SelfAttentionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Attention(), Attention()])

    def forward(self, x):
        return self.layer[1](x) + torch.softmax(self.layer[0](x), dim=-1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("level", ["module_type_configs", "module_name_configs"])
def test_skip_softmax_inside_module(mode, level):
    key = "Attention" if level == "module_type_configs" else "layer.0"
    plan = compiled(
        SelfAttentionNet(),
        (torch.randn(2, 4, 8),),
        config(**{level: {key: {"op_type_config": {"softmax": None}}}}),
        mode,
    )
    softmaxes = {op.module: op.outputs[0].spec for op in plan.ops if op.type == "softmax"}
    assert softmaxes["layer.0"] is None
    assert softmaxes[""] is not None
    if level == "module_name_configs":
        assert softmaxes["layer.1"] is not None


@pytest.mark.parametrize("mode", MODES)
def test_skip_concat_output(mode):
    cfg = config(
        global_config={
            "op_type_config": {
                "concat": {"op_input_spec": {"*": INT8_TENSOR}, "op_output_spec": None}
            }
        }
    )
    cat = op_in(compiled(*basic.make_softmax_cat(), cfg, mode), "", "cat")
    assert cat.outputs[0].spec is None
    assert cat.outputs[0].rule == 'global_config.op_type_config["concat"].op_output_spec'
    assert [entry.spec.dtype for entry in cat.inputs.values()] == ["int8", "int8"]


@pytest.mark.parametrize("mode", MODES)
def test_quantize_only_linear(mode):
    cfg = config(
        global_config=None,
        module_type_configs={
            LINEAR: {
                "op_input_spec": {"*": INT8_TENSOR},
                "op_output_spec": {"*": INT8_TENSOR},
                "op_state_spec": {"weight": INT8_CHANNEL},
            }
        },
    )
    plan = compiled(*basic.make_mlp(), cfg, mode)
    assert all(entry.spec is not None for entry in weights_of(plan, "linear"))
    assert op_in(plan, "", "add").outputs[0].rule == "global_config"


def test_quantize_only_one_op_name():
    spec = {
        "op_input_spec": {"*": INT8_TENSOR},
        "op_output_spec": {"*": INT8_TENSOR},
        "op_state_spec": {"weight": INT8_CHANNEL},
    }
    cfg = config(
        global_config={
            "op_input_spec": None,
            "op_output_spec": None,
            "op_state_spec": None,
            "op_name_config": {"linear_1": spec},
        }
    )
    plan = compiled(*basic.make_mlp(), cfg, "graph")
    assert [op.name for op in plan.ops if op.state.get("weight") and op.state["weight"].spec] == [
        "linear_1"
    ]


@pytest.mark.parametrize("mode", MODES)
def test_int4_linear_int8_embedding(mode):
    cfg = config(
        global_config=None,
        module_type_configs={
            LINEAR: weight_only(INT4_BLOCK),
            "torch.nn.modules.sparse.Embedding": weight_only(INT8_CHANNEL),
        },
    )
    plan = compiled(*basic.make_tiny_net(), cfg, mode)
    assert [entry.spec.dtype for entry in weights_of(plan, "linear")] == ["int4", "int4"]
    assert weights_of(plan, "embedding")[0].spec.scale_shape == (100, 1)


@pytest.mark.parametrize("mode", MODES)
def test_mha_boundary_specs(mode):
    mha = "torch.nn.modules.activation.MultiheadAttention"
    boundary = {
        "op_input_spec": None,
        "op_output_spec": None,
        "module_input_spec": {0: INT8_TENSOR, 1: INT8_TENSOR, 2: INT8_TENSOR},
        "module_output_spec": {"*": INT8_TENSOR},
    }
    cfg = config(
        global_config={"op_input_spec": {"*": INT8_TENSOR}, "op_output_spec": {"*": INT8_TENSOR}},
        module_type_configs={mha: boundary},
    )
    plan = compiled(*weights.make_mha_net(), cfg, mode)
    (record,) = plan.modules
    assert record.module == "attn"
    assert sorted(record.inputs) == [0, 1, 2]
    assert record.inputs[0].rule == f'module_type_configs["{mha}"].module_input_spec[0]'
    assert record.outputs[0].spec.dtype == "int8"
    assert op_in(plan, "attn", "softmax").outputs[0].spec is None


class DecoderNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv2d(32, 64, 3, padding=1)
        self.decoder = nn.Module()
        self.decoder.deconv1 = nn.ConvTranspose2d(64, 64, 2, stride=2)

    def forward(self, x):
        return self.decoder.deconv1(self.encoder(x))


@pytest.mark.parametrize("mode", MODES)
def test_conv_transpose_axis_override_is_w4a8(mode):
    cfg = config(
        global_config={"op_state_spec": {"weight": INT4_BLOCK}},
        module_name_configs={
            "decoder.deconv1": {
                "op_state_spec": {
                    "weight": {
                        "dtype": "int4",
                        "granularity": {"type": "per_block", "axis": 1, "block_size": 32},
                    }
                }
            }
        },
    )
    plan = compiled(DecoderNet(), (torch.randn(1, 32, 4, 4),), cfg, mode)
    deconv = op_in(plan, "decoder.deconv1", "conv_transpose2d")
    assert deconv.state["weight"].spec.scale_shape == (64, 2, 1, 1)
    assert op_in(plan, "encoder", "conv2d").state["weight"].spec.granularity.axis == 1
    assert deconv.inputs[0].spec.dtype == "int8"
    assert (
        deconv.inputs[0].rule
        == 'module_name_configs["decoder.deconv1"].op_input_spec["*"] (default)'
    )
    assert "implicit-activation-defaults" in codes(plan)


def test_sdpa_softmax_rule_diagnostic():
    class SDPA(nn.Module):
        def forward(self, q):
            return nn.functional.scaled_dot_product_attention(q, q, q)

    plan = compiled(
        SDPA(),
        (torch.randn(1, 2, 4, 8),),
        config(global_config={"op_type_config": {"softmax": None}}),
        "graph",
    )
    assert any("exports scaled_dot_product_attention" in d.message for d in plan.diagnostics)


# --- field cases --------------------------------------------------------------------------------


class Regions(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_tower = nn.Module()
        self.vision_tower.blocks = nn.ModuleList([nn.Module()])
        self.vision_tower.blocks[0].fc = nn.Linear(8, 8)
        self.text = nn.Module()
        self.text.layers = nn.ModuleList([nn.Module()])
        layer = self.text.layers[0]
        layer.self_attn = nn.Module()
        layer.self_attn.q_proj = nn.Linear(8, 8)
        layer.attn_gate = nn.Linear(8, 8)
        layer.mlp = nn.Module()
        layer.mlp.fc1 = nn.Linear(8, 8)

    def forward(self, x):
        layer = self.text.layers[0]
        x = self.vision_tower.blocks[0].fc(x)
        return layer.mlp.fc1(layer.attn_gate(layer.self_attn.q_proj(x)))


def test_regex_keys_full_match_only():
    cfg = config(
        global_config=weight_only(),
        module_name_configs={
            "vision_tower\\..*": None,
            "attn_gate": None,
            "attn": weight_only(INT4_BLOCK),
        },
    )
    plan = compiled(Regions(), (torch.randn(2, 8),), cfg, "graph")
    specs = {op.module: op.state["weight"].spec for op in plan.ops if op.type == "linear"}
    assert specs["vision_tower.blocks.0.fc"] is None
    assert specs["text.layers.0.self_attn.q_proj"].dtype == "int8"
    assert any(
        d.rule == 'module_name_configs["attn"]' and d.code == "unmatched-rule"
        for d in plan.diagnostics
    )


class Layers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(12)])
        self.language_model = nn.Module()
        self.language_model.lm_head = nn.Linear(8, 8)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.language_model.lm_head(x)


def test_anchored_regex_and_short_name():
    cfg = config(
        global_config=weight_only(),
        module_name_configs={"layers\\.1": weight_only(INT4_BLOCK), "lm_head": None},
    )
    plan = compiled(Layers(), (torch.randn(2, 8),), cfg, "graph")
    int4 = [
        op.module
        for op in plan.ops
        if op.state["weight"].spec and op.state["weight"].spec.dtype == "int4"
    ]
    assert int4 == []  # 8 is not divisible by 32, so layers.1 is skipped, and nothing else is int4
    assert [skip.param for skip in plan.skipped] == ["layers.1.weight"]
    lm_head = next(d for d in plan.diagnostics if d.rule == 'module_name_configs["lm_head"]')
    assert "language_model.lm_head" in lm_head.message


@pytest.mark.parametrize("mode", MODES)
def test_fc03_module_names_match_named_modules(mode):
    cfg = config(global_config={}, module_name_configs={"encoder.0": weight_only(INT4_BLOCK)})
    plan = compiled(*basic.make_conv_net(), cfg, mode)
    model, _ = basic.make_conv_net()
    names = {name for name, _ in model.named_modules()}
    assert {op.module for op in plan.ops} <= names
    assert (
        op_in(plan, "encoder.0", "conv2d")
        .state["weight"]
        .rule.startswith('module_name_configs["encoder.0"]')
    )


@pytest.mark.parametrize(("bias", "shape"), [(True, (2, 8)), (False, (2, 8)), (True, (2, 3, 8))])
def test_fc04_linear_forms_same_weight_entry(bias, shape):
    cfg = config(global_config={"op_type_config": {"linear": weight_only()}})
    plan = compiled(nn.Linear(8, 4, bias=bias), (torch.randn(*shape),), cfg, "graph")
    entry = weights_of(plan, "linear")[0]
    assert (entry.spec.granularity.axis, entry.spec.scale_shape, entry.param) == (
        0,
        (4, 1),
        "weight",
    )


def test_fc05_overlap_order_decides():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Module()])
            self.layers[0].mlp = nn.Module()
            self.layers[0].mlp.fc1 = nn.Linear(8, 64)
            self.layers[0].mlp.fc2 = nn.Linear(64, 8)

        def forward(self, x):
            return self.layers[0].mlp.fc2(self.layers[0].mlp.fc1(x))

    rules = {".*fc1": weight_only(INT4_BLOCK), "layers\\.0\\..*": None}
    forward = compiled(Block(), (torch.randn(2, 8),), config(module_name_configs=rules), "graph")
    backward = compiled(
        Block(),
        (torch.randn(2, 8),),
        config(module_name_configs=dict(reversed(rules.items()))),
        "graph",
    )
    assert forward.ops[0].state["weight"].spec is None
    assert (
        backward.ops[0].state["weight"].spec is None
        or backward.ops[0].state["weight"].spec.dtype == "int4"
    )
    assert "overlapping-rules" in codes(forward)


def test_fc05_nothing_matched_strict_error():
    cfg = config(
        global_config=None, module_name_configs={"does_not_exist": weight_only(INT4_BLOCK)}
    )
    with pytest.raises(PlanError, match="does_not_exist"):
        compiled(*basic.make_mlp(), cfg, "graph", strict=True)


def test_fc12_non_divisible_blocks_skipped():
    model = nn.Sequential(nn.Linear(576, 64), nn.Linear(64, 512), nn.Linear(512, 64))
    spec = {"dtype": "int4", "granularity": {"type": "per_block", "axis": 1, "block_size": 128}}
    plan = compiled(model, (torch.randn(1, 576),), config(global_config=weight_only(spec)), "graph")
    assert [skip.param for skip in plan.skipped] == ["0.weight", "1.weight"]
    assert (
        plan.skipped[0].reason
        == "block_size 128 does not divide dimension 1 of size 576 (576 % 128 = 64)"
    )
    assert weights_of(plan, "linear")[2].spec.scale_shape == (64, 4)


@pytest.mark.parametrize("axis", [1, -1])
@pytest.mark.parametrize("out_features", [110, 90])
def test_fc13_axis_one_scale_shape(axis, out_features):
    spec = {"dtype": "int8", "granularity": {"type": "per_channel", "axis": axis}}
    plan = compiled(
        nn.Linear(100, out_features),
        (torch.randn(2, 100),),
        config(global_config=weight_only(spec)),
        "graph",
    )
    entry = weights_of(plan, "linear")[0]
    assert (entry.spec.granularity.axis, entry.spec.scale_shape) == (1, (1, 100))


def test_fc16_expert_weights_per_expert_channel():
    spec = {"dtype": "int8", "granularity": {"type": "per_block", "block_size": [1, 1, -1]}}
    cfg = config(
        global_config={
            "op_input_spec": None,
            "op_output_spec": None,
            "op_type_config": {"bmm": weight_only(spec)},
        }
    )
    plan = compiled(*weights.make_experts_net(), cfg, "graph")
    experts = op_in(plan, "", "bmm").state["experts"]
    assert experts.spec.scale_shape == (4, 16, 1)
    assert experts.spec.granularity.block_size == (1, 1, -1)


def test_fc25_dynamic_batch_records_capture():
    model, inputs = basic.make_mlp()
    batch = torch.export.Dim("batch", min=1, max=64)
    plan = compile_plan(model, inputs, QuantizerConfig(), dynamic_shapes=({0: batch},))
    assert plan.model.capture.mode == "graph"
    assert plan.op("linear").inputs[0].shape[0] == "s0" or isinstance(
        plan.op("linear").inputs[0].shape[0], str
    )
