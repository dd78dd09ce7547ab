"""The plan's JSON Schema (draft-07, strict) and validation that reports every error with its path.

Strict means `additionalProperties: false` on every object except the two free-form ones:
`model.inputs` (the example-input signature) and `config.normalized` (the config itself, which
the config schema describes, except that its four rule maps are ordered `[key, value]` pairs). Index keys are JSON strings of non-negative integers (`"0"`).
"""

from __future__ import annotations

from typing import Any

from quantplan.errors import ErrorDetail
from quantplan.schema._plan_ops import _entry, _op
from quantplan.schema._plan_parts import _FINGERPRINT, _strict, _text
from quantplan.schema._plan_sections import _lists, _model, _normalized_config, _summary
from quantplan.schema._plan_spec import _granularity, _spec

__all__ = ["PLAN_SCHEMA_ID", "plan_schema", "plan_validation_errors"]

PLAN_SCHEMA_ID = "https://quantplan.dev/schemas/plan-1.json"


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
