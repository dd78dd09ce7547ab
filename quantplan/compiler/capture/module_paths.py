"""Map the module paths recorded in torch.export metadata to `named_modules()` names.

Current torch.export writes `nn_module_stack` entries whose path is already the module's
qualified name (`blocks.0.fc`). Older releases and dynamo wrote forms such as
`L['self'].blocks[0].fc`, `getattr(L['self'].blocks, '0').fc` or `L__self___blocks_0_fc`.
The mapper accepts a path only when it resolves to an existing module name; it never cuts a
fixed number of characters, so a format change fails loudly instead of yielding wrong names.
"""

from __future__ import annotations

import re

from torch import nn

from quantplan.errors import PlanError

__all__ = ["ModulePathMapper"]

_ROOT_PREFIXES = ("L['self']", 'L["self"]', "L__self__", "self", "_orig_mod")
_GETATTR = re.compile(r"getattr\(([^,()]+),\s*['\"]([^'\"]+)['\"]\)")
_INDEX = re.compile(r"\[['\"]?([^\]'\"]+)['\"]?\]")


class ModulePathMapper:
    """Resolve raw module paths from graph metadata against a model's `named_modules()`."""

    def __init__(self, model: nn.Module):
        self._names = {name for name, _ in model.named_modules(remove_duplicate=False)}
        self._flattened: dict[str, set[str]] = {}
        for name in self._names:
            self._flattened.setdefault(name.replace(".", "_"), set()).add(name)
        self._cache: dict[str, str] = {}

    def resolve(self, raw: str) -> str:
        """Return the `named_modules()` name for a raw metadata path ("" for the root)."""
        cached = self._cache.get(raw)
        if cached is None:
            cached = self._resolve(raw)
            self._cache[raw] = cached
        return cached

    def _resolve(self, raw: str) -> str:
        if raw in self._names:
            return raw
        dotted = _strip_root(_expand_getattr(raw))
        dotted = _INDEX.sub(r".\1", dotted).lstrip(".")
        if dotted in self._names:
            return dotted
        flattened = self._flattened.get(_strip_root(raw).lstrip("_"))
        if flattened is not None and len(flattened) == 1:
            return next(iter(flattened))
        raise PlanError(
            f"graph metadata names module {raw!r}, which matches no name in "
            "model.named_modules(); this torch version writes module paths in a form quantplan "
            'does not know, so capture with execution_mode="eager" instead'
        )


def _expand_getattr(raw: str) -> str:
    previous = None
    while previous != raw:
        previous = raw
        raw = _GETATTR.sub(r"\1.\2", raw)
    return raw


def _strip_root(raw: str) -> str:
    for prefix in _ROOT_PREFIXES:
        if raw == prefix:
            return ""
        if raw.startswith(prefix) and raw[len(prefix)] in "._[":
            return raw[len(prefix) :]
    return raw
