"""The exception hierarchy and the error records that every stage reports through."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

__all__ = [
    "ConfigError",
    "ErrorDetail",
    "PlanError",
    "PlanMismatchError",
    "SourcePosition",
    "UnsupportedError",
]


@attrs.frozen
class SourcePosition:
    """A 1-based line and column in a source file (or `<string>` for YAML text)."""

    file: str | None
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file or '<string>'}:{self.line}:{self.column}"


@attrs.frozen
class ErrorDetail:
    """One problem in user input.

    `path` uses the config notation, for example
    `module_name_configs["fc2"].op_state_spec["weight"].granularity.block_size`;
    an empty path means the document root.
    """

    path: str
    message: str
    value: Any = attrs.field(default=None, eq=False)
    expected: tuple[str, ...] = ()
    suggestion: str | None = None
    position: SourcePosition | None = None

    def with_prefix(self, prefix: str) -> ErrorDetail:
        """Return this detail with `prefix` put in front of its path."""
        if not prefix:
            return self
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return attrs.evolve(self, path=path)

    def with_position(self, position: SourcePosition | None) -> ErrorDetail:
        """Return this detail located at `position`, unless it already has one."""
        if self.position is not None or position is None:
            return self
        return attrs.evolve(self, position=position)

    def format(self) -> str:
        """Format as `file:line:col: path: message` (the location parts only when known)."""
        parts = []
        if self.position is not None:
            parts.append(str(self.position))
        parts.append(self.path or "<root>")
        text = self.message
        if self.suggestion:
            text = f"{text} Did you mean {self.suggestion!r}?"
        parts.append(text)
        return ": ".join(parts)


def _sort_key(detail: ErrorDetail) -> tuple:
    position = detail.position
    return (detail.path, position.line if position else 0, position.column if position else 0)


class _DetailedError:
    """Mixin for errors that carry a sorted list of `ErrorDetail` records."""

    errors: list[ErrorDetail]

    def _init_details(self, details: str | ErrorDetail | Iterable[ErrorDetail]) -> None:
        if isinstance(details, str):
            details = [ErrorDetail(path="", message=details)]
        elif isinstance(details, ErrorDetail):
            details = [details]
        self.errors = sorted(details, key=_sort_key)

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return self.errors[0].format()
        lines = [f"{len(self.errors)} problems:"]
        lines += [f"  {detail.format()}" for detail in self.errors]
        return "\n".join(lines)


class ConfigError(_DetailedError, ValueError):
    """Invalid quantization config: every problem found, sorted by path."""

    def __init__(self, details: str | ErrorDetail | Iterable[ErrorDetail]):
        self._init_details(details)
        super().__init__(str(self))

    def with_prefix(self, prefix: str) -> ConfigError:
        """Return a copy whose paths all start with `prefix`."""
        return ConfigError([detail.with_prefix(prefix) for detail in self.errors])


class PlanError(_DetailedError, ValueError):
    """Invalid plan, or a plan that cannot be made or applied for this model."""

    def __init__(self, details: str | ErrorDetail | Iterable[ErrorDetail]):
        self._init_details(details)
        super().__init__(str(self))


class PlanMismatchError(PlanError):
    """The model no longer matches the plan's structure (a stale plan).

    `changes` lists human-readable differences such as `op added: linear_3`, and `advice`
    is the next step for the reader.
    """

    def __init__(
        self,
        changes: Iterable[str],
        *,
        context: str = "the model does not match the plan",
        advice: str = "recompile the plan for this model",
    ):
        self.changes = list(changes)
        detail = ErrorDetail(path="", message=_mismatch_message(context, advice, self.changes))
        super().__init__([detail])


def _mismatch_message(context: str, advice: str, changes: list[str]) -> str:
    shown = changes[:20]
    count = "1 difference" if len(changes) == 1 else f"{len(changes)} differences"
    lines = [f"{context} ({count}); {advice}:"]
    lines += [f"    - {change}" for change in shown]
    if len(changes) > len(shown):
        lines.append(f"    ... and {len(changes) - len(shown)} more")
    return "\n".join(lines)


class UnsupportedError(NotImplementedError):
    """A valid request for a combination that quantplan does not implement; the message names it."""
