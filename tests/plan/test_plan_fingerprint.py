"""Structure and config fingerprints."""

from __future__ import annotations

import attrs

from quantplan.compiler.graph import (
    CaptureInfo,
    ModelGraph,
    ModuleInfo,
    OpNode,
    ParamInfo,
    ParamUse,
    TensorInfo,
)
from quantplan.plan.fingerprint import config_fingerprint, structure_fingerprint

LINEAR = "torch.nn.modules.linear.Linear"


def graph(*, weight_shape=(4, 8), op_name="linear", activation=(2, 8), mode="graph") -> ModelGraph:
    op = OpNode(
        name=op_name,
        type="linear",
        target="aten.linear.default",
        module="fc",
        module_type=LINEAR,
        module_stack=(("fc", LINEAR),),
        call_site=0,
        inputs=(TensorInfo(activation, "float32"),),
        input_producers=(None,),
        outputs=(TensorInfo((activation[0], weight_shape[0]), "float32"),),
        params=(ParamUse("weight", "fc.weight", "weight", "out_in"),),
    )
    return ModelGraph(
        root_class="example.Net",
        execution_mode=mode,
        ops=(op,),
        modules=(ModuleInfo("fc", LINEAR, (LINEAR,)),),
        module_calls=(),
        parameters=(ParamInfo("fc.weight", ("fc.weight",), weight_shape, "float32"),),
        inputs={},
        capture=CaptureInfo(mode=mode, method="torch.export"),
    )


def test_format():
    fingerprint = structure_fingerprint(graph())
    assert fingerprint.startswith("sha256:")
    assert len(fingerprint) == len("sha256:") + 64


def test_stable_for_equal_graphs():
    assert structure_fingerprint(graph()) == structure_fingerprint(graph())


def test_changes_with_parameter_shape():
    assert structure_fingerprint(graph(weight_shape=(5, 8))) != structure_fingerprint(graph())


def test_changes_with_op_name():
    assert structure_fingerprint(graph(op_name="linear_1")) != structure_fingerprint(graph())


def test_changes_with_parameter_dtype():
    base = graph()
    changed = attrs.evolve(base, parameters=(attrs.evolve(base.parameters[0], dtype="bfloat16"),))
    assert structure_fingerprint(changed) != structure_fingerprint(base)


def test_changes_with_module_path():
    base = graph()
    changed = attrs.evolve(base, modules=(attrs.evolve(base.modules[0], path="fc_renamed"),))
    assert structure_fingerprint(changed) != structure_fingerprint(base)


def test_ignores_activation_shapes():
    assert structure_fingerprint(graph(activation=(3, 8))) == structure_fingerprint(graph())


def test_ignores_capture_method():
    base = graph()
    changed = attrs.evolve(base, capture=CaptureInfo(mode="graph", method="torch.export strict"))
    assert structure_fingerprint(changed) == structure_fingerprint(base)


def test_config_fingerprint_ignores_key_order():
    first = {"global_config": {"op_input_spec": None, "op_output_spec": None}}
    second = {"global_config": {"op_output_spec": None, "op_input_spec": None}}
    assert config_fingerprint(first) == config_fingerprint(second)


def test_config_fingerprint_accepts_mixed_keys():
    normalized = {"op_input_spec": {0: None, "*": {"dtype": "int8"}}}
    assert config_fingerprint(normalized) == config_fingerprint(
        {"op_input_spec": {"0": None, "*": {"dtype": "int8"}}}
    )


def test_config_fingerprint_changes_with_value():
    assert config_fingerprint({"a": 1}) != config_fingerprint({"a": 2})
