"""Config paths in the notation that errors and plan rules share.

Example: `module_name_configs["decoder.deconv1"].op_state_spec["weight"].granularity.block_size`.
"""

from __future__ import annotations

__all__ = ["join_attribute", "join_key", "key_segment"]


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
