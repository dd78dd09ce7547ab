"""Looking up dotted module type keys (`torch.nn.Linear`) without importing arbitrary code.

A dotted name is looked up only if its module is already imported or lies under `torch.`.
A name found that way must be an nn.Module subclass. A name under `torch.` that is not
found is a typo, because torch is always importable. Any other name is left for the
compiler, which matches it against the classes found in the model.
"""

from __future__ import annotations

import importlib
import sys

import attrs

from quantplan.errors import ErrorDetail
from quantplan.quantization.fields import closest, excerpt

__all__ = ["DottedLookup", "lookup_dotted", "not_a_module_detail", "torch_typo_detail"]


@attrs.frozen
class DottedLookup:
    """The result of looking up a dotted name.

    `module_name` is the longest importable prefix, or None when no prefix is imported.
    `target` is the object found, or None when the rest of the name does not resolve.
    `parent` is the deepest object reached on the way; a typo is compared with its names.
    """

    module_name: str | None
    target: object | None
    parent: object | None = None

    @property
    def under_torch(self) -> bool:
        return self.module_name is not None and _is_torch(self.module_name)


def lookup_dotted(name: str) -> DottedLookup:
    """Find the object that a dotted name refers to, importing only modules under `torch.`."""
    module_name, _, attribute = name.rpartition(".")
    while module_name:
        module = sys.modules.get(module_name)
        if module is None and _is_torch(module_name):
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        if module is not None:
            target, parent = _walk_attributes(module, attribute)
            return DottedLookup(module_name, target, parent)
        module_name, _, head = module_name.rpartition(".")
        attribute = f"{head}.{attribute}"
    return DottedLookup(None, None)


def _is_torch(module_name: str) -> bool:
    return module_name == "torch" or module_name.startswith("torch.")


def _walk_attributes(root: object, dotted: str) -> tuple[object | None, object]:
    """Return (the object at `dotted` or None, the deepest object reached)."""
    target = root
    for part in dotted.split("."):
        child = getattr(target, part, None)
        if child is None:
            return None, target
        target = child
    return target, target


def not_a_module_detail(key: str, target: object) -> ErrorDetail:
    """Describe a module type key that names something other than an nn.Module subclass."""
    kind = "class" if isinstance(target, type) else type(target).__name__
    return ErrorDetail(
        path="",
        message=(
            f"invalid module type key {excerpt(key)}: it names a {kind} that is not an "
            "nn.Module subclass. Use a module class such as torch.nn.Linear."
        ),
        value=key,
    )


def torch_typo_detail(key: str, lookup: DottedLookup) -> ErrorDetail:
    """Describe a name under `torch.` that does not exist, suggesting the nearest module class."""
    import torch.nn as nn

    parent = lookup.parent
    names = [
        name
        for name in dir(parent)
        if isinstance(getattr(parent, name, None), type)
        and issubclass(getattr(parent, name), nn.Module)
    ]
    prefix, _, last = key.rpartition(".")
    nearest = closest(last, names)
    return ErrorDetail(
        path="",
        message=(
            f"invalid module type key {excerpt(key)}: {excerpt(prefix)} has no module "
            "class of that name. Check the spelling."
        ),
        value=key,
        suggestion=f"{prefix}.{nearest}" if nearest else None,
    )
