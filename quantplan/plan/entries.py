"""A plan's per-tensor records: `Entry`, and the ops, module boundaries and shared groups."""

from __future__ import annotations

import attrs

from quantplan.plan._converters import index_map, int_tuple, name_map
from quantplan.plan.resolved_spec import ResolvedSpec

__all__ = ["Entry", "ModuleBoundary", "PlanOp", "SharedGroup"]


@attrs.frozen
class Entry:
    """One candidate tensor and the decision about it.

    `spec` is None when the tensor stays in float. `rule` is the config path that decided it,
    such as `module_name_configs["fc2"]`. `param` is the parameter path, set for state entries only.

    Rule forms that leave a tensor in float:
    - `module_name_configs["fc2"]`: a None at that level disabled the whole scope;
    - `global_config.op_input_spec`: the tensor group itself was None;
    - `global_config.op_input_spec[1]` with spec None: the map maps key 1 to None;
    - `global_config.op_input_spec[1] (key absent)`: the map exists but has neither key 1
      nor `"*"`, so nothing selects the tensor (for state, the key is the parameter's
      attribute name, as in `op_state_spec["bias"] (key absent)`).
    A ` (default)` suffix means that the group was omitted and its default decided.
    """

    shape: tuple[int | str, ...] = attrs.field(converter=int_tuple)
    dtype: str
    spec: ResolvedSpec | None
    rule: str
    param: str | None = None

    @property
    def quantized(self) -> bool:
        """Whether the entry has a spec (is not left in float)."""
        return self.spec is not None


@attrs.frozen
class PlanOp:
    """One op of the captured graph, in execution order.

    `module_stack` is the chain of (module path, fully qualified class) from the outermost
    module below the root to the innermost; `explain` uses it to recompute rule matching.
    `fused_group` is the name of the fused group's first op, or None.
    """

    name: str
    type: str
    target: str
    module: str
    module_type: str
    call_site: int = 0
    fused_group: str | None = None
    inputs: dict[int, Entry] = attrs.field(factory=dict, converter=index_map)
    outputs: dict[int, Entry] = attrs.field(factory=dict, converter=index_map)
    state: dict[str, Entry] = attrs.field(factory=dict, converter=name_map)
    module_stack: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=lambda value: tuple(tuple(item) for item in value)
    )


@attrs.frozen
class ModuleBoundary:
    """Boundary specs of one module call: forward argument positions and outputs to entries."""

    module: str
    call_site: int = 0
    inputs: dict[int, Entry] = attrs.field(factory=dict, converter=index_map)
    outputs: dict[int, Entry] = attrs.field(factory=dict, converter=index_map)


@attrs.frozen
class SharedGroup:
    """Parameters that share one storage (tied weights): one spec and one rule for all of them."""

    params: tuple[str, ...] = attrs.field(converter=int_tuple)
    ops: tuple[str, ...] = attrs.field(converter=int_tuple)
    spec: ResolvedSpec | None
    rule: str
