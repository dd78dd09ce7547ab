"""Tensor decisions: which key of the deciding config's spec map selects each tensor.

A spec map prefers an explicit key to `"*"`. A map that has neither leaves the tensor in
float, and the rule string names the missing key with the suffix ` (key absent)`, so that it
differs from a None group (`global_config.op_input_spec`).
"""

from __future__ import annotations

import attrs

from quantplan.compiler.resolve.matching import ModuleRule, OpRule, quote
from quantplan.quantization.spec import QuantizationSpec

__all__ = [
    "KEY_ABSENT",
    "TensorDecision",
    "boundary_decision",
    "decide_index_tensor",
    "decide_state_tensor",
    "state_key",
]


@attrs.frozen
class TensorDecision:
    """The spec that a rule gives one tensor (None = float) and the rule string that decided it."""

    spec: QuantizationSpec | None
    rule: str
    group: str | None = None
    key: int | str | None = None


KEY_ABSENT = " (key absent)"


def _group_rule(rule: OpRule, group: str, suffix: str, *, absent: bool = False) -> str:
    text = f"{rule.path}.{group}{suffix}"
    if rule.config is not None and group in rule.config.defaulted_fields:
        text += " (default)"
    if absent:
        text += KEY_ABSENT
    return text


def decide_index_tensor(rule: OpRule, group: str, index: int) -> TensorDecision:
    """Decide an input or output tensor (`group` is `op_input_spec` or `op_output_spec`)."""
    if rule.config is None:
        return TensorDecision(None, rule.path)
    specs = getattr(rule.config, group)
    if specs is None:
        return TensorDecision(None, _group_rule(rule, group, ""), group)
    for key in (index, "*"):
        if key in specs:
            return TensorDecision(specs[key], _group_rule(rule, group, quote(key)), group, key)
    return TensorDecision(None, _group_rule(rule, group, quote(index), absent=True), group)


def state_key(specs: dict | None, local_name: str, role: str) -> str | None:
    """Return the `op_state_spec` key that selects a parameter, or None.

    The attribute name beats the `weight` key, which beats `"*"`. The `weight` key selects
    the parameter in the op's weight role (a raw `gate` passed to F.linear included).
    NOTE: a parameter that is merely named `weight` outside a weight role (an RMSNorm scale
    read by `mul`) is selected only by `"*"`, so `{"weight": spec}` means "the op's weights".
    """
    if not specs:
        return None
    own_name = local_name if (local_name != "weight" or role == "weight") else None
    for key, applies in (
        (own_name, own_name is not None),
        ("weight", role == "weight"),
        ("*", True),
    ):
        if applies and key in specs:
            return key
    return None


def decide_state_tensor(rule: OpRule, local_name: str, role: str) -> TensorDecision:
    """Decide a parameter consumed by the op, by attribute name and role."""
    if rule.config is None:
        return TensorDecision(None, rule.path)
    specs = rule.config.op_state_spec
    if specs is None:
        return TensorDecision(None, _group_rule(rule, "op_state_spec", ""), "op_state_spec")
    key = state_key(specs, local_name, role)
    if key is None:
        return TensorDecision(
            None,
            _group_rule(rule, "op_state_spec", quote(local_name), absent=True),
            "op_state_spec",
        )
    return TensorDecision(
        specs[key], _group_rule(rule, "op_state_spec", quote(key)), "op_state_spec", key
    )


def boundary_decision(rule: ModuleRule, group: str, index: int) -> TensorDecision:
    """Decide a module boundary tensor (`group` is `module_input_spec` or `module_output_spec`)."""
    specs = getattr(rule.config, group)
    prefix = f"{rule.path}.{group}"
    if specs is None:
        return TensorDecision(None, prefix, group)
    for key in (index, "*"):
        if key in specs:
            return TensorDecision(specs[key], prefix + quote(key), group, key)
    return TensorDecision(None, prefix + quote(index) + KEY_ABSENT, group)
