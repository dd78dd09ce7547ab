"""Module boundary specs (`module_input_spec` / `module_output_spec`), one record per call.

Boundary specs apply at a module whose own deciding rule sets them: a rule that decides a
module only as an ancestor's rule does not quantize that descendant's boundary.
"""

from __future__ import annotations

from collections.abc import Iterable

from quantplan.compiler.axes import TensorRole
from quantplan.compiler.graph import ModuleCall
from quantplan.compiler.resolve.decisions import boundary_decision
from quantplan.compiler.resolve.matching import ConfigIndex
from quantplan.compiler.resolve.ops import EntryCollector, is_float
from quantplan.plan.model import ModuleBoundary

__all__ = ["module_boundaries"]


def module_boundaries(
    calls: Iterable[ModuleCall], index: ConfigIndex, collector: EntryCollector
) -> list[ModuleBoundary]:
    """Return the boundary records of every module call whose deciding rule sets boundary specs."""
    boundaries = []
    for call in calls:
        rule = index.decide_module(call.path, call.type)
        if rule.config is None or not rule.config.has_boundary_specs() or rule.matched != call.path:
            continue
        tensor = TensorRole("activation", call.type)
        label = f"module {call.path} call {call.call_site}"
        inputs = {}
        for position, info in call.inputs:
            if is_float(info.dtype):
                decision = boundary_decision(rule, "module_input_spec", position)
                inputs[position] = collector.entry(
                    decision,
                    info.shape,
                    info.dtype,
                    tensor,
                    op=call.path,
                    label=f"{label} input {position}",
                )
        outputs = {}
        for position, info in enumerate(call.outputs):
            if is_float(info.dtype):
                decision = boundary_decision(rule, "module_output_spec", position)
                outputs[position] = collector.entry(
                    decision,
                    info.shape,
                    info.dtype,
                    tensor,
                    op=call.path,
                    label=f"{label} output {position}",
                )
        boundaries.append(
            ModuleBoundary(
                module=call.path, call_site=call.call_site, inputs=inputs, outputs=outputs
            )
        )
    return boundaries
