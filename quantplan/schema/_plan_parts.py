"""Building blocks of the plan schema: strict objects, described strings and fingerprints."""

from __future__ import annotations

from typing import Any

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
