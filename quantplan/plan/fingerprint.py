"""Fingerprints: SHA-256 digests of a model's structure and of a normalized config.

Both are `sha256:<64 hex digits>` over canonical JSON, so they are stable across runs,
machines and dict orderings.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from quantplan.compiler.graph import ModelGraph

__all__ = ["config_fingerprint", "structure_fingerprint", "structure_record"]


def _digest(data: Any) -> str:
    # The first pass turns int keys into strings, so that mixed keys such as 0 and "*" can sort.
    data = json.loads(json.dumps(data, allow_nan=False))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def structure_record(graph: ModelGraph) -> dict:
    """Return the structure that `structure_fingerprint` hashes, as plain JSON data.

    It has op names and types with their module paths and parameter uses, module paths with
    their classes, and parameter paths (aliases included) with shapes and dtypes. Weight values,
    activation shapes and the capture method are left out, so a model on the meta device and
    the same model with trained weights give the same record.
    """
    return {
        "ops": [
            [op.name, op.type, op.module, [[use.local_name, use.path] for use in op.params]]
            for op in graph.ops
        ],
        "modules": sorted([module.path, module.type] for module in graph.modules),
        "parameters": sorted(
            [param.path, sorted(param.aliases), list(param.shape), param.dtype] for param in graph.parameters
        ),
    }


def structure_fingerprint(graph: ModelGraph) -> str:
    """Return `sha256:<hex>` over the model's structure (see `structure_record`)."""
    return _digest(structure_record(graph))


def config_fingerprint(normalized: dict) -> str:
    """Return `sha256:<hex>` over the normalized config's canonical JSON (int keys hash as strings)."""
    return _digest(normalized)
