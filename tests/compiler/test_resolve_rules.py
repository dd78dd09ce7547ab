"""Precedence, key matching, axes and diagnostics of the resolver, in both capture modes."""

from __future__ import annotations

import pytest
import torch

from fixtures.models import basic, weights
from quantplan.compiler import compile_plan
from quantplan.compiler.resolve import resolve
from quantplan.errors import ConfigError, PlanError
from quantplan.quantization import (
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizationSpec,
    QuantizerConfig,
)
from tests.compiler.resolve_support import (
    LINEAR,
    graph,
    module,
    op,
    param,
    tensor,
    tiny_net,
    weight,
)

MODES = ("graph", "eager")
INT4_BLOCK = {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32}}
INT8_CHANNEL = {"dtype": "int8", "granularity": {"type": "per_channel"}}


def _spec(value):
    return None if value is None else QuantizationSpec(**value)


def _specs(value):
    return value if value is None else {key: _spec(item) for key, item in value.items()}


def _op_config(value):
    return (
        None
        if value is None
        else OpQuantizerConfig(**{key: _specs(item) for key, item in value.items()})
    )


def _module_config(value):
    if value is None:
        return None
    fields = {}
    for key, item in value.items():
        if key in ("op_type_config", "op_name_config"):
            fields[key] = {name: _op_config(entry) for name, entry in item.items()}
        else:
            fields[key] = _specs(item)
    return ModuleQuantizerConfig(**fields)


def config(**sections) -> QuantizerConfig:
    """Build a config through the Python constructors, from the dict layout of a YAML file."""
    fields = {}
    if "global_config" in sections:
        fields["global_config"] = _module_config(sections["global_config"])
    for level in ("module_name_configs", "module_type_configs"):
        fields[level] = {key: _module_config(item) for key, item in sections.get(level, {}).items()}
    return QuantizerConfig(**fields)


def weight_only(spec=INT8_CHANNEL) -> dict:
    return {"op_input_spec": None, "op_output_spec": None, "op_state_spec": {"weight": spec}}


def compiled(factory, cfg, mode, **kwargs):
    model, inputs = factory()
    return compile_plan(model, inputs, cfg, execution_mode=mode, **kwargs)


def op_in(plan, module_path, op_type):
    return next(op for op in plan.ops if op.module == module_path and op.type == op_type)


def codes(plan) -> list[str]:
    return [diagnostic.code for diagnostic in plan.diagnostics]


# --- precedence (rule 4) on hand-built graphs -------------------------------------------------

PRECEDENCE_CASES = [
    # (module_name_configs, module_type_configs, fc2 weight rule)
    ({}, {}, 'global_config.op_state_spec["weight"]'),
    ({}, {LINEAR: weight_only()}, f'module_type_configs["{LINEAR}"].op_state_spec["weight"]'),
    ({"fc2": weight_only()}, {LINEAR: None}, 'module_name_configs["fc2"].op_state_spec["weight"]'),
    ({"fc.": weight_only(), "fc2": None}, {}, 'module_name_configs["fc2"]'),
    ({"fc2": None, "fc.": weight_only()}, {}, 'module_name_configs["fc."].op_state_spec["weight"]'),
    (
        {},
        {"Linear": None, LINEAR: weight_only()},
        f'module_type_configs["{LINEAR}"].op_state_spec["weight"]',
    ),
    (
        {},
        {"torch.nn.modules.module.Module": None},
        'module_type_configs["torch.nn.modules.module.Module"]',
    ),
]


@pytest.mark.parametrize(("names", "types", "expected"), PRECEDENCE_CASES)
def test_module_precedence_table(names, types, expected):
    plan = resolve(
        tiny_net(),
        config(
            global_config=weight_only(INT4_BLOCK),
            module_name_configs=names,
            module_type_configs=types,
        ),
    )
    assert plan.op("linear_1").state["weight"].rule == expected


def test_exact_class_beats_base_class():
    base = "example.Base"
    derived = module("blk", "example.Derived", base)
    ops = [
        op(
            "linear",
            "linear",
            "blk",
            "example.Derived",
            [tensor(2, 8)],
            None,
            [tensor(2, 8)],
            [weight("blk.weight")],
        )
    ]
    g = graph(ops, [derived], [param("blk.weight", 8, 8)])
    plan = resolve(
        g, config(module_type_configs={"example.Derived": weight_only(), "example.Base": None})
    )
    assert (
        plan.op("linear").state["weight"].rule
        == 'module_type_configs["example.Derived"].op_state_spec["weight"]'
    )


def test_deepest_type_match_wins_over_ancestor():
    block = module("block", "example.Block")
    fc = module("block.fc", LINEAR)
    ops = [
        op(
            "linear",
            "linear",
            "block.fc",
            LINEAR,
            [tensor(2, 8)],
            None,
            [tensor(2, 8)],
            [weight("block.fc.weight")],
        )
    ]
    g = graph(ops, [block, fc], [param("block.fc.weight", 8, 8)])
    plan = resolve(g, config(module_type_configs={LINEAR: weight_only(), "example.Block": None}))
    assert plan.op("linear").state["weight"].rule.startswith(f'module_type_configs["{LINEAR}"]')


def test_name_rule_replaces_parent_wholesale():
    cfg = config(
        global_config={"op_type_config": {"linear": None}}, module_name_configs={"fc1": {}}
    )
    plan = resolve(tiny_net(), cfg)
    assert (
        plan.op("linear").state["weight"].rule
        == 'module_name_configs["fc1"].op_state_spec["weight"] (default)'
    )
    assert plan.op("linear_1").state["weight"].rule == 'global_config.op_type_config["linear"]'


def test_op_name_beats_op_type_beats_own_specs():
    cfg = config(
        global_config={
            "op_type_config": {"linear": None},
            "op_name_config": {"linear_1": weight_only()},
        }
    )
    plan = resolve(tiny_net(), cfg)
    assert (
        plan.op("linear_1").state["weight"].rule
        == 'global_config.op_name_config["linear_1"].op_state_spec["weight"]'
    )
    assert plan.op("linear").state["weight"].spec is None


def test_explicit_index_beats_star():
    cfg = config(
        global_config={"op_input_spec": {"*": None, 0: {"dtype": "uint8"}}, "op_output_spec": None}
    )
    entry = resolve(tiny_net(), cfg).op("linear_1").inputs[0]
    assert entry.rule == "global_config.op_input_spec[0]"
    assert entry.spec.dtype == "uint8"


def test_null_group_rule_names_group():
    plan = resolve(tiny_net(), config(global_config=weight_only()))
    assert plan.op("linear_1").inputs[0].rule == "global_config.op_input_spec"


def test_global_null_disables_everything():
    plan = resolve(tiny_net(), config(global_config=None))
    assert {entry.rule for *_, entry in plan.entries()} == {"global_config"}


def test_activation_calculator_resolves_by_role():
    plan = resolve(tiny_net(), QuantizerConfig())
    assert plan.op("linear_1").inputs[0].spec.qparam_calculator_cls == "moving_average"
    assert plan.op("linear_1").state["weight"].spec.qparam_calculator_cls == "static"


def test_undotted_type_key_ambiguous_is_error():
    mods = [module("a", "pkg1.Block"), module("b", "pkg2.Block")]
    with pytest.raises(ConfigError, match="ambiguous: the model has 2 classes of that name"):
        resolve(graph([], mods, []), config(module_type_configs={"Block": None}))


def test_resolve_does_not_mutate_config():
    cfg = config(global_config=weight_only(INT4_BLOCK))
    before = cfg.to_dict()
    resolve(tiny_net(), cfg)
    assert cfg.to_dict() == before


# --- op types, aliases, targets --------------------------------------------------------------


@pytest.mark.parametrize("key", ["cat", "concat", "concatenate", "aten.cat", "aten.cat.default"])
def test_op_type_aliases_and_targets_match(key):
    plan = compiled(
        basic.make_softmax_cat,
        config(global_config={"op_type_config": {key: {"op_output_spec": None}}}),
        "graph",
    )
    assert plan.op("cat").outputs[0].spec is None


@pytest.mark.parametrize("mode", MODES)
def test_gpt2_conv1d_is_linear_with_axis_1(mode):
    plan = compiled(weights.make_conv1d_net, config(global_config=weight_only()), mode)
    entry = op_in(plan, "c_fc", "linear").state["weight"]
    assert entry.spec.granularity.axis == 1
    assert entry.spec.scale_shape == (1, 32)


@pytest.mark.parametrize("mode", MODES)
def test_raw_parameter_linear_takes_weight_key(mode):
    plan = compiled(weights.make_raw_param_linear, config(global_config=weight_only()), mode)
    gate = next(op for op in plan.ops if "gate" in op.state).state["gate"]
    assert gate.rule == 'global_config.op_state_spec["weight"]'
    assert gate.spec.scale_shape == (4, 1)


@pytest.mark.parametrize("mode", MODES)
def test_tied_weights_form_one_shared_entry(mode):
    plan = compiled(weights.make_tied_embeddings, config(global_config=weight_only()), mode)
    assert [group.params for group in plan.shared] == [("embed.weight", "lm_head.weight")]
    assert len(plan.shared[0].ops) == 2


@pytest.mark.parametrize("mode", MODES)
def test_tied_weights_conflict_names_aliases(mode):
    cfg = config(global_config=weight_only(), module_name_configs={"lm_head": None})
    with pytest.raises(PlanError) as raised:
        compiled(weights.make_tied_embeddings, cfg, mode)
    message = str(raised.value)
    assert "embed.weight, lm_head.weight share one storage" in message
    assert 'module_name_configs["lm_head"]' in message
    assert 'global_config.op_state_spec["weight"]' in message


@pytest.mark.parametrize("mode", MODES)
def test_mha_in_proj_weight_one_entry_per_consumer(mode):
    plan = compiled(weights.make_mha_net, config(global_config=weight_only()), mode)
    users = [op for op in plan.ops if "in_proj_weight" in op.state]
    assert len(users) == 2
    assert users[0].state["in_proj_weight"].spec.scale_shape == (24, 1)
    assert plan.shared[0].params == ("attn.in_proj_weight",)


@pytest.mark.parametrize("mode", MODES)
def test_grouped_conv_transpose_scale_shape(mode):
    plan = compiled(basic.make_conv_net, config(global_config=weight_only()), mode)
    entry = op_in(plan, "decoder", "conv_transpose2d").state["weight"]
    assert entry.spec.block_shape == (8, 1, 2, 2)
    assert entry.spec.scale_shape == (2, 2, 1, 1)


@pytest.mark.parametrize("mode", MODES)
def test_conv_bn_relu_fuse(mode):
    plan = compiled(basic.make_conv_net, QuantizerConfig(), mode)
    conv = op_in(plan, "encoder.0", "conv2d")
    members = [op for op in plan.ops if op.fused_group == conv.name]
    assert [op.type for op in members] == ["conv2d", "batch_norm", "relu"]
    assert conv.outputs == {}
    assert members[-1].outputs[0].spec is not None
    assert members[1].state == {}


def test_bmm_weight_without_axis_is_error():
    with pytest.raises(PlanError, match="bmm is not in the default-axis table"):
        compiled(weights.make_experts_net, config(global_config=weight_only()), "graph")


# --- rule 12 skips ------------------------------------------------------------------------------


def test_block_not_dividing_is_skipped():
    plan = resolve(
        tiny_net(),
        config(
            global_config=weight_only(
                {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 48}}
            )
        ),
    )
    assert [skip.param for skip in plan.skipped] == ["embed.weight", "fc1.weight", "fc2.weight"]
    assert (
        plan.skipped[0].reason
        == "block_size 48 does not divide dimension 1 of size 64 (64 % 48 = 16)"
    )
    assert codes(plan).count("skipped-tensor") == 3


def test_block_not_dividing_strict_lists_all():
    cfg = config(
        global_config=weight_only(
            {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 48}}
        )
    )
    with pytest.raises(PlanError, match="4 problems") as raised:
        resolve(tiny_net(), cfg, strict=True)
    assert "fc2.weight (op linear_1) stays in float" in str(raised.value)


def test_axis_out_of_range_is_skipped():
    spec = {"dtype": "int8", "granularity": {"type": "per_channel", "axis": 2}}
    plan = resolve(tiny_net(), config(global_config=weight_only(spec)))
    assert plan.skipped[0].reason == "axis 2 is out of range for a rank-2 tensor of shape [100, 64]"


def test_activation_per_channel_without_axis_is_error():
    cfg = config(global_config={"op_input_spec": {"*": INT8_CHANNEL}})
    with pytest.raises(PlanError, match="activations never get a default axis"):
        resolve(tiny_net(), cfg)


# --- diagnostics --------------------------------------------------------------------------------


def test_unmatched_name_rule_suggests_candidates():
    plan = resolve(tiny_net(), config(module_name_configs={"fc3": None}))
    diagnostic = next(d for d in plan.diagnostics if d.code == "unmatched-rule")
    assert diagnostic.message.startswith(
        'module_name_configs["fc3"] matches no module in the model.'
    )
    assert diagnostic.message.endswith("Nearest candidates: fc2, fc1.")


def test_unmatched_rule_strict_is_error():
    with pytest.raises(
        PlanError, match=r'^module_name_configs\["fc3"\]: matches no module in the model'
    ):
        resolve(tiny_net(), config(module_name_configs={"fc3": None}), strict=True)


def test_class_given_as_module_name():
    plan = resolve(tiny_net(), config(module_name_configs={"Linear": None}))
    assert (
        "is a module class (torch.nn.modules.linear.Linear); put it under module_type_configs"
        in plan.diagnostics[0].message
    )


def test_module_name_given_as_type():
    plan = resolve(tiny_net(), config(module_type_configs={"fc1": None}))
    assert "'fc1' is a module name; put it under module_name_configs" in plan.diagnostics[0].message


def test_class_given_as_op_type():
    plan = resolve(tiny_net(), config(global_config={"op_type_config": {"Linear": None}}))
    assert any("is a module class" in d.message for d in plan.diagnostics)


def test_op_type_outside_registry():
    plan = resolve(tiny_net(), config(global_config={"op_type_config": {"layer_norm": None}}))
    diagnostic = next(d for d in plan.diagnostics if d.code == "unquantizable-op-type")
    assert "not a quantizable op type" in diagnostic.message
    assert "linear" in diagnostic.message


def test_nothing_quantized_warns():
    plan = resolve(tiny_net(), config(global_config=None, module_name_configs={"missing": {}}))
    assert "nothing-quantized" in codes(plan)


def test_edge_mismatch_reported():
    cfg = config(
        global_config={"op_type_config": {"relu": {"op_output_spec": {"*": {"dtype": "uint8"}}}}}
    )
    plan = resolve(tiny_net(), cfg)
    assert "edge-spec-mismatch" in codes(plan)


def test_fused_first_op_output_mismatch():
    cfg = config(global_config={"op_type_config": {"relu": {"op_output_spec": None}}})
    plan = resolve(tiny_net(), cfg)
    assert "fused-output-mismatch" in codes(plan)
    assert plan.op("relu").outputs[0].spec is None


# --- boundaries, call sites ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_call_sites_share_weight_not_activations(mode):
    plan = compiled(basic.make_reused_module, QuantizerConfig(), mode)
    linears = [op for op in plan.ops if op.type == "linear"]
    assert [op.call_site for op in linears] == [0, 1]
    assert linears[0].name != linears[1].name
    assert plan.shared[0].params == ("fc.weight",)
    assert plan.shared[0].ops == tuple(op.name for op in linears)


@pytest.mark.parametrize("mode", MODES)
def test_name_rule_covers_both_call_sites(mode):
    plan = compiled(basic.make_reused_module, config(module_name_configs={"fc": None}), mode)
    linears = [op for op in plan.ops if op.type == "linear"]
    assert {op.inputs[0].rule for op in linears} == {'module_name_configs["fc"]'}


# --- determinism, meta, non-finite --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_two_compiles_byte_identical(mode):
    cfg = config(global_config=weight_only(INT4_BLOCK))
    assert (
        compiled(basic.make_conv_net, cfg, mode).to_json()
        == compiled(basic.make_conv_net, cfg, mode).to_json()
    )


def test_nonfinite_weight_is_error():
    model, inputs = basic.make_tiny_net()
    with torch.no_grad():
        model.fc1.weight[0, 0] = float("nan")
    with pytest.raises(PlanError, match=r"parameter fc1\.weight holds NaN or inf"):
        compile_plan(model, inputs, QuantizerConfig())


@pytest.mark.parametrize("mode", MODES)
def test_meta_model_compiles_same_plan(mode):
    cfg = config(global_config=weight_only(INT4_BLOCK))
    plan = compiled(basic.make_tiny_net, cfg, mode)
    with torch.device("meta"):
        model = basic.TinyNet()
    meta_plan = compile_plan(model, basic.make_tiny_net()[1], cfg, execution_mode=mode)
    assert [op.state for op in meta_plan.ops] == [op.state for op in plan.ops]
