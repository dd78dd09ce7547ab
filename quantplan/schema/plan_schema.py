"""The plan's JSON Schema (draft-07, strict) and validation that reports every error with its path.

Strict means `additionalProperties: false` on every object except the two free-form ones:
`model.inputs` (the example-input signature) and `config.normalized` (the config itself, which
the config schema describes, except that its four rule maps are ordered `[key, value]` pairs). Index keys are JSON strings of non-negative integers (`"0"`).
"""

from __future__ import annotations

from typing import Any

from quantplan.errors import ErrorDetail
from quantplan.quantization.calculators import QPARAM_CALCULATORS, RANGE_CALCULATORS
from quantplan.quantization.dtypes import ELEMENT_TYPES

__all__ = ["PLAN_SCHEMA_ID", "plan_schema", "plan_validation_errors"]

PLAN_SCHEMA_ID = "https://quantplan.dev/schemas/plan-1.json"
_FINGERPRINT = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}


def _strict(properties: dict, required: list[str] | None = None, description: str = "") -> dict:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": sorted(properties) if required is None else required,
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


def _text(description: str, **extra: Any) -> dict:
    return {"type": "string", "description": description, **extra}


def _granularity() -> dict:
    schema = _strict(
        {
            "type": {
                "enum": ["per_tensor", "per_channel", "per_block"],
                "description": "Granularity family.",
            },
            "axis": {
                "type": ["integer", "null"],
                "description": "Concrete axis; null for per_tensor and tuple block sizes.",
            },
            "block_size": {
                "description": "Elements per block along axis, or one extent per dimension (-1 = whole dimension).",
                "oneOf": [
                    {"type": "integer", "minimum": 1},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "integer", "anyOf": [{"minimum": 1}, {"const": -1}]},
                    },
                    {"type": "null"},
                ],
            },
        },
        description="A granularity with axis and block size resolved.",
    )
    schema["allOf"] = [
        _when("per_tensor", {"axis": {"type": "null"}, "block_size": {"type": "null"}}),
        _when("per_channel", {"axis": {"type": "integer"}, "block_size": {"type": "null"}}),
        _when("per_block", {"block_size": {"not": {"type": "null"}}}),
    ]
    return schema


def _when(kind: str, properties: dict) -> dict:
    return {"if": {"properties": {"type": {"const": kind}}}, "then": {"properties": properties}}


def _spec() -> dict:
    qparam_names = [name for name in QPARAM_CALCULATORS.names() if name != "default"]
    number = {"type": "number"}
    return _strict(
        {
            "dtype": {"enum": list(ELEMENT_TYPES), "description": "Quantized element dtype."},
            "qscheme": {
                "enum": ["symmetric", "symmetric_with_clipping", "asymmetric"],
                "description": "Placement of the integer range around zero.",
            },
            "qformulation": {
                "enum": ["zp", "minval"],
                "description": "Offset stored as a zero point (zp) or as the range minimum (minval).",
            },
            "granularity": {"$ref": "#/definitions/granularity"},
            "block_shape": {
                "$ref": "#/definitions/shape",
                "description": "Extent of the elements sharing one scale; the tensor's rank.",
            },
            "scale_shape": {
                "$ref": "#/definitions/shape",
                "description": "Shape of the scale tensor: tensor shape divided by block_shape.",
            },
            "quant_min": {
                **number,
                "description": "Lowest code (integer formats) or -fmax (float formats).",
            },
            "quant_max": {
                **number,
                "description": "Highest code (integer formats) or fmax (float formats).",
            },
            "scale_dtype": {
                "enum": ["float32", "float8_e8m0fnu"],
                "description": "Storage dtype of the scales.",
            },
            "scale_rounding": {
                "enum": [None, "floor"],
                "description": "floor: the OCP MX power-of-two rule for e8m0 scales; null otherwise.",
            },
            "qparam_calculator_cls": {
                "enum": qparam_names,
                "description": "Resolved qparams calculator.",
            },
            "range_calculator_cls": {
                "enum": list(RANGE_CALCULATORS.names()),
                "description": "Resolved range calculator.",
            },
            "float_range": {
                "type": "array",
                "minItems": 2,
                "maxItems": 2,
                "items": {"type": ["number", "null"]},
                "description": "Fixed [min, max] range bounds; null entries are observed.",
            },
            "rounding": {"enum": ["half_to_even"], "description": "Rounding of values to codes."},
        },
        description="A concrete quantization spec.",
    )


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


def _model() -> dict:
    capture = _strict(
        {
            "mode": {"enum": ["graph", "eager"]},
            "method": _text("Capture method, such as torch.export."),
            "specializations": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Shape specializations made.",
            },
        },
        description="How the graph was captured.",
    )
    return _strict(
        {
            "class": _text("Fully qualified class of the root module."),
            "execution_mode": {"enum": ["graph", "eager"]},
            "torch": _text("torch version used to compile."),
            "inputs": {
                "type": "object",
                "description": "Example-input signature (structure, shapes, dtypes, dynamic dims; an integer tensor whose values are all one nonzero value records it as fill).",
            },
            "fingerprint": {
                **_FINGERPRINT,
                "description": "Structure fingerprint; weight values excluded.",
            },
            "capture": capture,
        },
        required=["class", "execution_mode", "fingerprint", "inputs", "torch"],
    )


def _summary() -> dict:
    count = {"type": "integer", "minimum": 0}
    bits = {"type": ["number", "null"], "minimum": 0}
    return _strict(
        {
            "tensors": {
                "type": "object",
                "additionalProperties": count,
                "description": "Candidate weights per dtype/granularity, or float.",
            },
            "weight_bytes": _strict(
                {"before": count, "after": count}, description="Candidate-weight bytes."
            ),
            "bits_per_weight": _strict(
                {"candidates": bits, "quantized": bits}, description="Effective bits per weight."
            ),
        }
    )


def _lists() -> dict:
    skipped = _strict(
        {
            "param": _text("Parameter path."),
            "tensor": _text("Activation, such as 'linear_1 input 0'."),
            "op": _text("Op that consumes the tensor."),
            "reason": _text("Why the tensor stays in float."),
            "rule": _text("Rule that asked to quantize it."),
        },
        required=["op", "reason", "rule"],
    )
    skipped["oneOf"] = [{"required": ["param"]}, {"required": ["tensor"]}]
    return {
        "modules": {
            "type": "array",
            "items": _strict(
                {
                    "module": _text("Module path."),
                    "call_site": {"type": "integer", "minimum": 0},
                    "inputs": _index_map(),
                    "outputs": _index_map(),
                },
                required=["inputs", "module", "outputs"],
                description="Boundary specs of one module call.",
            ),
        },
        "shared": {
            "type": "array",
            "items": _strict(
                {
                    "params": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "ops": {"type": "array", "items": {"type": "string"}},
                    "spec": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/spec"}]},
                    "rule": _text("Rule that decided the group."),
                },
                description="Parameters sharing one storage.",
            ),
        },
        "skipped": {"type": "array", "items": skipped},
        "diagnostics": {
            "type": "array",
            "items": _strict(
                {
                    "severity": {"enum": ["info", "warning", "error"]},
                    "code": _text("Stable diagnostic code."),
                    "message": _text("What was found and what to do."),
                    "rule": {"type": ["string", "null"]},
                }
            ),
        },
    }


def _normalized_config() -> dict:
    pairs = {
        "type": "array",
        "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": [{"type": "string"}, {}]},
        "description": "Rules as [key, value] pairs in declaration order: the last declared match wins.",
    }
    module = {
        "type": ["object", "null"],
        "properties": {"op_type_config": pairs, "op_name_config": pairs},
    }
    rule_map = {
        "type": "array",
        "items": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": [{"type": "string"}, module],
        },
    }
    rule_map["description"] = pairs["description"]
    return {
        "type": "object",
        "description": (
            "The config as QuantizerConfig.to_dict() writes it, except that module_name_configs, "
            "module_type_configs, op_type_config and op_name_config are lists of [key, value] pairs in "
            "declaration order, because canonical JSON sorts object keys."
        ),
        "properties": {
            "quantization_config": {
                "type": "object",
                "properties": {
                    "global_config": module,
                    "module_name_configs": rule_map,
                    "module_type_configs": rule_map,
                },
            }
        },
    }


def plan_schema() -> dict:
    """Return the plan JSON Schema (draft-07) as a dict."""
    from quantplan.plan.model import PLAN_FORMAT

    root = _strict(
        {
            "format": {"const": PLAN_FORMAT, "description": "Plan format version."},
            "generator": _strict(
                {"name": _text("Program name."), "version": _text("Program version.")}
            ),
            "model": _model(),
            "config": _strict({"fingerprint": _FINGERPRINT, "normalized": _normalized_config()}),
            "ops": {
                "type": "array",
                "items": {"$ref": "#/definitions/op"},
                "description": "Ops in execution order.",
            },
            **_lists(),
            "summary": _summary(),
        },
        description="A quantplan quantization plan.",
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": PLAN_SCHEMA_ID,
        "title": "quantplan plan",
        **root,
        "definitions": {
            "shape": {
                "type": "array",
                "items": {"type": ["integer", "string"]},
                "description": "Dimensions; a dynamic one is its symbol.",
            },
            "granularity": _granularity(),
            "spec": _spec(),
            "entry": _entry(with_param=False),
            "state_entry": _entry(with_param=True),
            "op": _op(),
        },
    }


def plan_validation_errors(data: Any) -> list[ErrorDetail]:
    """Return every schema violation in `data`, each with its JSON path (`$.ops[0].name`)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(_cached_schema())
    details = [_detail(error) for error in validator.iter_errors(data)]
    return sorted(details, key=lambda detail: detail.path)


def _detail(error: Any) -> ErrorDetail:
    from jsonschema.exceptions import best_match

    while error.context:
        # In `oneOf: [null, {...}]` the null branch's type error tells nothing about an
        # object that fails the other branch, so prefer the errors from inside that branch.
        informative = [item for item in error.context if item.validator != "type" or item.path]
        error = best_match(informative or error.context)
    return ErrorDetail(path=error.json_path, message=error.message, value=error.instance)


_SCHEMA_CACHE: list[dict] = []


def _cached_schema() -> dict:
    if not _SCHEMA_CACHE:
        _SCHEMA_CACHE.append(plan_schema())
    return _SCHEMA_CACHE[0]
