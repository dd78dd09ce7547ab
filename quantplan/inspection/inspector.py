"""ModelInspector: capture a model and list its modules and ops, optionally with specs."""

from __future__ import annotations

from typing import Any

from torch import nn

from quantplan.compiler.capture import capture_model
from quantplan.compiler.graph import ModelGraph

__all__ = ["ModelInspector"]


class ModelInspector:
    """Capture `model` on `example_inputs` and describe what config keys can match.

    `format_summary()` lists module names and types, then op names, types and modules. Given
    a `config`, each op also shows the resolved spec of its inputs, outputs and state.
    """

    def __init__(
        self,
        model: nn.Module,
        example_inputs: Any,
        execution_mode: str = "graph",
        config: Any = None,
    ):
        self.model = model
        self.example_inputs = example_inputs
        self.execution_mode = str(getattr(execution_mode, "value", execution_mode))
        self.config = config
        self.graph: ModelGraph = capture_model(
            model, example_inputs, mode=self.execution_mode
        ).graph
        self._plan = None

    @property
    def modules(self) -> list[tuple[str, str]]:
        """(name, fully qualified type) of every module below the root."""
        return [(module.path, module.type) for module in self.graph.modules]

    @property
    def ops(self) -> list[tuple[str, str, str]]:
        """(name, type, module path) of every op, in execution order."""
        return [(op.name, op.type, op.module) for op in self.graph.ops]

    @property
    def plan(self):
        """The plan compiled from `config` (None without a config)."""
        if self.config is not None and self._plan is None:
            from quantplan import compile_plan

            self._plan = compile_plan(
                self.model, self.example_inputs, self.config, execution_mode=self.execution_mode
            )
        return self._plan

    def format_summary(self) -> str:
        """Format modules and ops (and resolved specs, given a config) as plain text."""
        lines = [f"Model: {self.graph.root_class} ({self.execution_mode} mode)", ""]
        lines += _table(
            f"Modules ({len(self.modules)})", ("name", "type"), [list(row) for row in self.modules]
        )
        lines.append("")
        specs = _op_specs(self.plan) if self.config is not None else {}
        rows = [[name, op_type, module or "(root)"] for name, op_type, module in self.ops]
        headers: tuple[str, ...] = ("name", "type", "module")
        if specs:
            headers += ("resolved specs",)
            rows = [[*row, specs.get(row[0], "-")] for row in rows]
        lines += _table(f"Ops ({len(rows)})", headers, rows)
        return "\n".join(lines)


def _table(title: str, headers: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    widths = [
        max([len(header)] + [len(row[index]) for row in rows])
        for index, header in enumerate(headers)
    ]
    lines = [
        title,
        (
            "  "
            + "  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=False))
        ).rstrip(),
    ]
    lines += [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in rows
    ]
    return lines


def _op_specs(plan) -> dict[str, str]:
    specs = {}
    for op in plan.ops:
        parts = [
            f"in{index}={_spec_text(entry.spec)}" for index, entry in sorted(op.inputs.items())
        ]
        parts += [f"{name}={_spec_text(entry.spec)}" for name, entry in sorted(op.state.items())]
        parts += [
            f"out{index}={_spec_text(entry.spec)}" for index, entry in sorted(op.outputs.items())
        ]
        specs[op.name] = " ".join(parts) or "-"
    return specs


def _spec_text(spec) -> str:
    if spec is None:
        return "float"
    granularity = spec.granularity
    detail = granularity.type
    if granularity.axis is not None:
        detail += f"(axis {granularity.axis}"
        detail += (
            f", block {granularity.block_size})" if granularity.block_size is not None else ")"
        )
    return f"{spec.dtype} {detail}"
