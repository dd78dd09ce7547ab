"""`resolve(graph, config)`: the pure function from a model graph and a config to a Plan.

It reads only its arguments, never logs and never changes them. Precedence lives in
`quantplan.compiler.resolve.matching`, which `explain` uses too.
"""

from __future__ import annotations

import torch

from quantplan.compiler.diagnostics import (
    RuleFindings,
    config_enables_quantization,
    rule_diagnostics,
    skip_diagnostics,
)
from quantplan.compiler.graph import ModelGraph
from quantplan.compiler.registry import OpRegistry, default_registry
from quantplan.compiler.resolve.boundaries import module_boundaries
from quantplan.compiler.resolve.checks import (
    DecidedOp,
    edge_findings,
    fused_findings,
    implicit_default_findings,
    unselected_weight_findings,
)
from quantplan.compiler.resolve.fusion import find_fused_groups
from quantplan.compiler.resolve.matching import ConfigIndex, op_rule_candidates
from quantplan.compiler.resolve.ops import EntryCollector, OpContext, resolve_op
from quantplan.compiler.resolve.shared import shared_groups
from quantplan.compiler.resolve.usage import collect_usage
from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.config_order import config_to_plan_data
from quantplan.plan.fingerprint import config_fingerprint, structure_fingerprint
from quantplan.plan.finite import check_finite_data
from quantplan.plan.model import CaptureMeta, ConfigMeta, ModelMeta, Plan
from quantplan.plan.summary import summarize
from quantplan.quantization.config import QuantizerConfig

__all__ = ["resolve"]


def resolve(
    graph: ModelGraph,
    config: QuantizerConfig,
    *,
    strict: bool = False,
    registry: OpRegistry | None = None,
) -> Plan:
    """Resolve `config` against `graph` into a Plan.

    Raises ConfigError for a config that cannot apply to this model (an ambiguous class
    key) and PlanError for conflicting shared parameters, missing axes, and, with `strict`,
    for every unmatched rule, skipped tensor or a plan that quantizes nothing.
    """
    registry = registry or default_registry()
    index = ConfigIndex(config, graph.modules)
    params = {alias: param for param in graph.parameters for alias in (param.path, *param.aliases)}
    groups = find_fused_groups(graph.ops, registry)
    collector = EntryCollector()

    decided_ops = _resolve_ops(graph, index, registry, groups, params, collector)
    plan_ops = [decided.plan_op for decided in decided_ops]
    boundaries = module_boundaries(graph.module_calls, index, collector)
    shared, conflicts = shared_groups(plan_ops, graph.parameters)
    if conflicts or collector.axis_errors:
        raise PlanError([*conflicts, *collector.axis_errors])

    findings = _diagnose(graph, config, index, registry, groups, decided_ops, collector)
    if not any(
        entry.spec for _, _, _, entry in _entries(plan_ops, boundaries)
    ) and config_enables_quantization(config):
        findings.add(
            "warning",
            "nothing-quantized",
            "the config enables quantization but the plan quantizes no tensor; check the rules' keys against "
            "`quantplan inspect`.",
            strict=True,
        )
    if strict and findings.strict_errors:
        raise PlanError([_strict_error(diagnostic) for diagnostic in findings.strict_errors])

    normalized = config_to_plan_data(config.to_dict())
    check_finite_data(normalized, "config", "$.config.normalized")
    return Plan(
        model=_model_meta(graph),
        config=ConfigMeta(fingerprint=config_fingerprint(normalized), normalized=normalized),
        ops=plan_ops,
        summary=summarize(plan_ops, shared),
        modules=boundaries,
        shared=shared,
        skipped=collector.skipped,
        diagnostics=findings.diagnostics,
    )


def _strict_error(diagnostic) -> ErrorDetail:
    """Turn a diagnostic into an error, without repeating the rule that the path already names."""
    path = diagnostic.rule or ""
    message = diagnostic.message
    if path and message.startswith(path + " "):
        message = message[len(path) + 1 :]
    return ErrorDetail(path=path, message=message)


def _resolve_ops(graph, index, registry, groups, params, collector) -> list[DecidedOp]:
    position = {}
    for first, members in groups.items():
        for place, name in enumerate(members):
            position[name] = (first, place == 0, place == len(members) - 1)
    decided = []
    for op in graph.ops:
        info = registry.get(op.type)
        in_group = position.get(op.name)
        if info is None or (info.fusion_only and in_group is None):
            continue
        module_rule = index.decide_module(op.module, op.module_type)
        op_rule = op_rule_candidates(module_rule, op.name, op.type, op.target)[0]
        first, is_first, is_last = in_group or (None, True, True)
        context = OpContext(info, op_rule, first, is_first, is_last)
        plan_op = resolve_op(op, context, params, collector)
        if plan_op.inputs or plan_op.outputs or plan_op.state or first is not None:
            decided.append(DecidedOp(op, plan_op, module_rule, op_rule))
    return decided


def _diagnose(graph, config, index, registry, groups, decided_ops, collector) -> RuleFindings:
    quantizable = {decided.plan_op.name for decided in decided_ops}
    usage = collect_usage(graph, index, quantizable)
    findings = rule_diagnostics(graph, config, index, usage, registry)
    implicit_default_findings(findings, decided_ops, index)
    edge_findings(findings, decided_ops)
    fused_findings(findings, groups, {decided.plan_op.name: decided for decided in decided_ops})
    unselected_weight_findings(findings, collector.unselected_weights)
    skip_diagnostics(findings, collector.skipped)
    return findings


def _entries(ops, boundaries):
    for op in ops:
        for group in ("inputs", "outputs", "state"):
            for key, entry in getattr(op, group).items():
                yield op, group, key, entry
    for boundary in boundaries:
        for group in ("inputs", "outputs"):
            for key, entry in getattr(boundary, group).items():
                yield boundary, group, key, entry


def _model_meta(graph: ModelGraph) -> ModelMeta:
    capture = graph.capture
    return ModelMeta(
        class_name=graph.root_class,
        execution_mode=graph.execution_mode,
        torch=torch.__version__.split("+")[0],
        inputs=graph.inputs,
        fingerprint=structure_fingerprint(graph),
        capture=CaptureMeta(
            mode=capture.mode, method=capture.method, specializations=capture.specializations
        ),
    )
