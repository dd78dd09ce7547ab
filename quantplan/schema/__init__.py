"""JSON Schemas for configs and plans, and the validation entry points."""

from __future__ import annotations

from quantplan.schema.config_schema import CONFIG_SCHEMA_FILE, config_schema, render_config_schema
from quantplan.schema.validate import schema_problems, validate_config_data, validate_config_file

__all__ = [
    "CONFIG_SCHEMA_FILE",
    "config_schema",
    "render_config_schema",
    "schema_problems",
    "validate_config_data",
    "validate_config_file",
]
