"""`ExecutionMode`: how the compiler captures ops, and its converter for config fields."""

from __future__ import annotations

import enum

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import excerpt

__all__ = ["ExecutionMode", "convert_execution_mode"]


class ExecutionMode(str, enum.Enum):
    """How the compiler captures ops: torch.export graph nodes, or eager torch-function calls."""

    GRAPH = "graph"
    EAGER = "eager"

    def __str__(self) -> str:
        return self.value


def convert_execution_mode(value: object) -> ExecutionMode:
    for member in ExecutionMode:
        if value == member or value == member.value:
            return member
    raise ConfigError(
        ErrorDetail(
            path="execution_mode",
            message=f"invalid execution_mode {excerpt(value)}. Use 'graph' or 'eager'.",
            value=value,
            expected=("graph", "eager"),
        )
    )
