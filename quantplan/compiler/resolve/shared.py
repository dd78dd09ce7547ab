"""Shared parameters: one storage reached through several paths or consumed by several ops.

Every consumer's state entry must carry the same spec; a disable counts as a spec. A
conflict is a compile error that names every alias path, the rules involved and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable

from quantplan.compiler.graph import ParamInfo
from quantplan.errors import ErrorDetail
from quantplan.plan.model import Entry, PlanOp, SharedGroup

__all__ = ["shared_groups"]


def shared_groups(
    ops: Iterable[PlanOp], params: Iterable[ParamInfo]
) -> tuple[list[SharedGroup], list[ErrorDetail]]:
    """Return the shared groups in parameter order, and one error per storage with conflicting specs."""
    by_alias = {}
    for param in params:
        for alias in param.aliases or (param.path,):
            by_alias[alias] = param
    consumers: dict[str, list[tuple[PlanOp, Entry]]] = {}
    for op in ops:
        for entry in op.state.values():
            param = by_alias.get(entry.param)
            if param is not None:
                consumers.setdefault(param.path, []).append((op, entry))
    groups, errors = [], []
    for param in params:
        uses = consumers.get(param.path, [])
        op_names = tuple(dict.fromkeys(op.name for op, _ in uses))
        if not uses or (len(param.aliases) <= 1 and len(op_names) <= 1):
            continue
        if len({entry.spec for _, entry in uses}) > 1:
            errors.append(_conflict(param, uses))
            continue
        first = uses[0][1]
        groups.append(
            SharedGroup(
                params=param.aliases or (param.path,),
                ops=op_names,
                spec=first.spec,
                rule=first.rule,
            )
        )
    return groups, errors


def _describe(spec) -> str:
    if spec is None:
        return "float"
    granularity = spec.granularity
    return (
        f"{spec.dtype} {granularity.type} (axis {granularity.axis}, block {granularity.block_size})"
    )


def _conflict(param: ParamInfo, uses: list[tuple[PlanOp, Entry]]) -> ErrorDetail:
    aliases = ", ".join(param.aliases or (param.path,))
    lines = [
        f"op {op.name} reads {entry.param} as {_describe(entry.spec)} by {entry.rule}"
        for op, entry in uses
    ]
    rules = sorted({entry.rule for _, entry in uses})
    return ErrorDetail(
        path=rules[0],
        message=(
            f"parameters {aliases} share one storage but their consumers resolve to different specs: "
            + "; ".join(lines)
            + ". One storage is quantized once, so give every consumer the same spec: change "
            + " or ".join(rules)
            + " so that they agree (for example add a module_name_configs rule that covers all of "
            + aliases
            + "), or untie the parameters."
        ),
        value=param.path,
    )
