"""The quantizable-op registry: which op types the compiler quantizes, and how they fuse.

The registry is an explicit table. `default_registry()` builds the standard table in one
place; nothing registers op types as a side effect of importing another module. `"*"` keys
and the global defaults reach exactly the op types listed here (except `fusion_only` ones,
which are quantized only as members of a fused group). Aliases of op types (`concat` for
`cat`, `add_` for `add`) resolve through the capture's `canonical_op_type`, so the resolver
and both capture modes agree on them.

Example: `default_registry().get("linear")` returns the `linear` entry, whose `weight`
parameter role is its weight and whose first activation input is its only candidate input.
"""

from __future__ import annotations

import difflib

import attrs

from quantplan.compiler.capture.op_types import canonical_op_type

__all__ = [
    "ACTIVATION_TYPES",
    "OpRegistry",
    "OpTypeInfo",
    "default_registry",
]

WEIGHTED = "weighted"
ELEMENTWISE = "elementwise"
ACTIVATION = "activation"
OTHER = "other"
NORM = "norm"

ACTIVATION_TYPES = (
    "relu",
    "relu6",
    "leaky_relu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "hardswish",
    "hardsigmoid",
    "elu",
    "softmax",
)


@attrs.frozen
class OpTypeInfo:
    """One quantizable op type.

    `kind` is `weighted`, `elementwise`, `activation`, `norm` or `other`. `weight_layout` is
    the layout of the weight parameter (`out_in`, `in_out_conv_transpose`, `vocab_dim`) for
    weighted ops. `activation_inputs` lists the candidate input indices, or None for all of
    them. `fuses_with` lists the op kinds that may follow this op in a fused group, in order.
    """

    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    weight_layout: str | None = None
    activation_inputs: tuple[int, ...] | None = None
    fuses_with: tuple[str, ...] = ()
    fusion_only: bool = False


class OpRegistry:
    """A table of quantizable op types keyed by canonical name; aliases resolve to their entry."""

    def __init__(self) -> None:
        self._types: dict[str, OpTypeInfo] = {}
        self._by_alias: dict[str, str] = {}

    def register(self, info: OpTypeInfo) -> OpTypeInfo:
        """Add `info`; a name or alias that is already registered raises ValueError."""
        for name in (info.name, *info.aliases):
            if name in self._by_alias:
                raise ValueError(
                    f"op type {name!r} is already registered (as {self._by_alias[name]!r})."
                )
        self._types[info.name] = info
        for name in (info.name, *info.aliases):
            self._by_alias[name] = info.name
        return info

    def get(self, op_type: str) -> OpTypeInfo | None:
        """Return the entry for an op type or one of its aliases, or None if it is not registered."""
        canonical = self.canonical(op_type)
        return None if canonical is None else self._types[canonical]

    def canonical(self, op_type: str) -> str | None:
        """Return the canonical name of a registered op type or alias (`concat` -> `cat`)."""
        found = self._by_alias.get(op_type)
        return found if found is not None else self._by_alias.get(canonical_op_type(op_type))

    def names(self) -> tuple[str, ...]:
        """Return the canonical op type names in registration order."""
        return tuple(self._types)

    def reachable(self, op_type: str) -> bool:
        """Whether `"*"` keys and global defaults reach ops of this type outside a fused group."""
        info = self.get(op_type)
        return info is not None and not info.fusion_only

    def closest(self, op_type: str, count: int = 3) -> list[str]:
        """Return the registered names closest to `op_type`, for messages."""
        return difflib.get_close_matches(op_type, list(self._by_alias), n=count, cutoff=0.5)


def _weighted(name: str, layout: str, fuses_with: tuple[str, ...]) -> OpTypeInfo:
    return OpTypeInfo(name, WEIGHTED, (), layout, (0,), fuses_with)


def default_registry() -> OpRegistry:
    """Build the standard table of quantizable ops."""
    registry = OpRegistry()
    conv_fusion = (NORM, ACTIVATION)
    for rank in (1, 2, 3):
        registry.register(_weighted(f"conv{rank}d", "out_in", conv_fusion))
        registry.register(_weighted(f"conv_transpose{rank}d", "in_out_conv_transpose", conv_fusion))
    registry.register(_weighted("linear", "out_in", conv_fusion))
    registry.register(OpTypeInfo("embedding", WEIGHTED, (), "vocab_dim", (), ()))
    for name in ("matmul", "mm", "bmm", "add", "mul"):
        registry.register(OpTypeInfo(name, ELEMENTWISE, (), fuses_with=(ACTIVATION,)))
    for name in ("einsum", "sub", "cat", "flatten", "mean"):
        registry.register(OpTypeInfo(name, OTHER, ()))
    for name in _POOLS:
        registry.register(OpTypeInfo(name, OTHER, ()))
    for name in ACTIVATION_TYPES:
        registry.register(OpTypeInfo(name, ACTIVATION, (), activation_inputs=(0,)))
    registry.register(OpTypeInfo("batch_norm", NORM, (), activation_inputs=(0,), fusion_only=True))
    return registry


_POOLS = (
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
)
