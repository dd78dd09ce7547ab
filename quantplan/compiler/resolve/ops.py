"""Plan entries for one op: its candidate inputs, outputs and state, each decided by one rule."""

from __future__ import annotations

import attrs

from quantplan.compiler.axes import AxisRequired, Skip, TensorRole, resolve_tensor_spec
from quantplan.compiler.graph import OpNode, ParamInfo, TensorInfo
from quantplan.compiler.registry import OpTypeInfo
from quantplan.compiler.resolve.decisions import (
    TensorDecision,
    decide_index_tensor,
    decide_state_tensor,
    state_key,
)
from quantplan.compiler.resolve.matching import OpRule
from quantplan.errors import ErrorDetail
from quantplan.plan.model import Entry, PlanOp, Skipped

__all__ = ["EntryCollector", "is_float", "resolve_op"]


def is_float(dtype: str) -> bool:
    """Return whether a dtype name is a floating-point dtype (the only quantization candidates)."""
    return dtype.startswith(("float", "bfloat"))


@attrs.define
class EntryCollector:
    """What resolving entries finds besides the entries: skips, missing axes, and parameters
    named `weight` that a `weight` key did not select because they are not in a weight role.

    `unselected_weights` maps the state group's rule string to (parameter path, op type) pairs.
    """

    skipped: list[Skipped] = attrs.field(factory=list)
    axis_errors: list[ErrorDetail] = attrs.field(factory=list)
    unselected_weights: dict[str, list[tuple[str, str]]] = attrs.field(factory=dict)

    def entry(
        self,
        decision: TensorDecision,
        shape: tuple,
        dtype: str,
        tensor: TensorRole,
        *,
        op: str,
        label: str,
        param: str | None = None,
    ) -> Entry:
        """Resolve one decision into an entry; a skip or a missing axis leaves it in float."""
        if decision.spec is None:
            return Entry(shape, dtype, None, decision.rule, param)
        try:
            resolved = resolve_tensor_spec(decision.spec, shape, tensor)
        except AxisRequired as error:
            self.axis_errors.append(
                ErrorDetail(
                    path=_strip_default(decision.rule), message=f"{label} of op {op}: {error}"
                )
            )
            return Entry(shape, dtype, None, decision.rule, param)
        if isinstance(resolved, Skip):
            target = {"param": param} if param else {"tensor": label}
            self.skipped.append(
                Skipped(op=op, reason=resolved.reason, rule=decision.rule, **target)
            )
            return Entry(shape, dtype, None, decision.rule, param)
        return Entry(shape, dtype, resolved, decision.rule, param)


def _strip_default(rule: str) -> str:
    return rule.removesuffix(" (default)")


@attrs.frozen
class OpContext:
    """How an op sits in the plan: its registry entry, fused-group position and deciding rule."""

    info: OpTypeInfo
    rule: OpRule
    fused_group: str | None = None
    quantize_inputs: bool = True
    quantize_outputs: bool = True


def resolve_op(
    op: OpNode, context: OpContext, params: dict[str, ParamInfo], collector: EntryCollector
) -> PlanOp:
    """Build the plan op for `op`, with an entry per candidate tensor."""
    inputs = _input_entries(op, context, collector) if context.quantize_inputs else {}
    outputs = _output_entries(op, context, collector) if context.quantize_outputs else {}
    state = _state_entries(op, context, params, collector)
    return PlanOp(
        name=op.name,
        type=op.type,
        target=op.target,
        module=op.module,
        module_type=op.module_type,
        call_site=op.call_site,
        fused_group=context.fused_group,
        inputs=inputs,
        outputs=outputs,
        state=state,
        module_stack=op.module_stack,
    )


def _activation(op: OpNode) -> TensorRole:
    return TensorRole("activation", op.type)


def _input_entries(op: OpNode, context: OpContext, collector: EntryCollector) -> dict[int, Entry]:
    allowed = context.info.activation_inputs
    entries = {}
    for index, tensor in enumerate(op.inputs):
        if not is_float(tensor.dtype) or (allowed is not None and index not in allowed):
            continue
        decision = decide_index_tensor(context.rule, "op_input_spec", index)
        label = f"{op.name} input {index}"
        entries[index] = collector.entry(
            decision, tensor.shape, tensor.dtype, _activation(op), op=op.name, label=label
        )
    return entries


def _output_entries(op: OpNode, context: OpContext, collector: EntryCollector) -> dict[int, Entry]:
    entries = {}
    for index, tensor in enumerate(op.outputs):
        if not is_float(tensor.dtype):
            continue
        decision = decide_index_tensor(context.rule, "op_output_spec", index)
        label = f"{op.name} output {index}"
        entries[index] = collector.entry(
            decision, tensor.shape, tensor.dtype, _activation(op), op=op.name, label=label
        )
    return entries


def _state_entries(
    op: OpNode, context: OpContext, params: dict[str, ParamInfo], collector: EntryCollector
) -> dict[str, Entry]:
    if context.info.kind == "norm":
        return {}  # batch norm after a conv is folded into the conv's weight
    specs = None if context.rule.config is None else context.rule.config.op_state_spec
    entries = {}
    for use in op.params:
        param = params.get(use.path)
        if param is None or not is_float(param.dtype):
            continue
        # The weight is always a candidate; another parameter only when a key names it.
        if use.role != "weight" and state_key(specs, use.local_name, use.role) is None:
            if use.local_name == "weight" and specs and "weight" in specs:
                rule = decide_state_tensor(context.rule, use.local_name, "weight").rule
                collector.unselected_weights.setdefault(rule, []).append((use.path, op.type))
            continue
        decision = decide_state_tensor(context.rule, use.local_name, use.role)
        layout = use.layout or (context.info.weight_layout if use.role == "weight" else None)
        tensor = TensorRole(use.role, op.type, layout, _groups(op, param))
        label = f"parameter {use.path}"
        entries[use.local_name] = collector.entry(
            decision, param.shape, param.dtype, tensor, op=op.name, label=label, param=use.path
        )
    return entries


def _groups(op: OpNode, param: ParamInfo) -> int:
    """Infer conv_transpose groups from shapes: weight (C_in, C_out/g, k...), output (N, C_out, ...)."""
    if not op.type.startswith("conv_transpose") or not op.outputs or len(param.shape) < 2:
        return 1
    output: TensorInfo = op.outputs[0]
    if (
        len(output.shape) != len(param.shape)
        or not isinstance(output.shape[1], int)
        or not param.shape[1]
    ):
        return 1
    return max(1, output.shape[1] // param.shape[1])
