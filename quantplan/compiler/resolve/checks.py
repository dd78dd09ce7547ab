"""Diagnostics about the resolved entries: implicit defaults, edges and fused groups."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from quantplan.compiler.diagnostics import RuleFindings
from quantplan.compiler.graph import OpNode
from quantplan.compiler.resolve.decisions import decide_index_tensor
from quantplan.compiler.resolve.matching import ConfigIndex, ModuleRule, OpRule
from quantplan.plan.model import PlanOp

__all__ = [
    "DecidedOp",
    "edge_findings",
    "fused_findings",
    "implicit_default_findings",
    "unselected_weight_findings",
]

_ACTIVATION_GROUPS = ("op_input_spec", "op_output_spec")


@attrs.frozen
class DecidedOp:
    """A graph op with its plan op and the module-level and op-level rules that decided it."""

    node: OpNode
    plan_op: PlanOp
    module_rule: ModuleRule
    op_rule: OpRule


def _disables_activations(config) -> bool:
    return config is None or all(not getattr(config, group) for group in _ACTIVATION_GROUPS)


def _parent_config(decided: DecidedOp, index: ConfigIndex):
    """Return (rule path, config) of what would decide this op if its own rule were absent."""
    if decided.op_rule.kind != "own":
        return decided.module_rule.path, decided.module_rule.config
    candidates = index.module_candidates(decided.node.module, decided.node.module_type)
    if len(candidates) < 2:
        return None, None
    return candidates[1].path, candidates[1].config


def implicit_default_findings(
    findings: RuleFindings, decided_ops: Iterable[DecidedOp], index: ConfigIndex
) -> None:
    """Note configs whose omitted op_input_spec/op_output_spec quantize activations by default.

    This fires when the config sets op_state_spec itself (so it reads as weight-only), or when
    the rule it replaces leaves activations in float.
    """
    seen = set()
    for decided in decided_ops:
        rule, config = decided.op_rule, decided.op_rule.config
        if config is None or rule.path in seen:
            continue
        omitted = [group for group in _ACTIVATION_GROUPS if group in config.defaulted_fields]
        if not omitted or not _quantizes_activations(decided.plan_op):
            continue
        parent_path, parent = _parent_config(decided, index)
        sets_state = "op_state_spec" not in config.defaulted_fields
        if parent_path is not None and _disables_activations(parent) and parent_path != rule.path:
            reason = f"although {parent_path}, the rule it replaces, leaves activations in float"
        elif sets_state:
            reason = "although it sets op_state_spec, which reads as weight-only quantization"
        else:
            continue
        seen.add(rule.path)
        findings.add(
            "warning",
            "implicit-activation-defaults",
            f"{rule.path} omits {' and '.join(omitted)}, so activations take the default int8 per-tensor spec "
            f"(W8A8 defaults) {reason}. Set {' and '.join(omitted)} to null for weight-only quantization.",
            rule.path,
        )


def _quantizes_activations(op: PlanOp) -> bool:
    entries = [*op.inputs.values(), *op.outputs.values()]
    return any(entry.spec is not None and entry.rule.endswith("(default)") for entry in entries)


def edge_findings(findings: RuleFindings, decided_ops: list[DecidedOp], examples: int = 3) -> None:
    """Note edges whose producer output and consumer input carry different specs.

    Edges are grouped by the two deciding rules and specs, one diagnostic per group with the
    edge count and the first `examples` edges, so that a large model gives a few lines.
    """
    by_name = {decided.plan_op.name: decided.plan_op for decided in decided_ops}
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for decided in decided_ops:
        consumer = decided.plan_op
        for index, entry in consumer.inputs.items():
            producer_name = (
                decided.node.input_producers[index]
                if index < len(decided.node.input_producers)
                else None
            )
            producer = by_name.get(producer_name)
            if producer is None or len(producer.outputs) != 1:
                continue
            produced = next(iter(producer.outputs.values()))
            if produced.spec != entry.spec:
                key = (produced.rule, _label(produced.spec), entry.rule, _label(entry.spec))
                groups.setdefault(key, []).append(
                    f"{producer.name} -> {consumer.name} (input {index})"
                )
    for (producer_rule, producer_spec, consumer_rule, consumer_spec), edges in groups.items():
        shown = ", ".join(edges[:examples]) + (
            f" and {len(edges) - examples} more" if len(edges) > examples else ""
        )
        findings.add(
            "info",
            "edge-spec-mismatch",
            f"{len(edges)} edge(s) carry different specs at their two ends: {producer_spec} at the producer by "
            f"{producer_rule}, {consumer_spec} at the consumer by {consumer_rule}. Edges: {shown}.",
            consumer_rule,
        )


def _label(spec) -> str:
    return "float" if spec is None else f"{spec.dtype} {spec.granularity.type}"


def fused_findings(
    findings: RuleFindings, groups: dict[str, list[str]], decided: dict[str, DecidedOp]
) -> None:
    """Note fused groups whose first op's rule asked for another output spec than the last op's."""
    for first_name, members in groups.items():
        first, last = decided.get(first_name), decided.get(members[-1])
        if first is None or last is None:
            continue
        asked = decide_index_tensor(first.op_rule, "op_output_spec", 0)
        given = decide_index_tensor(last.op_rule, "op_output_spec", 0)
        if asked.spec != given.spec:
            findings.add(
                "info",
                "fused-output-mismatch",
                f"fused group {' -> '.join(members)} is quantized at its final output only, which {given.rule} "
                f"decides; {asked.rule} asked for another output spec for {first_name}.",
                asked.rule,
            )


def unselected_weight_findings(
    findings: RuleFindings, unselected: dict[str, list[tuple[str, str]]]
) -> None:
    """Note, once per rule, the parameters named `weight` that its `weight` key did not select.

    The `weight` key of `op_state_spec` selects the parameter in an op's weight role (the
    weight of a linear, conv or embedding op). A norm scale named `weight` that `mul` reads is
    in no weight role, so it gets no entry unless a `"*"` key selects it.
    """
    for rule, uses in unselected.items():
        paths = list(dict.fromkeys(path for path, _ in uses))
        op_types = sorted({op_type for _, op_type in uses})
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        findings.add(
            "info",
            "weight-key-outside-weight-role",
            f"{rule} selects only parameters in an op's weight role (the weight of a linear, conv, "
            f"embedding or parameter-operand matmul), so {len(paths)} "
            f"parameter(s) named weight that {', '.join(op_types)} ops read have no entry and stay in float: "
            f'{shown}. To quantize them, give those ops an op_state_spec with a "*" key '
            f'(for example op_type_config["{op_types[0]}"]).',
            rule,
        )
