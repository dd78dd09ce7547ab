"""Quantizer sites: where each quantizer of a plan attaches, and which entries it serves.

This is the one place that turns plan entries into quantizers. It is pure: it reads the plan
and the recaptured model graph, and both the fake runtime and the real converter build on it.

- Every state entry with a spec is served by the quantizer of its parameter storage, so a
  tied weight or a module called twice has one weight quantizer (`params/<first path>`).
- An op output entry gets its own quantizer at the producer.
- An op input entry is served by its producer's output quantizer when the producer's output
  spec equals the input spec; otherwise it gets its own quantizer at the consumer.
- A module boundary entry gets its own quantizer at that module call.
- Entries with `spec: null` get nothing, so those tensors stay bit-identical.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from quantplan.compiler.graph import ModelGraph
from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.model import Entry, Plan, ResolvedSpec

__all__ = ["Site", "SiteLocation", "entry_id", "non_null_entries", "plan_sites"]


@attrs.frozen
class SiteLocation:
    """Where a quantizer sits.

    `kind` is `param` (target = parameter path), `op_input`, `op_output` (target = op name,
    index = input or output index) or `module_input`, `module_output` (target = module path,
    `call_site` = which call of it, index = forward argument position or output index).
    """

    kind: str
    target: str
    index: int | None = None
    call_site: int = 0


@attrs.frozen
class Site:
    """One quantizer: its qparams key, the plan entries it serves, its spec and location."""

    key: str
    role: str
    spec: ResolvedSpec
    entries: tuple[str, ...]
    location: SiteLocation
    aliases: tuple[str, ...] = ()


def entry_id(scope: str, name: str, group: str, key: int | str, call_site: int = 0) -> str:
    """Return the id of one plan entry, such as `ops/linear/inputs/0` or `modules/enc@1/outputs/0`."""
    label = name if call_site == 0 else f"{name}@{call_site}"
    return f"{scope}/{label}/{group}/{key}"


def plan_sites(plan: Plan, graph: ModelGraph) -> list[Site]:
    """Return the quantizer sites of `plan` on `graph`, weights first, then activations in op order."""
    canonical = _canonical_param_paths(graph)
    sites = _weight_sites(plan, canonical)
    sites += _activation_sites(plan, graph)
    sites += _module_sites(plan)
    return sites


def _canonical_param_paths(graph: ModelGraph) -> dict[str, tuple[str, tuple[str, ...]]]:
    paths: dict[str, tuple[str, tuple[str, ...]]] = {}
    for param in graph.parameters:
        for alias in param.aliases or (param.path,):
            paths[alias] = (param.path, tuple(param.aliases or (param.path,)))
        paths[param.path] = (param.path, tuple(param.aliases or (param.path,)))
    return paths


def _weight_sites(plan: Plan, canonical: dict) -> list[Site]:
    groups: dict[str, dict] = {}
    for op in plan.ops:
        for local_name, entry in op.state.items():
            if entry.spec is None:
                continue
            path, aliases = canonical.get(entry.param, (entry.param, (entry.param,)))
            group = groups.setdefault(path, {"spec": entry.spec, "entries": [], "aliases": aliases})
            if group["spec"] != entry.spec:
                raise PlanError(
                    ErrorDetail(
                        path=f"ops[{op.name!r}].state[{local_name!r}]",
                        message=(
                            f"parameter {path} has two different specs in this plan, but one storage "
                            "is quantized once. The plan is inconsistent; recompile it."
                        ),
                    )
                )
            group["entries"].append(entry_id("ops", op.name, "state", local_name))
    return [
        Site(
            key=f"params/{path}",
            role="weight",
            spec=group["spec"],
            entries=tuple(group["entries"]),
            location=SiteLocation(kind="param", target=path),
            aliases=group["aliases"],
        )
        for path, group in groups.items()
    ]


def _activation_sites(plan: Plan, graph: ModelGraph) -> list[Site]:
    producers = {op.name: op.input_producers for op in graph.ops}
    plan_ops = {op.name: op for op in plan.ops}
    output_sites: dict[tuple[str, int], dict] = {}
    sites: list[dict] = []
    for op in plan.ops:
        for index, entry in op.inputs.items():
            if entry.spec is None:
                continue
            serving = _producer_site(
                output_sites, producers.get(op.name, ()), index, entry, plan_ops
            )
            if serving is not None:
                serving["entries"].append(entry_id("ops", op.name, "inputs", index))
                continue
            sites.append(_new_site(entry, op.name, "inputs", index, "op_input"))
        for index, entry in op.outputs.items():
            if entry.spec is None:
                continue
            site = _new_site(entry, op.name, "outputs", index, "op_output")
            output_sites[(op.name, index)] = site
            sites.append(site)
    return [_freeze_site(site) for site in sites]


def _producer_site(
    output_sites: dict, producers: tuple, index: int, entry: Entry, plan_ops: dict
) -> dict | None:
    if index >= len(producers) or producers[index] is None:
        return None
    producer = plan_ops.get(producers[index])
    if producer is None or len(producer.outputs) != 1:
        return None
    (output_index,) = producer.outputs
    site = output_sites.get((producer.name, output_index))
    if site is None or site["spec"] != entry.spec:
        return None
    return site


def _new_site(entry: Entry, name: str, group: str, index: int, kind: str) -> dict:
    key = entry_id("ops", name, group, index)
    return {
        "key": key,
        "spec": entry.spec,
        "entries": [key],
        "location": SiteLocation(kind=kind, target=name, index=index),
    }


def _freeze_site(site: dict) -> Site:
    return Site(
        key=site["key"],
        role="activation",
        spec=site["spec"],
        entries=tuple(site["entries"]),
        location=site["location"],
    )


def _module_sites(plan: Plan) -> list[Site]:
    sites = []
    for boundary in plan.modules:
        for group, kind in (("inputs", "module_input"), ("outputs", "module_output")):
            for index, entry in getattr(boundary, group).items():
                if entry.spec is None:
                    continue
                key = entry_id("modules", boundary.module, group, index, boundary.call_site)
                location = SiteLocation(
                    kind=kind, target=boundary.module, index=index, call_site=boundary.call_site
                )
                sites.append(
                    Site(
                        key=key,
                        role="activation",
                        spec=entry.spec,
                        entries=(key,),
                        location=location,
                    )
                )
    return sites


def non_null_entries(plan: Plan) -> Iterable[str]:
    """Yield the id of every plan entry that has a spec (the entries a quantizer must serve)."""
    for op, group, key, entry in plan.entries():
        if entry.spec is not None:
            yield entry_id("ops", op.name, group, key)
    for boundary in plan.modules:
        for group in ("inputs", "outputs"):
            for index, entry in getattr(boundary, group).items():
                if entry.spec is not None:
                    yield entry_id("modules", boundary.module, group, index, boundary.call_site)
