"""Rule strings for tensors that no key selects, and the aggregated diagnostics."""

from __future__ import annotations

from quantplan.compiler.resolve import resolve
from quantplan.quantization import QuantizerConfig
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

INT8 = {"dtype": "int8"}
UINT8 = {"dtype": "uint8"}
NORM = "example.RMSNorm"


def config(**sections) -> QuantizerConfig:
    return QuantizerConfig.from_dict({"quantization_config": sections})


def _diagnostics(plan, code):
    return [diagnostic for diagnostic in plan.diagnostics if diagnostic.code == code]


# --- rule strings --------------------------------------------------------------------------------


def test_absent_input_key_rule():
    plan = resolve(tiny_net(), config(global_config={"op_input_spec": {1: INT8}}))
    assert plan.op("linear").inputs[0].rule == "global_config.op_input_spec[0] (key absent)"
    assert plan.op("linear").inputs[0].spec is None


def test_absent_key_differs_from_null_group():
    absent = resolve(tiny_net(), config(global_config={"op_input_spec": {1: INT8}}))
    null = resolve(tiny_net(), config(global_config={"op_input_spec": None}))
    assert null.op("linear").inputs[0].rule == "global_config.op_input_spec"
    assert absent.op("linear").inputs[0].rule != null.op("linear").inputs[0].rule


def test_absent_key_differs_from_explicit_none():
    plan = resolve(tiny_net(), config(global_config={"op_input_spec": {0: None}}))
    assert plan.op("linear").inputs[0].rule == "global_config.op_input_spec[0]"


def test_absent_output_key_rule():
    plan = resolve(tiny_net(), config(global_config={"op_output_spec": {}}))
    assert plan.op("linear_1").outputs[0].rule == "global_config.op_output_spec[0] (key absent)"


def test_absent_state_key_names_weight():
    plan = resolve(tiny_net(), config(global_config={"op_state_spec": {"bias": INT8}}))
    entry = plan.op("linear_1").state["weight"]
    assert entry.rule == 'global_config.op_state_spec["weight"] (key absent)'
    assert entry.spec is None


def test_star_key_selects_missing_index():
    plan = resolve(tiny_net(), config(global_config={"op_input_spec": {1: INT8, "*": UINT8}}))
    assert plan.op("linear").inputs[0].rule == 'global_config.op_input_spec["*"]'


# --- parameters named weight outside a weight role ---------------------------------------------


def _norm_graph():
    """Two RMSNorm-like modules whose `weight` a `mul` reads, feeding one Linear."""
    ops = [
        op(
            "mul",
            "mul",
            "norm0",
            NORM,
            [tensor(2, 8)],
            outputs=[tensor(2, 8)],
            params=[weight("norm0.weight", None, role="other")],
        ),
        op(
            "mul_1",
            "mul",
            "norm1",
            NORM,
            [tensor(2, 8)],
            ["mul"],
            [tensor(2, 8)],
            params=[weight("norm1.weight", None, role="other")],
        ),
        op(
            "linear",
            "linear",
            "fc",
            LINEAR,
            [tensor(2, 8)],
            ["mul_1"],
            [tensor(2, 4)],
            [weight("fc.weight")],
        ),
    ]
    modules = [module("norm0", NORM), module("norm1", NORM), module("fc", LINEAR)]
    params = [param("norm0.weight", 8), param("norm1.weight", 8), param("fc.weight", 4, 8)]
    return graph(ops, modules, params)


def test_norm_weight_not_a_candidate():
    plan = resolve(_norm_graph(), config(global_config={"op_state_spec": {"weight": INT8}}))
    assert plan.op("mul").state == {}
    assert plan.op("linear").state["weight"].spec is not None


def test_norm_weight_one_info_per_rule():
    plan = resolve(_norm_graph(), config(global_config={"op_state_spec": {"weight": INT8}}))
    found = _diagnostics(plan, "weight-key-outside-weight-role")
    assert len(found) == 1
    assert found[0].severity == "info"
    assert found[0].rule == 'global_config.op_state_spec["weight"]'
    assert found[0].message == (
        'global_config.op_state_spec["weight"] selects only parameters in an op\'s weight role (the weight '
        "of a linear, conv, embedding or parameter-operand matmul), so 2 parameter(s) named weight that mul "
        "ops read have no entry and stay in float: norm0.weight, norm1.weight. To quantize them, give those "
        'ops an op_state_spec with a "*" key (for example op_type_config["mul"]).'
    )


def test_norm_weight_selected_by_star():
    cfg = config(global_config={"op_type_config": {"mul": {"op_state_spec": {"*": INT8}}}})
    plan = resolve(_norm_graph(), cfg)
    assert (
        plan.op("mul").state["weight"].rule
        == 'global_config.op_type_config["mul"].op_state_spec["*"]'
    )
    assert plan.op("mul").state["weight"].spec is not None


def test_norm_weight_no_info_without_weight_key():
    plan = resolve(_norm_graph(), config(global_config={"op_state_spec": {"*": INT8}}))
    assert _diagnostics(plan, "weight-key-outside-weight-role") == []


# --- edges ---------------------------------------------------------------------------------------


def _chain(length: int):
    """`length` relu ops in a chain, each feeding the next."""
    ops = [op("relu", "relu", "", "example.Net", [tensor(2, 8)], outputs=[tensor(2, 8)])]
    for index in range(1, length):
        previous = ops[-1].name
        ops.append(
            op(
                f"relu_{index}",
                "relu",
                "",
                "example.Net",
                [tensor(2, 8)],
                [previous],
                [tensor(2, 8)],
            )
        )
    return graph(ops, [], [])


def test_edge_mismatches_aggregated():
    cfg = config(global_config={"op_input_spec": {"*": INT8}, "op_output_spec": {"*": UINT8}})
    plan = resolve(_chain(6), cfg)
    found = _diagnostics(plan, "edge-spec-mismatch")
    assert len(found) == 1
    assert found[0].message == (
        "5 edge(s) carry different specs at their two ends: uint8 per_tensor at the producer by "
        'global_config.op_output_spec["*"], int8 per_tensor at the consumer by global_config.op_input_spec["*"]. '
        "Edges: relu -> relu_1 (input 0), relu_1 -> relu_2 (input 0), relu_2 -> relu_3 (input 0) and 2 more."
    )


def test_edge_mismatches_one_line_per_rule_pair():
    cfg = config(global_config={
        "op_input_spec": {"*": INT8},
        "op_output_spec": {"*": UINT8},
        "op_name_config": {"relu_2": {"op_input_spec": None, "op_output_spec": {"*": UINT8}}},
    })  # fmt: skip
    plan = resolve(_chain(5), cfg)
    found = _diagnostics(plan, "edge-spec-mismatch")
    assert [diagnostic.message.split(" ")[0] for diagnostic in found] == ["2", "1", "1"]
    assert found[1].message.endswith(
        'float at the consumer by global_config.op_name_config["relu_2"].op_input_spec. Edges: relu_1 -> relu_2 (input 0).'
    )
