"""The plan: data model, canonical JSON, fingerprints, summary and diff.

`quantplan.plan.diff` is the function `diff(old, new) -> PlanDiff`; the module that defines
it stays importable as `from quantplan.plan.diff import PlanDiff`.
"""

from quantplan.plan.diff import PlanDiff, diff
from quantplan.plan.fingerprint import config_fingerprint, structure_fingerprint
from quantplan.plan.io import atomic_write_bytes, atomic_write_text
from quantplan.plan.model import (
    PLAN_FORMAT,
    CaptureMeta,
    ConfigMeta,
    Diagnostic,
    Entry,
    GeneratorMeta,
    ModelMeta,
    ModuleBoundary,
    Plan,
    PlanOp,
    ResolvedGranularity,
    ResolvedSpec,
    SharedGroup,
    Skipped,
    Summary,
)
from quantplan.plan.summary import summarize

__all__ = [
    "PLAN_FORMAT",
    "CaptureMeta",
    "ConfigMeta",
    "Diagnostic",
    "Entry",
    "GeneratorMeta",
    "ModelMeta",
    "ModuleBoundary",
    "Plan",
    "PlanDiff",
    "PlanOp",
    "ResolvedGranularity",
    "ResolvedSpec",
    "SharedGroup",
    "Skipped",
    "Summary",
    "atomic_write_bytes",
    "atomic_write_text",
    "config_fingerprint",
    "diff",
    "structure_fingerprint",
    "summarize",
]
