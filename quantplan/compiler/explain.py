"""`explain(plan, name)`: which rule decided an op or a parameter, and which rules it shadowed.

The rules are recomputed from the normalized config that the plan stores, through the
resolver's own matching functions, so explain and compile cannot disagree on precedence.
"""

from __future__ import annotations

import attrs

from quantplan.compiler.graph import ModuleInfo
from quantplan.compiler.nearest import nearest
from quantplan.compiler.resolve.matching import ConfigIndex, ModuleRule, OpRule, op_rule_candidates
from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.config_order import config_from_plan_data
from quantplan.plan.describe import describe_spec
from quantplan.plan.model import Entry, Plan, PlanOp
from quantplan.quantization.config import QuantizerConfig
from quantplan.quantization.keys import resolve_module_class

__all__ = ["Explanation", "OpExplanation", "explain"]


@attrs.frozen
class OpExplanation:
    """One op: its module-level and op-level rules (winner first) and its entries."""

    op: PlanOp
    module_rules: tuple[ModuleRule, ...]
    op_rules: tuple[OpRule, ...]
    entries: tuple[tuple[str, Entry], ...]

    @property
    def module_rule(self) -> ModuleRule:
        """The module-level rule that decided the op's module."""
        return self.module_rules[0]

    @property
    def op_rule(self) -> OpRule:
        """The op-level rule (inside the module rule's config) that decided the op."""
        return self.op_rules[0]

    def lines(self) -> list[str]:
        """Format as indented text lines."""
        op = self.op
        module = op.module or "<root>"
        lines = [f"op {op.name} ({op.type}) in {module} ({op.module_type})"]
        lines.append(f"  module rule: {self.module_rule.path}")
        winner = self.module_rule
        lines += [
            f"    shadows {rule.path}{_why(rule)}"
            for rule in self.module_rules[1:]
            if rule.path != winner.path
        ]
        op_label = self.op_rule.path
        if self.op_rule.config is None:
            op_label += " (None: every tensor stays in float)"
        elif self.op_rule.kind == "own":
            op_label += " (its own op_*_spec)"
        lines.append(f"  op rule: {op_label}")
        lines += [
            f"    shadows {rule.path}"
            for rule in self.op_rules[1:]
            if rule.path != self.op_rule.path
        ]
        for label, entry in self.entries:
            lines.append(f"  {label}: {describe_spec(entry.spec)}  <- {entry.rule}")
        return lines


@attrs.frozen
class Explanation:
    """Why the entries of an op or of a parameter are what they are; `str()` prints it."""

    name: str
    kind: str
    ops: tuple[OpExplanation, ...]

    def __str__(self) -> str:
        header = f"{self.kind} {self.name}: decided in {len(self.ops)} op(s)"
        lines = [header]
        for item in self.ops:
            lines += item.lines()
        return "\n".join(lines)


def explain(plan: Plan, name: str) -> Explanation:
    """Explain op `name` or parameter path `name`; raise PlanError if the plan has neither."""
    config = QuantizerConfig.from_dict(config_from_plan_data(plan.config.normalized))
    index = ConfigIndex(config, _modules_from_plan(plan))
    op_names = {op.name for op in plan.ops}
    if name in op_names:
        op = plan.op(name)
        return Explanation(name, "op", (_explain_op(index, op, _all_entries(op)),))
    aliases = _aliases(plan, name)
    found = []
    for op in plan.ops:
        entries = tuple(
            (f"state {key} ({entry.param})", entry)
            for key, entry in op.state.items()
            if entry.param in aliases
        )
        if entries:
            found.append(_explain_op(index, op, entries))
    if not found:
        raise PlanError(_not_found(plan, name))
    return Explanation(name, "parameter", tuple(found))


def _explain_op(index: ConfigIndex, op: PlanOp, entries) -> OpExplanation:
    module_rules = index.module_candidates(op.module, op.module_type)
    op_rules = op_rule_candidates(module_rules[0], op.name, op.type, op.target)
    return OpExplanation(op, tuple(module_rules), tuple(op_rules), tuple(entries))


def _all_entries(op: PlanOp) -> tuple[tuple[str, Entry], ...]:
    entries = [(f"input {key}", entry) for key, entry in op.inputs.items()]
    entries += [(f"output {key}", entry) for key, entry in op.outputs.items()]
    entries += [(f"state {key} ({entry.param})", entry) for key, entry in op.state.items()]
    return tuple(entries)


def _aliases(plan: Plan, name: str) -> set[str]:
    for group in plan.shared:
        if name in group.params:
            return set(group.params)
    return {name}


def _modules_from_plan(plan: Plan) -> list[ModuleInfo]:
    """Rebuild module records from the ops' module stacks.

    Base classes come from the class itself when it can be resolved without importing
    arbitrary code; otherwise only exact-class keys can match it here.
    """
    modules = {"": (plan.model.class_name)}
    for op in plan.ops:
        for path, type_name in op.module_stack:
            modules.setdefault(path, type_name)
        modules.setdefault(op.module, op.module_type)
    return [
        ModuleInfo(path=path, type=type_name, mro=_mro(type_name))
        for path, type_name in modules.items()
    ]


def _mro(type_name: str) -> tuple[str, ...]:
    from torch import nn

    cls = resolve_module_class(type_name) if "." in type_name else None
    if cls is None:
        return (type_name,)
    return (
        type_name,
        *(
            f"{base.__module__}.{base.__qualname__}"
            for base in cls.__mro__[1:]
            if issubclass(base, nn.Module)
        ),
    )


def _why(rule: ModuleRule) -> str:
    if rule.level == "global":
        return ""
    where = "this module" if rule.depth == 0 else f"ancestor {rule.matched or '<root>'}"
    kind = "" if rule.level == "name" or rule.exact else ", base class"
    return f" (matches {where}{kind})"


def _not_found(plan: Plan, name: str) -> ErrorDetail:
    names = [op.name for op in plan.ops] + [
        entry.param for *_, entry in plan.entries() if entry.param
    ]
    close = nearest(name, names)
    hint = f" Nearest candidates: {', '.join(close)}." if close else ""
    message = f"not found in the plan as an op name or a parameter path.{hint}"
    return ErrorDetail(path=name, message=message, value=name, expected=tuple(close))
