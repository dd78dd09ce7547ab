"""Which config keys matched what: the facts behind unmatched, shadowed and overlap diagnostics."""

from __future__ import annotations

import attrs

from quantplan.compiler.graph import ModelGraph
from quantplan.compiler.resolve.matching import ConfigIndex, ModuleRule, op_rule_candidates

__all__ = ["KeyUsage", "collect_usage"]


@attrs.define
class KeyUsage:
    """Per module-level key: modules it matched and decided. Per op-level key: ops it matched.

    Module keys are (level, position); op keys are (module rule path, kind, key).
    `overlaps` maps a tuple of same-level rule paths to the modules they all match directly.
    """

    matched: dict[tuple[str, int], list[str]] = attrs.field(factory=dict)
    decided: set[tuple[str, int]] = attrs.field(factory=set)
    overlaps: dict[tuple[str, ...], list[str]] = attrs.field(factory=dict)
    op_scopes: dict[str, ModuleRule] = attrs.field(factory=dict)
    op_matched: dict[tuple[str, str, str], list[str]] = attrs.field(factory=dict)


def collect_usage(graph: ModelGraph, index: ConfigIndex, quantizable: set[str]) -> KeyUsage:
    """Match every key against every module and op once; `quantizable` contains the plan's op names."""
    usage = KeyUsage()
    for module in graph.modules:
        _module_usage(usage, index, module.path, module.type)
    for op in graph.ops:
        rule = index.decide_module(op.module, op.module_type)
        usage.op_scopes.setdefault(rule.path, rule)
        for op_rule in op_rule_candidates(rule, op.name, op.type, op.target):
            if op_rule.kind != "own":
                key = (rule.path, op_rule.kind, op_rule.key)
                usage.op_matched.setdefault(key, []).append(
                    op.name if op.name in quantizable else f"!{op.name}"
                )
    return usage


def _module_usage(usage: KeyUsage, index: ConfigIndex, path: str, type_name: str) -> None:
    candidates = index.module_candidates(path, type_name)
    winner = candidates[0]
    if winner.level != "global":
        usage.decided.add((winner.level, winner.position))
    direct: dict[tuple[str, bool], list[str]] = {}
    for rule in candidates:
        if rule.level == "global":
            continue
        if rule.depth == 0:
            usage.matched.setdefault((rule.level, rule.position), []).append(path)
            direct.setdefault((rule.level, rule.exact), []).append(rule.path)
    for paths in direct.values():
        if len(paths) > 1:
            usage.overlaps.setdefault(tuple(reversed(paths)), []).append(path)
