"""Fingerprints: SHA-256 digests of a model's structure and of a normalized config.

Both are `sha256:<64 hex digits>` over canonical JSON, so they are stable across runs,
machines and dict orderings.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from quantplan.compiler.graph import ModelGraph

if TYPE_CHECKING:
    from quantplan.compiler.registry import OpRegistry

__all__ = ["config_fingerprint", "structure_fingerprint", "structure_record"]


def _digest(data: Any) -> str:
    # The first pass turns int keys into strings, so that mixed keys such as 0 and "*" can sort.
    data = json.loads(json.dumps(data, allow_nan=False))
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def structure_record(graph: ModelGraph, registry: OpRegistry | None = None) -> dict:
    """Return the structure that `structure_fingerprint` hashes, as plain JSON data.

    The record lists the ops that a plan can depend on, with their names, types, module paths
    and parameter uses. Those are the ops whose type is in `registry` (the default registry when
    None) and every op that consumes a parameter. It also lists module paths with their classes
    and parameter paths (aliases included) with shapes and dtypes. Weight values, activation
    shapes, the capture method and layout ops such as `view` or `contiguous` are left out. So a
    model on the meta device, where torch.export records `contiguous` copies that it drops on
    CPU, and the same model with trained weights on CPU give the same record.
    """
    if registry is None:
        from quantplan.compiler.registry import default_registry

        registry = default_registry()
    return {
        "ops": [
            [op.name, op.type, op.module, [[use.local_name, use.path] for use in op.params]]
            for op in graph.ops
            if op.params or registry.get(op.type) is not None
        ],
        "modules": sorted([module.path, module.type] for module in graph.modules),
        "parameters": sorted(
            [param.path, sorted(param.aliases), list(param.shape), param.dtype]
            for param in graph.parameters
        ),
    }


def structure_fingerprint(graph: ModelGraph, registry: OpRegistry | None = None) -> str:
    """Return `sha256:<hex>` over the model's structure (see `structure_record`).

    Compile and the runtime's stale-plan check both call this one function.
    """
    return _digest(structure_record(graph, registry))


def config_fingerprint(normalized: dict) -> str:
    """Return `sha256:<hex>` over the normalized config's canonical JSON (int keys hash as strings)."""
    return _digest(normalized)
