"""Plan -> plain JSON data (dicts, lists, strings, numbers, None), field by field."""

from __future__ import annotations

from quantplan.plan.model import Entry, ModelMeta, Plan, PlanOp, ResolvedSpec, Skipped, Summary

__all__ = ["entry_to_data", "plan_to_data"]


def _spec_data(spec: ResolvedSpec | None) -> dict | None:
    if spec is None:
        return None
    granularity = spec.granularity
    block_size = granularity.block_size
    return {
        "dtype": spec.dtype,
        "qscheme": spec.qscheme,
        "qformulation": spec.qformulation,
        "granularity": {
            "type": granularity.type,
            "axis": granularity.axis,
            "block_size": list(block_size) if isinstance(block_size, tuple) else block_size,
        },
        "block_shape": list(spec.block_shape),
        "scale_shape": list(spec.scale_shape),
        "quant_min": spec.quant_min,
        "quant_max": spec.quant_max,
        "scale_dtype": spec.scale_dtype,
        "scale_rounding": spec.scale_rounding,
        "qparam_calculator_cls": spec.qparam_calculator_cls,
        "range_calculator_cls": spec.range_calculator_cls,
        "float_range": list(spec.float_range),
        "rounding": spec.rounding,
    }


def entry_to_data(entry: Entry) -> dict:
    """Return one plan entry as plain JSON data; `param` appears only when set."""
    data = {
        "shape": list(entry.shape),
        "dtype": entry.dtype,
        "spec": _spec_data(entry.spec),
        "rule": entry.rule,
    }
    if entry.param is not None:
        data["param"] = entry.param
    return data


def _entries_data(entries: dict) -> dict:
    return {str(key): entry_to_data(entry) for key, entry in entries.items()}


def _op_data(op: PlanOp) -> dict:
    return {
        "name": op.name,
        "type": op.type,
        "target": op.target,
        "module": op.module,
        "module_type": op.module_type,
        "module_stack": [list(item) for item in op.module_stack],
        "call_site": op.call_site,
        "fused_group": op.fused_group,
        "inputs": _entries_data(op.inputs),
        "outputs": _entries_data(op.outputs),
        "state": _entries_data(op.state),
    }


def _skipped_data(skipped: Skipped) -> dict:
    data = {"op": skipped.op, "reason": skipped.reason, "rule": skipped.rule}
    if skipped.param is not None:
        data["param"] = skipped.param
    else:
        data["tensor"] = skipped.tensor
    return data


def _model_data(model: ModelMeta) -> dict:
    data = {
        "class": model.class_name,
        "execution_mode": model.execution_mode,
        "torch": model.torch,
        "inputs": model.inputs,
        "fingerprint": model.fingerprint,
    }
    if model.capture is not None:
        capture = model.capture
        data["capture"] = {
            "mode": capture.mode,
            "method": capture.method,
            "specializations": list(capture.specializations),
        }
    return data


def _summary_data(summary: Summary) -> dict:
    return {
        "tensors": dict(summary.tensors),
        "weight_bytes": {
            "before": summary.weight_bytes_before,
            "after": summary.weight_bytes_after,
        },
        "bits_per_weight": {
            "candidates": summary.bits_per_weight_candidates,
            "quantized": summary.bits_per_weight_quantized,
        },
    }


def plan_to_data(plan: Plan) -> dict:
    """Return `plan` as plain JSON data (dicts, lists, strings, numbers, None)."""
    return {
        "format": plan.format,
        "generator": {"name": plan.generator.name, "version": plan.generator.version},
        "model": _model_data(plan.model),
        "config": {"fingerprint": plan.config.fingerprint, "normalized": plan.config.normalized},
        "ops": [_op_data(op) for op in plan.ops],
        "modules": [
            {
                "module": boundary.module,
                "call_site": boundary.call_site,
                "inputs": _entries_data(boundary.inputs),
                "outputs": _entries_data(boundary.outputs),
            }
            for boundary in plan.modules
        ],
        "shared": [
            {
                "params": list(group.params),
                "ops": list(group.ops),
                "spec": _spec_data(group.spec),
                "rule": group.rule,
            }
            for group in plan.shared
        ],
        "skipped": [_skipped_data(skipped) for skipped in plan.skipped],
        "diagnostics": [
            {
                "severity": item.severity,
                "code": item.code,
                "message": item.message,
                "rule": item.rule,
            }
            for item in plan.diagnostics
        ],
        "summary": _summary_data(plan.summary),
    }
