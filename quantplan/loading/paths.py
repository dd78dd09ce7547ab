"""Config paths in the notation that errors and plan rules share.

Example: `module_name_configs["decoder.deconv1"].op_state_spec["weight"].granularity.block_size`.
"""

from __future__ import annotations

__all__ = ["document_path", "join_attribute", "join_key", "key_segment"]


def key_segment(key: object) -> str:
    """Return `[0]` for an integer key and `["name"]` for any other key."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"[{key}]"
    return f'["{key}"]'


def join_key(path: str, key: object) -> str:
    """Append a map key to `path`."""
    return path + key_segment(key)


def join_attribute(path: str, name: str) -> str:
    """Append an attribute (field) name to `path`."""
    return f"{path}.{name}" if path else name


# Fields whose values are maps keyed by user names or positions, shown as `field["key"]`.
_MAP_FIELDS = frozenset(
    {
        "quantization_spec",
        "op_input_spec",
        "op_output_spec",
        "op_state_spec",
        "module_input_spec",
        "module_output_spec",
        "op_type_config",
        "op_name_config",
        "module_type_configs",
        "module_name_configs",
    }
)


def document_path(keys: tuple) -> str:
    """Return the config path of a place in the document, given its YAML keys and list indices.

    `("quantization_config", "global_config", "op_input_spec", "*")` becomes
    `global_config.op_input_spec["*"]`, the notation of every other config error.
    """
    if keys and keys[0] == "quantization_config":
        keys = keys[1:]
    path = ""
    in_map = False
    for key in keys:
        if in_map or isinstance(key, int):
            path = join_key(path, key)
            in_map = False
        else:
            path = join_attribute(path, str(key))
            in_map = key in _MAP_FIELDS
    return path
