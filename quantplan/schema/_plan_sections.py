"""Plan schema of the top-level sections besides ops: model, lists, summary and config."""

from __future__ import annotations

from quantplan.schema._plan_ops import _index_map
from quantplan.schema._plan_parts import _FINGERPRINT, _strict, _text


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
