"""Plan schema definitions of a resolved spec and its granularity."""

from __future__ import annotations

from quantplan.quantization.calculators import QPARAM_CALCULATORS, RANGE_CALCULATORS
from quantplan.quantization.dtypes import ELEMENT_TYPES
from quantplan.schema._plan_parts import _strict


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
