"""Compiler diagnostics about the config's rules, computed from the resolver's matching facts.

Codes: `unmatched-rule`, `shadowed-rule`, `overlapping-rules`, `unquantizable-op-type`,
`implicit-activation-defaults`, `edge-spec-mismatch`, `fused-output-mismatch`,
`weight-key-outside-weight-role`, `skipped-tensor` and `nothing-quantized`. Under `strict`, unmatched rules, skipped tensors
and a plan that quantizes nothing become errors.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from quantplan.compiler.graph import ModelGraph
from quantplan.compiler.nearest import nearest
from quantplan.compiler.registry import OpRegistry
from quantplan.compiler.resolve.matching import ConfigIndex, quote
from quantplan.compiler.resolve.usage import KeyUsage
from quantplan.plan.model import Diagnostic, Skipped
from quantplan.quantization.config import QuantizerConfig

__all__ = ["RuleFindings", "config_enables_quantization", "rule_diagnostics", "skip_diagnostics"]


@attrs.define
class RuleFindings:
    """Diagnostics plus the subset that `strict` turns into errors."""

    diagnostics: list[Diagnostic] = attrs.field(factory=list)
    strict_errors: list[Diagnostic] = attrs.field(factory=list)

    def add(
        self,
        severity: str,
        code: str,
        message: str,
        rule: str | None = None,
        *,
        strict: bool = False,
    ) -> None:
        diagnostic = Diagnostic(severity=severity, code=code, message=message, rule=rule)
        self.diagnostics.append(diagnostic)
        if strict:
            self.strict_errors.append(diagnostic)


def _format_candidates(names: list[str]) -> str:
    return f" Nearest candidates: {', '.join(names)}." if names else ""


def _class_names(graph: ModelGraph) -> dict[str, str]:
    """Map short and fully qualified class names found in the model to the fully qualified name."""
    names = {}
    for module in graph.modules:
        for name in (module.type, *module.class_aliases):
            names[name] = module.type
            names.setdefault(name.rpartition(".")[2], module.type)
    return names


def rule_diagnostics(
    graph: ModelGraph,
    config: QuantizerConfig,
    index: ConfigIndex,
    usage: KeyUsage,
    registry: OpRegistry,
) -> RuleFindings:
    """Report unmatched, shadowed and overlapping module rules and unmatched op-level keys."""
    findings = RuleFindings()
    _module_key_findings(findings, graph, config, index, usage)
    for paths, modules in usage.overlaps.items():
        shown = ", ".join(modules[:5]) + (
            f" and {len(modules) - 5} more" if len(modules) > 5 else ""
        )
        findings.add(
            "info",
            "overlapping-rules",
            f"{' and '.join(paths)} all match {shown}; the last declared, {paths[-1]}, decides them.",
            paths[-1],
        )
    _op_key_findings(findings, graph, usage, registry)
    return findings


def _module_key_findings(
    findings: RuleFindings, graph, config, index: ConfigIndex, usage: KeyUsage
) -> None:
    module_paths = [module.path for module in graph.modules if module.path]
    classes = _class_names(graph)
    for level, keys in (
        ("name", list(config.module_name_configs)),
        ("type", list(config.module_type_configs)),
    ):
        for position, key in enumerate(keys):
            rule = f"module_{level}_configs{quote(key)}"
            matched = usage.matched.get((level, position))
            if not matched:
                hint = _module_key_hint(level, key, classes, module_paths)
                candidates = module_paths if level == "name" else sorted(set(classes.values()))
                message = f"{rule} matches no module in the model.{hint}{_format_candidates(nearest(key, candidates))}"
                findings.add("warning", "unmatched-rule", message, rule, strict=True)
            elif (level, position) not in usage.decided:
                findings.add(
                    "warning",
                    "shadowed-rule",
                    f"{rule} matches {', '.join(matched[:5])} but decides none of them: a deeper or later rule wins for each.",
                    rule,
                )


def _module_key_hint(level: str, key: str, classes: dict[str, str], module_paths: list[str]) -> str:
    if level == "name" and key in classes:
        return f" {key!r} is a module class ({classes[key]}); put it under module_type_configs."
    if level == "type" and key in module_paths:
        return f" {key!r} is a module name; put it under module_name_configs."
    if level == "type" and "." not in key:
        return " A key without a dot matches a class of that name (__name__) found in the model."
    return (
        " Keys are regular expressions full-matched against named_modules() names."
        if level == "name"
        else ""
    )


def _op_key_findings(
    findings: RuleFindings, graph: ModelGraph, usage: KeyUsage, registry: OpRegistry
) -> None:
    op_names = [op.name for op in graph.ops]
    op_types = sorted({op.type for op in graph.ops})
    classes = _class_names(graph)
    has_sdpa = "scaled_dot_product_attention" in op_types
    for scope, rule in usage.op_scopes.items():
        if rule.config is None:
            continue
        for kind, keys in (
            ("name", rule.config.op_name_config),
            ("type", rule.config.op_type_config),
        ):
            for key in keys:
                path = f"{scope}.op_{kind}_config{quote(key)}"
                matched = usage.op_matched.get((scope, kind, key), [])
                if kind == "type" and registry.get(key) is None and not matched:
                    message = _unregistered(key, path, registry, has_sdpa) + _op_key_hint(
                        kind, key, classes, False
                    )
                    findings.add("warning", "unquantizable-op-type", message, path)
                elif (matched and all(name.startswith("!") for name in matched)) or (
                    kind == "type" and registry.get(key) is None
                ):
                    findings.add(
                        "warning",
                        "unquantizable-op-type",
                        f"{path} matches only ops outside the quantizable-op registry ({', '.join(n[1:] for n in matched[:5])}); it has no effect.",
                        path,
                    )
                elif not matched:
                    candidates = op_names if kind == "name" else op_types
                    hint = _op_key_hint(kind, key, classes, has_sdpa)
                    message = f"{path} matches no op in its scope.{hint}{_format_candidates(nearest(key, candidates))}"
                    findings.add("warning", "unmatched-rule", message, path, strict=True)


def _op_key_hint(kind: str, key: str, classes: dict[str, str], has_sdpa: bool) -> str:
    if key in classes:
        return f" {key!r} is a module class ({classes[key]}), not an op {kind}; use module_type_configs."
    if kind == "type" and key == "softmax" and has_sdpa:
        return _SDPA_NOTE
    return ""


_SDPA_NOTE = (
    " The model exports scaled_dot_product_attention, which computes its softmax inside one op, "
    "so there is no softmax node to match."
)


def _unregistered(key: str, path: str, registry: OpRegistry, has_sdpa: bool) -> str:
    note = _SDPA_NOTE if key in ("scaled_dot_product_attention", "softmax") and has_sdpa else ""
    return (
        f"{path} names op type {key!r}, which is not a quantizable op type.{note} "
        f"Quantizable types: {', '.join(registry.names())}."
    )


def skip_diagnostics(findings: RuleFindings, skipped: Iterable[Skipped]) -> None:
    """Add one warning per skipped tensor (rule 12)."""
    for skip in skipped:
        what = skip.param if skip.param else skip.tensor
        findings.add(
            "warning",
            "skipped-tensor",
            f"{what} (op {skip.op}) stays in float: {skip.reason}.",
            skip.rule,
            strict=True,
        )


def config_enables_quantization(config: QuantizerConfig) -> bool:
    """Return whether any spec anywhere in the config is not None."""
    module_configs = [
        config.global_config,
        *config.module_type_configs.values(),
        *config.module_name_configs.values(),
    ]
    for module in module_configs:
        if module is None:
            continue
        holders = [module, *module.op_type_config.values(), *module.op_name_config.values()]
        groups = [
            getattr(holder, name) for holder in holders if holder is not None for name in _GROUPS
        ]
        groups += [module.module_input_spec, module.module_output_spec]
        if any(spec is not None for group in groups if group for spec in group.values()):
            return True
    return False


_GROUPS = ("op_input_spec", "op_output_spec", "op_state_spec")
