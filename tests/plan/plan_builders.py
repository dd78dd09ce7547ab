"""Hand-built plans for the documented example model (TinyNet) and small variants of them.

TinyNet: embed = Embedding(100, 64), fc1 = Linear(64, 128), fc2 = Linear(128, 100, bias=False),
forward(ids[2, 7]) = fc2(relu(fc1(embed(ids)))). The config quantizes every weight to int4
per-block (32, symmetric) with activations off; `fc2_disabled` adds `module_name_configs: {fc2: null}`.
"""

from __future__ import annotations

import attrs

from quantplan.plan.model import (
    CaptureMeta,
    ConfigMeta,
    Entry,
    ModelMeta,
    Plan,
    PlanOp,
    ResolvedGranularity,
    ResolvedSpec,
)
from quantplan.plan.summary import summarize
from quantplan.quantization.spec import QuantizationSpec

FC2 = 'module_name_configs["fc2"]'
WEIGHT_RULE = 'global_config.op_state_spec["weight"]'
LINEAR = "torch.nn.modules.linear.Linear"


def int4_block_spec(
    rows: int, columns: int, *, dtype: str = "int4", block: int = 32
) -> ResolvedSpec:
    """The resolved int4 per-block spec of a (rows, columns) weight, blocks along axis 1."""
    spec = QuantizationSpec(dtype=dtype, granularity={"type": "per_block", "block_size": block})
    return ResolvedSpec.from_spec(
        spec,
        granularity=ResolvedGranularity("per_block", 1, block),
        block_shape=(1, block),
        scale_shape=(rows, columns // block),
        qparam_calculator_cls="static",
    )


def _weight(param: str, rows: int, columns: int, spec: ResolvedSpec | None, rule: str) -> Entry:
    return Entry(shape=(rows, columns), dtype="float32", spec=spec, rule=rule, param=param)


def _activation(shape: tuple, rule: str) -> Entry:
    return Entry(shape=shape, dtype="float32", spec=None, rule=rule)


def tinynet_ops(*, fc2_disabled: bool) -> list[PlanOp]:
    """The four ops of TinyNet in execution order."""
    fc2_weight_rule = FC2 if fc2_disabled else WEIGHT_RULE
    fc2_spec = None if fc2_disabled else int4_block_spec(100, 128)
    return [
        PlanOp(
            name="embedding",
            type="embedding",
            target="aten.embedding.default",
            module="embed",
            module_type="torch.nn.modules.sparse.Embedding",
            outputs={0: _activation((2, 7, 64), "global_config.op_output_spec")},
            state={
                "weight": _weight("embed.weight", 100, 64, int4_block_spec(100, 64), WEIGHT_RULE)
            },
            module_stack=[("embed", "torch.nn.modules.sparse.Embedding")],
        ),
        PlanOp(
            name="linear",
            type="linear",
            target="aten.linear.default",
            module="fc1",
            module_type=LINEAR,
            fused_group="linear",
            inputs={0: _activation((2, 7, 64), "global_config.op_input_spec")},
            state={"weight": _weight("fc1.weight", 128, 64, int4_block_spec(128, 64), WEIGHT_RULE)},
            module_stack=[("fc1", LINEAR)],
        ),
        PlanOp(
            name="relu",
            type="relu",
            target="aten.relu.default",
            module="",
            module_type="example.TinyNet",
            fused_group="linear",
            outputs={0: _activation((2, 7, 128), "global_config.op_output_spec")},
        ),
        PlanOp(
            name="linear_1",
            type="linear",
            target="aten.linear.default",
            module="fc2",
            module_type=LINEAR,
            inputs={
                0: _activation((2, 7, 128), FC2 if fc2_disabled else "global_config.op_input_spec")
            },
            outputs={
                0: _activation((2, 7, 100), FC2 if fc2_disabled else "global_config.op_output_spec")
            },
            state={"weight": _weight("fc2.weight", 100, 128, fc2_spec, fc2_weight_rule)},
            module_stack=[("fc2", LINEAR)],
        ),
    ]


def tinynet_plan(*, fc2_disabled: bool = True, **changes) -> Plan:
    """The TinyNet plan; keyword arguments replace Plan fields (ops, skipped, ...)."""
    ops = tinynet_ops(fc2_disabled=fc2_disabled)
    normalized = {
        "quantization_config": {"module_name_configs": [["fc2", None]] if fc2_disabled else []}
    }
    plan = Plan(
        model=ModelMeta(
            class_name="example.TinyNet",
            execution_mode="graph",
            torch="2.13.0",
            inputs={
                "args": [{"dtype": "int64", "shape": [2, 7]}],
                "kwargs": {},
                "dynamic_shapes": None,
            },
            fingerprint="sha256:" + "1" * 64,
            capture=CaptureMeta(mode="graph", method="torch.export", specializations=()),
        ),
        config=ConfigMeta(
            fingerprint="sha256:" + ("2" if fc2_disabled else "3") * 64, normalized=normalized
        ),
        ops=ops,
        summary=summarize(ops),
    )
    return attrs.evolve(plan, **changes) if changes else plan
