"""Plain plan data -> Plan objects; the data must already have passed the plan schema."""

from __future__ import annotations

from quantplan.plan.model import (
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

__all__ = ["build_plan"]

# PlanOp fields that the plan JSON stores under the same names, unchanged.
_OP_PLAIN_FIELDS = (
    "name",
    "type",
    "target",
    "module",
    "module_type",
    "call_site",
    "fused_group",
)


def _copied(data: dict, names: tuple[str, ...]) -> dict:
    return {name: data[name] for name in names}


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
        **_copied(data, _OP_PLAIN_FIELDS),
        inputs=_entries(data["inputs"]),
        outputs=_entries(data["outputs"]),
        state=_entries(data["state"]),
        module_stack=data.get("module_stack", ()),
    )


def _model(data: dict) -> ModelMeta:
    capture = data.get("capture")
    return ModelMeta(
        class_name=data["class"],
        **_copied(data, ("execution_mode", "torch", "inputs", "fingerprint")),
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


def build_plan(data: dict) -> Plan:
    """Build the Plan from schema-valid plain data."""
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
