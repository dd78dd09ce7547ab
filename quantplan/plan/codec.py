"""Canonical plan JSON: Plan <-> plain data <-> text.

Canonical means sorted keys, ops in the plan's (execution) order, 2-space indent, floats in
Python's shortest round-trip form, UTF-8 and a trailing newline, so the same plan always gives
the same bytes. Reading validates against the plan schema before building any object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.model import (
    PLAN_FORMAT,
    CaptureMeta,
    ConfigMeta,
    Diagnostic,
    Entry,
    GeneratorMeta,
    ModelMeta,
    ModuleBoundary,
    Plan,
    PlanOp,
    ResolvedGranularity,
    ResolvedSpec,
    SharedGroup,
    Skipped,
    Summary,
)

__all__ = [
    "dumps_canonical",
    "entry_to_data",
    "plan_from_data",
    "plan_from_file",
    "plan_from_json",
    "plan_to_data",
    "plan_to_json",
]


def dumps_canonical(data: Any) -> str:
    """Serialize JSON data canonically (sorted keys, 2-space indent, trailing newline).

    A NaN or infinite float raises PlanError naming its path.
    """
    from quantplan.plan.finite import check_finite_data

    check_finite_data(data)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def plan_to_json(plan: Plan) -> str:
    """Return the canonical JSON text of `plan`."""
    return dumps_canonical(plan_to_data(plan))


# --- Plan -> data ---------------------------------------------------------------------------


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


# --- text / data -> Plan --------------------------------------------------------------------


def plan_from_file(path: str | Path) -> Plan:
    """Read and validate the plan in `path`; every failure is a PlanError naming the file."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise PlanError(
            ErrorDetail(path="", message=f"cannot read plan file {str(path)!r}: {error.strerror}.")
        ) from None
    try:
        return plan_from_json(text)
    except PlanError as error:
        located = [
            attrs.evolve(detail, message=f"{detail.message} (in {path})") for detail in error.errors
        ]
        raise PlanError(located) from None


def plan_from_json(text: str | bytes) -> Plan:
    """Parse plan JSON text, check its format version and schema, then build the Plan."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(
            ErrorDetail(path="$", message=f"the plan is not valid JSON: {error}.")
        ) from None
    return plan_from_data(data)


def plan_from_data(data: Any) -> Plan:
    """Validate plain plan data against the plan schema and build the Plan."""
    from quantplan.schema.plan_schema import plan_validation_errors

    _check_format(data)
    problems = plan_validation_errors(data)
    if problems:
        raise PlanError(problems)
    return _build_plan(data)


def _check_format(data: Any) -> None:
    if not isinstance(data, dict):
        return
    version = data.get("format")
    if version is not None and version != PLAN_FORMAT:
        raise PlanError(
            ErrorDetail(
                path="$.format",
                message=(
                    f"unsupported plan format {version!r}; this quantplan reads {PLAN_FORMAT!r}. "
                    "Recompile the plan with this version of quantplan."
                ),
                value=version,
                expected=(PLAN_FORMAT,),
            )
        )


def _spec(data: dict | None) -> ResolvedSpec | None:
    if data is None:
        return None
    fields = dict(data)
    fields["granularity"] = ResolvedGranularity(**data["granularity"])
    return ResolvedSpec(**fields)


def _entry(data: dict) -> Entry:
    return Entry(
        shape=data["shape"],
        dtype=data["dtype"],
        spec=_spec(data["spec"]),
        rule=data["rule"],
        param=data.get("param"),
    )


def _entries(data: dict) -> dict:
    return {key: _entry(value) for key, value in data.items()}


def _op(data: dict) -> PlanOp:
    return PlanOp(
        name=data["name"],
        type=data["type"],
        target=data["target"],
        module=data["module"],
        module_type=data["module_type"],
        call_site=data["call_site"],
        fused_group=data["fused_group"],
        inputs=_entries(data["inputs"]),
        outputs=_entries(data["outputs"]),
        state=_entries(data["state"]),
        module_stack=data.get("module_stack", ()),
    )


def _model(data: dict) -> ModelMeta:
    capture = data.get("capture")
    return ModelMeta(
        class_name=data["class"],
        execution_mode=data["execution_mode"],
        torch=data["torch"],
        inputs=data["inputs"],
        fingerprint=data["fingerprint"],
        capture=None if capture is None else CaptureMeta(**capture),
    )


def _summary(data: dict) -> Summary:
    return Summary(
        tensors=data["tensors"],
        weight_bytes_before=data["weight_bytes"]["before"],
        weight_bytes_after=data["weight_bytes"]["after"],
        bits_per_weight_candidates=data["bits_per_weight"]["candidates"],
        bits_per_weight_quantized=data["bits_per_weight"]["quantized"],
    )


def _build_plan(data: dict) -> Plan:
    return Plan(
        format=data["format"],
        generator=GeneratorMeta(**data["generator"]),
        model=_model(data["model"]),
        config=ConfigMeta(**data["config"]),
        ops=[_op(op) for op in data["ops"]],
        modules=[
            ModuleBoundary(
                module=item["module"],
                call_site=item.get("call_site", 0),
                inputs=_entries(item["inputs"]),
                outputs=_entries(item["outputs"]),
            )
            for item in data["modules"]
        ],
        shared=[
            SharedGroup(
                params=item["params"], ops=item["ops"], spec=_spec(item["spec"]), rule=item["rule"]
            )
            for item in data["shared"]
        ],
        skipped=[Skipped(**item) for item in data["skipped"]],
        diagnostics=[Diagnostic(**item) for item in data["diagnostics"]],
        summary=_summary(data["summary"]),
    )
