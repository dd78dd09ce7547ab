"""Render a PlanDiff as text, Markdown (for a pull-request comment) or JSON.

Spec changes come first, grouped by kind with counts ("12 weights int8 -> int4"); rule-only
changes follow in their own section, then structural changes, the weight-bytes line and notes.
"""

from __future__ import annotations

from collections import defaultdict

from quantplan.plan.codec import dumps_canonical, entry_to_data
from quantplan.plan.describe import describe_granularity, describe_spec, entry_label, format_shape
from quantplan.plan.diff import EntryChange, PlanDiff
from quantplan.plan.model import ResolvedSpec, Summary

__all__ = ["change_groups", "format_json", "format_markdown", "format_text", "headline"]


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def _role(change: EntryChange) -> tuple[str, str]:
    if change.location.is_weight:
        return "weight", "weights"
    if change.location.kind == "op":
        return "activation", "activations"
    return "module boundary entry", "module boundary entries"


def _short(spec: ResolvedSpec | None, level: int) -> str:
    if spec is None:
        return "float"
    if level == 0:
        return spec.dtype
    if level == 1:
        return f"{spec.dtype} {spec.granularity.type}"
    return f"{spec.dtype} {describe_granularity(spec)}"


def _kind(change: EntryChange) -> str:
    before, after = change.before.spec, change.after.spec
    if after is None:
        return f"now left in float by {change.after.rule}"
    for level in (0, 1, 2):
        old, new = _short(before, level), _short(after, level)
        same_family = before is None or before.granularity.type == after.granularity.type
        if old != new and (level > 0 or same_family):
            return f"{old} -> {new}"
    if change.before.shape != change.after.shape:
        return f"{_short(after, 2)}, shape changed"
    return f"{_short(after, 2)} with other fields changed"


def change_groups(diff: PlanDiff) -> list[tuple[str, list[EntryChange]]]:
    """Group spec changes by role and kind, in first-seen order: [("1 weight float -> int4 per_block", [...])]."""
    groups: dict[tuple, list[EntryChange]] = defaultdict(list)
    for change in diff.spec_changes:
        groups[(_role(change), _kind(change))].append(change)
    labelled = []
    for ((singular, plural), kind), changes in groups.items():
        labelled.append((f"{_plural(len(changes), singular, plural)} {kind}", changes))
    return labelled


def headline(diff: PlanDiff) -> str:
    """Return `Plan changed: 1 tensor, 2 entries decided by another rule` or `Plans are the same`."""
    if not diff.changed:
        return "Plans are the same"
    parts = []
    if diff.spec_changes:
        parts.append(_plural(len(diff.spec_changes), "tensor"))
    if diff.rule_changes:
        parts.append(
            _plural(len(diff.rule_changes), "entry", "entries") + " decided by another rule"
        )
    for items, singular, plural in (
        (diff.added, "entry added", "entries added"),
        (diff.removed, "entry removed", "entries removed"),
        (diff.op_changes, "op change", "op changes"),
        (diff.shared_changes, "shared-group change", "shared-group changes"),
        (diff.skipped_changes, "skip change", "skip changes"),
    ):
        if items:
            parts.append(_plural(len(items), singular, plural))
    return "Plan changed: " + ", ".join(parts)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def weights_line(before: Summary, after: Summary, *, arrow: str, minus: str, separator: str) -> str:
    """Return `Weight bytes 60,320 -> 17,120 (-71.6 %) · bits per weight 17.62 -> 5.00`."""
    old, new = before.weight_bytes_after, after.weight_bytes_after
    percent = ""
    if old:
        change = (new - old) / old * 100
        sign = minus if change < 0 else "+"
        percent = f" ({sign}{abs(change):.1f} %)"
    bits = f"bits per weight {_number(before.bits_per_weight_candidates)} {arrow} {_number(after.bits_per_weight_candidates)}"
    return f"Weight bytes {old:,} {arrow} {new:,}{percent}{separator}{bits}"


def _where(change: EntryChange) -> str:
    location = change.location
    if location.kind == "module":
        return f"module {location.name} (call {location.call_site})"
    return f"{location.name} ({location.module or '<root>'})"


def _tensor(change: EntryChange) -> str:
    location, entry = change.location, change.after or change.before
    if location.is_weight and change.param:
        return f"{change.param} {format_shape(entry.shape)}"
    return (
        f"{location.name} {entry_label(location.group, location.key)} {format_shape(entry.shape)}"
    )


def _decided_by(change: EntryChange, code: str = "") -> str:
    rule = f"{code}{change.after.rule}{code}"
    if change.before.rule != change.after.rule:
        rule += f" (was {code}{change.before.rule}{code})"
    return rule


def _rule_entry(change: EntryChange) -> str:
    location = change.location
    prefix = "module " if location.kind == "module" else ""
    return f"{prefix}{location.name} {entry_label(location.group, location.key)}"


# --- text --------------------------------------------------------------------------------------


def _structure_sections(diff: PlanDiff, rule_format: str) -> tuple[tuple[str, list[str]], ...]:
    """Return the (title, items) sections for added/removed entries, ops, shared groups and skips.

    `rule_format` wraps each rule string, such as `"{}"` for text or ``"`{}`"`` for Markdown.
    """
    added = [
        f"{_rule_entry(change)} ({_where(change)}): {describe_spec(change.after.spec)}, "
        f"rule {rule_format.format(change.after.rule)}"
        for change in diff.added
    ]
    removed = [f"{_rule_entry(change)} ({_where(change)})" for change in diff.removed]
    return (
        ("Entries added", added),
        ("Entries removed", removed),
        ("Ops", list(diff.op_changes)),
        ("Shared groups", list(diff.shared_changes)),
        ("Skipped", list(diff.skipped_changes)),
    )


def _text_structure(diff: PlanDiff) -> list[str]:
    lines = []
    for title, items in _structure_sections(diff, "{}"):
        if items:
            lines += ["", f"{title}:"] + [f"  {item}" for item in items]
    return lines


def format_text(diff: PlanDiff) -> str:
    """Render `diff` for a terminal."""
    lines = [headline(diff)]
    if diff.spec_changes:
        lines += ["", "Spec changes:"]
        for label, changes in change_groups(diff):
            lines.append(f"  {label}")
            for change in changes:
                spec_text = f"{describe_spec(change.before.spec, change.after.spec)} -> {describe_spec(change.after.spec, change.before.spec)}"
                lines.append(f"    {_tensor(change)} in {_where(change)}: {spec_text}")
                lines.append(f"      decided by {_decided_by(change)}")
    if diff.rule_changes:
        lines += ["", "Decided by another rule (spec unchanged):"]
        lines += [
            f"  {_rule_entry(change)}: {change.before.rule} -> {change.after.rule}"
            for change in diff.rule_changes
        ]
    lines += _text_structure(diff)
    lines += [
        "",
        weights_line(
            diff.summary_before, diff.summary_after, arrow="->", minus="-", separator=", "
        ),
    ]
    lines += [f"note: {note}" for note in diff.notes]
    return "\n".join(lines) + "\n"


# --- markdown ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _md_spec_table(diff: PlanDiff) -> list[str]:
    rows = ["| tensor | op | before | after | decided by |", "|---|---|---|---|---|"]
    for change in diff.spec_changes:
        location, entry = change.location, change.after
        if location.is_weight and change.param:
            tensor = f"`{change.param}` {format_shape(entry.shape)}"
        else:
            tensor = f"`{location.name}` {entry_label(location.group, location.key)} {format_shape(entry.shape)}"
        if location.kind == "module":
            where = f"module `{location.name}` (call {location.call_site})"
        else:
            where = f"`{location.name}` ({location.module or '<root>'})"
        before = describe_spec(change.before.spec, change.after.spec)
        after = describe_spec(change.after.spec, change.before.spec)
        cells = [tensor, where, before, after, _decided_by(change, "`")]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return rows


def _md_rule_details(diff: PlanDiff) -> list[str]:
    count = len(diff.rule_changes)
    verb = "stays" if count == 1 else "stay"
    noun = _plural(count, "entry", "entries")
    lines = [
        f"<details><summary>{noun} {verb} the same but {'is' if count == 1 else 'are'} decided by another rule</summary>",
        "",
    ]
    lines += ["| entry | before | after |", "|---|---|---|"]
    for change in diff.rule_changes:
        location = change.location
        prefix = "module " if location.kind == "module" else ""
        entry = f"{prefix}`{location.name}` {entry_label(location.group, location.key)}"
        cells = [entry, f"`{change.before.rule}`", f"`{change.after.rule}`"]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines.append("</details>")
    return lines


def _md_structure(diff: PlanDiff) -> list[str]:
    lines = []
    for title, items in _structure_sections(diff, "`{}`"):
        if items:
            lines += ["", f"**{title}**", ""] + [f"- {item}" for item in items]
    return lines


def format_markdown(diff: PlanDiff) -> str:
    """Render `diff` as Markdown, ready to paste into a pull-request comment."""
    lines = [f"### {headline(diff)}"]
    groups = change_groups(diff)
    if len(groups) > 1:
        lines += [""] + [f"- {label}" for label, _ in groups]
    if diff.spec_changes:
        lines += ["", *_md_spec_table(diff)]
    if diff.rule_changes:
        lines += ["", *_md_rule_details(diff)]
    lines += _md_structure(diff)
    lines += [
        "",
        weights_line(
            diff.summary_before, diff.summary_after, arrow="→", minus="−", separator=" · "
        ),
    ]
    if diff.notes:
        lines += [""] + [f"> Note: {note}" for note in diff.notes]
    return "\n".join(lines) + "\n"


# --- json --------------------------------------------------------------------------------------


def _change_data(change: EntryChange) -> dict:
    location = change.location
    return {
        "location": {
            "kind": location.kind,
            "name": location.name,
            "group": location.group,
            "key": str(location.key),
            "module": location.module,
            "call_site": location.call_site,
        },
        "before": None if change.before is None else entry_to_data(change.before),
        "after": None if change.after is None else entry_to_data(change.after),
    }


def format_json(diff: PlanDiff) -> str:
    """Render `diff` as canonical JSON."""
    before, after = diff.summary_before, diff.summary_after
    data = {
        "changed": diff.changed,
        "headline": headline(diff),
        "groups": [
            {"label": label, "count": len(changes)} for label, changes in change_groups(diff)
        ],
        "spec_changes": [_change_data(change) for change in diff.spec_changes],
        "rule_changes": [_change_data(change) for change in diff.rule_changes],
        "added": [_change_data(change) for change in diff.added],
        "removed": [_change_data(change) for change in diff.removed],
        "ops": list(diff.op_changes),
        "shared": list(diff.shared_changes),
        "skipped": list(diff.skipped_changes),
        "notes": list(diff.notes),
        "weight_bytes": {"before": before.weight_bytes_after, "after": after.weight_bytes_after},
        "bits_per_weight": {
            "before": before.bits_per_weight_candidates,
            "after": after.bits_per_weight_candidates,
        },
    }
    return dumps_canonical(data)
