"""Fused groups: conv/conv_transpose/linear [-> batch_norm] [-> activation] and
matmul/bmm/add/mul [-> activation].

A group is quantized at its inputs (on its first op) and at its final output (on its last
op) only. An op joins the group when its first activation input is the previous member's
output and that output has no other consumer.
"""

from __future__ import annotations

from collections import Counter

from quantplan.compiler.graph import OpNode
from quantplan.compiler.registry import OpRegistry

__all__ = ["find_fused_groups"]


def find_fused_groups(ops: tuple[OpNode, ...], registry: OpRegistry) -> dict[str, list[str]]:
    """Return {first op name: member op names in order} for every group of two or more ops."""
    consumers = Counter(producer for op in ops for producer in op.input_producers if producer)
    next_op = {}
    for op in ops:
        if op.input_producers and op.input_producers[0]:
            next_op.setdefault(op.input_producers[0], op)
    groups: dict[str, list[str]] = {}
    claimed: set[str] = set()
    for op in ops:
        if op.name in claimed:
            continue
        members = _grow(op, next_op, consumers, registry)
        if len(members) > 1:
            groups[op.name] = members
            claimed.update(members)
    return groups


def _grow(first: OpNode, next_op: dict, consumers: Counter, registry: OpRegistry) -> list[str]:
    info = registry.get(first.type)
    if info is None or not info.fuses_with:
        return [first.name]
    members = [first.name]
    current = first
    for kind in info.fuses_with:
        follower = next_op.get(current.name)
        if follower is None or consumers[current.name] != 1:
            break
        follower_info = registry.get(follower.type)
        if follower_info is None or follower_info.kind != kind:
            continue
        members.append(follower.name)
        current = follower
    return members
