"""The plan data model: frozen attrs classes that mirror the plan JSON field for field.

A plan is the compiler's complete, reviewable record: one entry per candidate tensor of every
quantizable op, each with its concrete spec (None = left in float) and the config rule that
decided it. The runtime reads only these classes and never reads the config.

In memory, input and output indices are ints (`op.inputs[0]`); JSON object keys are strings
(`"0"`), and `Plan.from_json` restores the ints. `Plan.from_json(plan.to_json()) == plan`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan._converters import int_tuple
from quantplan.plan.entries import Entry, ModuleBoundary, PlanOp, SharedGroup
from quantplan.plan.findings import Diagnostic, Skipped, Summary
from quantplan.plan.metadata import CaptureMeta, ConfigMeta, GeneratorMeta, ModelMeta
from quantplan.plan.resolved_spec import ResolvedGranularity, ResolvedSpec

__all__ = [
    "PLAN_FORMAT",
    "CaptureMeta",
    "ConfigMeta",
    "Diagnostic",
    "Entry",
    "GeneratorMeta",
    "ModelMeta",
    "ModuleBoundary",
    "Plan",
    "PlanOp",
    "ResolvedGranularity",
    "ResolvedSpec",
    "SharedGroup",
    "Skipped",
    "Summary",
]

PLAN_FORMAT = "quantplan.plan/1"
ENTRY_GROUPS = ("inputs", "outputs", "state")


@attrs.frozen
class Plan:
    """A complete quantization plan. See the module docstring for the JSON correspondence."""

    model: ModelMeta
    config: ConfigMeta
    ops: tuple[PlanOp, ...] = attrs.field(converter=int_tuple)
    summary: Summary
    modules: tuple[ModuleBoundary, ...] = attrs.field(default=(), converter=int_tuple)
    shared: tuple[SharedGroup, ...] = attrs.field(default=(), converter=int_tuple)
    skipped: tuple[Skipped, ...] = attrs.field(default=(), converter=int_tuple)
    diagnostics: tuple[Diagnostic, ...] = attrs.field(default=(), converter=int_tuple)
    generator: GeneratorMeta = attrs.field(factory=GeneratorMeta)
    format: str = PLAN_FORMAT

    def to_json(self) -> str:
        """Return the canonical JSON text: sorted keys, 2-space indent, trailing newline."""
        from quantplan.plan.codec import plan_to_json

        return plan_to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Parse and validate plan JSON; raise PlanError listing every problem with its JSON path."""
        from quantplan.plan.codec import plan_from_json

        return plan_from_json(text)

    def save(self, path: str | Path) -> None:
        """Write the canonical JSON to `path` atomically (temporary file + rename)."""
        from quantplan.plan.io import atomic_write_text

        text = self.to_json()
        try:
            atomic_write_text(path, text)
        except OSError as error:
            message = f"cannot write the plan to {str(path)!r}: {error.strerror or error}. Choose a writable file path."
            raise PlanError(ErrorDetail(path=str(path), message=message, value=str(path))) from None

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read a plan file; an unreadable or invalid file raises PlanError naming it."""
        from quantplan.plan.codec import plan_from_file

        return plan_from_file(path)

    def sha256(self) -> str:
        """Return the hex SHA-256 digest of the canonical JSON (64 characters, no prefix)."""
        import hashlib

        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def op(self, name: str) -> PlanOp:
        """Return the op called `name`; raise PlanError with the closest names if none is."""
        for op in self.ops:
            if op.name == name:
                return op
        names = [op.name for op in self.ops]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise PlanError(
            ErrorDetail(path="ops", message=f"no op named {name!r} in the plan.{hint}", value=name)
        )

    def entries(self) -> Iterator[tuple[PlanOp, str, int | str, Entry]]:
        """Yield (op, group, key, entry) for every entry, in op order then inputs, outputs, state."""
        for op in self.ops:
            for group in ENTRY_GROUPS:
                for key, entry in getattr(op, group).items():
                    yield op, group, key, entry

    def explain(self, name: str) -> Any:
        """Explain which rule decided op or parameter `name` (see quantplan.compiler.explain)."""
        from quantplan.compiler.explain import explain

        return explain(self, name)
