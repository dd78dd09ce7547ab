"""Compare two plans: what a config change does, grouped for review.

Entries are matched by location (op name + group + index or local name; module path + call site
for boundaries). A change of spec is a spec change; a change of rule alone is a rule-only change.
Ops, entries, shared groups and skips that appear or disappear, or whose fields change, also
make the plans differ. Metadata alone (generator, torch version, fingerprints, input signature,
diagnostics) does not: it is reported in `notes`.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from quantplan.plan.model import Entry, Plan, PlanOp, Summary

__all__ = ["EntryChange", "EntryLocation", "PlanDiff", "diff"]

_OP_FIELDS = ("type", "target", "module", "module_type", "call_site", "fused_group")


@attrs.frozen
class EntryLocation:
    """Location of an entry: `kind` is `op` (name = op name) or `module` (name = module path)."""

    kind: str
    name: str
    group: str
    key: int | str
    module: str = ""
    call_site: int = 0

    @property
    def is_weight(self) -> bool:
        """Whether the entry is op state, which the summary counts as a candidate weight."""
        return self.kind == "op" and self.group == "state"


@attrs.frozen
class EntryChange:
    """One entry in both plans (or in one: `before` or `after` is None when added or removed)."""

    location: EntryLocation
    before: Entry | None
    after: Entry | None

    @property
    def param(self) -> str | None:
        """The parameter path of a state entry, from whichever side has it."""
        entry = self.after or self.before
        return entry.param if entry is not None else None


@attrs.frozen
class PlanDiff:
    """The differences between two plans; `changed` decides the `quantplan diff` exit code.

    The entry lists contain EntryChange records, and the other lists contain human-readable lines.
    """

    spec_changes: tuple[EntryChange, ...] = ()
    rule_changes: tuple[EntryChange, ...] = ()
    added: tuple[EntryChange, ...] = ()
    removed: tuple[EntryChange, ...] = ()
    op_changes: tuple[str, ...] = ()
    shared_changes: tuple[str, ...] = ()
    skipped_changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    summary_before: Summary = attrs.field(factory=Summary)
    summary_after: Summary = attrs.field(factory=Summary)

    @property
    def changed(self) -> bool:
        """Whether anything other than metadata differs."""
        return bool(
            self.spec_changes
            or self.rule_changes
            or self.added
            or self.removed
            or self.op_changes
            or self.shared_changes
            or self.skipped_changes
        )

    def to_text(self) -> str:
        """Render for a terminal."""
        from quantplan.plan.diff_format import format_text

        return format_text(self)

    def to_markdown(self) -> str:
        """Render as Markdown for a pull-request comment."""
        from quantplan.plan.diff_format import format_markdown

        return format_markdown(self)

    def to_json(self) -> str:
        """Render as canonical JSON."""
        from quantplan.plan.diff_format import format_json

        return format_json(self)


def _op_entries(op: PlanOp) -> Iterator[tuple[EntryLocation, Entry]]:
    for group in ("inputs", "outputs", "state"):
        for key, entry in getattr(op, group).items():
            yield (
                EntryLocation("op", op.name, group, key, module=op.module, call_site=op.call_site),
                entry,
            )


def _all_entries(plan: Plan) -> dict[EntryLocation, Entry]:
    entries = {}
    for op in plan.ops:
        entries.update(_op_entries(op))
    for boundary in plan.modules:
        for group in ("inputs", "outputs"):
            for key, entry in getattr(boundary, group).items():
                location = EntryLocation(
                    "module", boundary.module, group, key, boundary.module, boundary.call_site
                )
                entries[location] = entry
    return entries


def _entry_changes(old: Plan, new: Plan) -> dict[str, list[EntryChange]]:
    before, after = _all_entries(old), _all_entries(new)
    changes: dict[str, list[EntryChange]] = {"spec": [], "rule": [], "added": [], "removed": []}
    for location, entry in before.items():
        if location not in after:
            changes["removed"].append(EntryChange(location, entry, None))
    for location, entry in after.items():
        old_entry = before.get(location)
        if old_entry is None:
            changes["added"].append(EntryChange(location, None, entry))
        elif (
            old_entry.spec != entry.spec
            or old_entry.shape != entry.shape
            or old_entry.dtype != entry.dtype
        ):
            changes["spec"].append(EntryChange(location, old_entry, entry))
        elif old_entry != entry:
            changes["rule"].append(EntryChange(location, old_entry, entry))
    return changes


def _op_changes(old: Plan, new: Plan) -> list[str]:
    before = {op.name: op for op in old.ops}
    after = {op.name: op for op in new.ops}
    lines = [
        f"op {name} removed ({op.type} in {op.module or '<root>'})"
        for name, op in before.items()
        if name not in after
    ]
    lines += [
        f"op {name} added ({op.type} in {op.module or '<root>'})"
        for name, op in after.items()
        if name not in before
    ]
    for name, op in after.items():
        if name in before:
            lines += [
                f"op {name}: {field} {getattr(before[name], field)!r} -> {getattr(op, field)!r}"
                for field in _OP_FIELDS
                if getattr(before[name], field) != getattr(op, field)
            ]
    if [name for name in before if name in after] != [name for name in after if name in before]:
        lines.append("ops run in a different order")
    return lines


def _keyed_changes(kind: str, before: dict, after: dict) -> list[str]:
    lines = [f"{kind} {key} removed" for key in before if key not in after]
    lines += [f"{kind} {key} added" for key in after if key not in before]
    lines += [
        f"{kind} {key} changed" for key in after if key in before and before[key] != after[key]
    ]
    return lines


def _shared_changes(old: Plan, new: Plan) -> list[str]:
    def keyed(plan: Plan) -> dict:
        return {"[" + ", ".join(group.params) + "]": group for group in plan.shared}

    return _keyed_changes("shared group", keyed(old), keyed(new))


def _skipped_changes(old: Plan, new: Plan) -> list[str]:
    def keyed(plan: Plan) -> dict:
        return {f"{item.param or item.tensor} (op {item.op})": item for item in plan.skipped}

    before, after = keyed(old), keyed(new)
    lines = [f"{key} no longer skipped" for key in before if key not in after]
    lines += [
        f"{key} now skipped: {item.reason} (rule {item.rule})"
        for key, item in after.items()
        if key not in before
    ]
    lines += [
        f"{key} still skipped, now: {item.reason} (rule {item.rule})"
        for key, item in after.items()
        if key in before and before[key] != item
    ]
    return lines


def _notes(old: Plan, new: Plan) -> list[str]:
    fields = {
        "format": (old.format, new.format),
        "generator": (
            f"{old.generator.name} {old.generator.version}",
            f"{new.generator.name} {new.generator.version}",
        ),
        "torch version": (old.model.torch, new.model.torch),
        "model class": (old.model.class_name, new.model.class_name),
        "execution mode": (old.model.execution_mode, new.model.execution_mode),
        "structure fingerprint": (old.model.fingerprint, new.model.fingerprint),
        "input signature": (old.model.inputs, new.model.inputs),
        "capture": (old.model.capture, new.model.capture),
        "config fingerprint": (old.config.fingerprint, new.config.fingerprint),
    }
    notes = [_note(name, values) for name, values in fields.items() if values[0] != values[1]]
    if old.diagnostics != new.diagnostics:
        notes.append(f"diagnostics: {len(old.diagnostics)} -> {len(new.diagnostics)}")
        removed = _missing(old.diagnostics, new.diagnostics)
        added = _missing(new.diagnostics, old.diagnostics)
        notes += [f"diagnostic removed: {_describe_diagnostic(item)}" for item in removed]
        notes += [f"diagnostic added: {_describe_diagnostic(item)}" for item in added]
    return notes


def _missing(items, others) -> list:
    """Return the items of `items` not in `others`, counting repeats, in their original order."""
    remaining = list(others)
    missing = []
    for item in items:
        if item in remaining:
            remaining.remove(item)
        else:
            missing.append(item)
    return missing


def _describe_diagnostic(diagnostic) -> str:
    rule = f" (rule {diagnostic.rule})" if diagnostic.rule else ""
    return f"{diagnostic.severity} [{diagnostic.code}]{rule}: {diagnostic.message}"


def _note(name: str, values: tuple) -> str:
    if not all(isinstance(value, str) and len(value) <= 80 for value in values):
        return f"{name} changed"
    old, new = (_short_digest(value) for value in values)
    return f"{name}: {old} -> {new}"


def _short_digest(value: str) -> str:
    # 12 hex digits identify a fingerprint in a review comment; the plan files keep all 64.
    return value[:19] + "..." if value.startswith("sha256:") else value


def diff(old: Plan, new: Plan) -> PlanDiff:
    """Compare `old` with `new`; see the module docstring for what counts as a change."""
    changes = _entry_changes(old, new)
    return PlanDiff(
        spec_changes=tuple(changes["spec"]),
        rule_changes=tuple(changes["rule"]),
        added=tuple(changes["added"]),
        removed=tuple(changes["removed"]),
        op_changes=tuple(_op_changes(old, new)),
        shared_changes=tuple(_shared_changes(old, new)),
        skipped_changes=tuple(_skipped_changes(old, new)),
        notes=tuple(_notes(old, new)),
        summary_before=old.summary,
        summary_after=new.summary,
    )
