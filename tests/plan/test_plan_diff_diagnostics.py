"""Plan diff names the diagnostics that were added or removed, not only their count."""

from __future__ import annotations

import attrs

from quantplan.plan.diff import diff
from quantplan.plan.model import Diagnostic

from .plan_builders import tinynet_plan

UNMATCHED = Diagnostic(
    severity="warning",
    code="unmatched-rule",
    message='module_name_configs["fc3"] matches no module.',
    rule='module_name_configs["fc3"]',
)
DEFAULT = Diagnostic(
    severity="info", code="implicit-default", message="op_input_spec takes its default.", rule=None
)
ADDED_NOTE = "diagnostic added: info [implicit-default]: op_input_spec takes its default."


def test_diagnostic_swap_lists_both():
    old = tinynet_plan(diagnostics=[UNMATCHED])
    new = tinynet_plan(diagnostics=[DEFAULT])
    notes = diff(old, new).notes
    assert notes == (
        "diagnostics: 1 -> 1",
        'diagnostic removed: warning [unmatched-rule] (rule module_name_configs["fc3"]): '
        'module_name_configs["fc3"] matches no module.',
        ADDED_NOTE,
    )


def test_diagnostic_change_keeps_plans_same():
    old = tinynet_plan(diagnostics=[UNMATCHED])
    new = attrs.evolve(old, diagnostics=[UNMATCHED, DEFAULT])
    result = diff(old, new)
    assert not result.changed
    assert result.notes[-1] == ADDED_NOTE
