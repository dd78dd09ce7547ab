"""Plan schema definitions of ops and of their input, output and state entries."""

from __future__ import annotations

from quantplan.schema._plan_parts import _strict, _text


def _entry(*, with_param: bool) -> dict:
    properties = {
        "shape": {"$ref": "#/definitions/shape"},
        "dtype": _text("The tensor's float dtype, such as float32."),
        "spec": {
            "oneOf": [{"type": "null"}, {"$ref": "#/definitions/spec"}],
            "description": "Resolved spec; null = left in float.",
        },
        "rule": _text("Config path that decided this entry."),
    }
    if with_param:
        properties["param"] = _text("Parameter path, as in named_parameters().")
    return _strict(properties, description="One candidate tensor and its decision.")


def _index_map() -> dict:
    return {
        "type": "object",
        "propertyNames": {"pattern": "^(0|[1-9][0-9]*)$"},
        "additionalProperties": {"$ref": "#/definitions/entry"},
        "description": "Argument or output index (a decimal string) to entry.",
    }


def _op() -> dict:
    nullable_text = {"type": ["string", "null"]}
    return _strict(
        {
            "name": _text("Op name, unique in the plan."),
            "type": _text("Canonical op type, such as linear."),
            "target": _text("aten overload or torch function."),
            "module": _text("Innermost module path; empty for the root."),
            "module_type": _text("Fully qualified class of that module."),
            "module_stack": {
                "type": "array",
                "items": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 2,
                    "items": {"type": "string"},
                },
                "description": "[path, class] from the outermost module below the root to the innermost.",
            },
            "call_site": {
                "type": "integer",
                "minimum": 0,
                "description": "Call count of the innermost module (0 = first).",
            },
            "fused_group": {
                **nullable_text,
                "description": "Name of the fused group's first op, or null.",
            },
            "inputs": _index_map(),
            "outputs": _index_map(),
            "state": {
                "type": "object",
                "additionalProperties": {"$ref": "#/definitions/state_entry"},
                "description": "Local parameter name to entry.",
            },
        },
        required=[
            "call_site",
            "fused_group",
            "inputs",
            "module",
            "module_type",
            "name",
            "outputs",
            "state",
            "target",
            "type",
        ],
    )
