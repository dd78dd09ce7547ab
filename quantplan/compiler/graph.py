"""The model-graph IR that both capture modes produce and the resolver reads.

It describes structure only (names, types, shapes, dtypes, parameter uses), never weight
values, so a model on the meta device yields the same graph as a materialized one.
"""

from __future__ import annotations

import attrs

__all__ = [
    "CaptureInfo",
    "ModelGraph",
    "ModuleCall",
    "ModuleInfo",
    "OpNode",
    "ParamInfo",
    "ParamUse",
    "TensorInfo",
]


@attrs.frozen
class TensorInfo:
    """Shape and dtype of one tensor; a dynamic dimension is its symbol name, such as `s0`."""

    shape: tuple[int | str, ...]
    dtype: str


@attrs.frozen
class ParamInfo:
    """One parameter storage: `path` is its first name in `named_parameters(remove_duplicate=False)`
    order, and `aliases` lists every path that reaches the same storage (path included)."""

    path: str
    aliases: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str


@attrs.frozen
class ParamUse:
    """A parameter consumed by an op.

    `local_name` is the attribute name on the owning module (`weight`, `in_proj_weight`, `gate`).
    `path` is the alias through which this op reached it (the one on the op's own module when
    there is one). `role` is `weight` when it fills the weight operand of a linear, conv or
    embedding op, or the second operand of a matmul/bmm (a 3-D expert weight), `bias` for the
    bias operand, else `other`. `layout` describes a weight in its own storage order:
    `out_in` (Linear, Conv), `in_out` (HF Conv1D through addmm), `in_out_conv_transpose`,
    `vocab_dim` (Embedding) or None; for a rank-3 bmm weight it names the last two dims.
    `view` names the view op between the parameter and the op (`transpose`, `slice`, ...), or None.
    """

    local_name: str
    path: str
    role: str
    layout: str | None = None
    view: str | None = None


@attrs.frozen
class ModuleInfo:
    """A module reachable in `named_modules(remove_duplicate=False)`.

    `type` is the fully qualified class name and `mro` the fully qualified names of its
    nn.Module base classes, most derived first (type included), for base-class matching.
    `aliases` lists every other path to the same module object.
    """

    path: str
    type: str
    mro: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    class_aliases: tuple[str, ...] = ()


@attrs.frozen
class OpNode:
    """One op: a torch.export node (graph mode) or a torch-function call (eager mode).

    `type` is the canonical op type (`linear`, `conv2d`, `add`, `softmax`, `cat`, ...);
    `target` the aten overload (`aten.linear.default`) or the torch function's qualified name.
    `module_stack` is the chain of (path, fully qualified class) from the outermost module
    below the root to the innermost one; `module` / `module_type` repeat its last element
    (`""` and the root class for ops in the root's own forward).
    `inputs` are the floating-point activation inputs in argument order (state excluded, list
    arguments counted element by element), with `input_producers` naming the op that made each
    (None for a model input). `call_site` counts calls of the innermost module (0 = first).
    """

    name: str
    type: str
    target: str
    module: str
    module_type: str
    module_stack: tuple[tuple[str, str], ...]
    call_site: int
    inputs: tuple[TensorInfo, ...]
    input_producers: tuple[str | None, ...]
    outputs: tuple[TensorInfo, ...]
    params: tuple[ParamUse, ...] = ()


@attrs.frozen
class ModuleCall:
    """One call of a module's forward: tensor arguments by signature position, tensor outputs."""

    path: str
    type: str
    call_site: int
    inputs: tuple[tuple[int, TensorInfo], ...]
    outputs: tuple[TensorInfo, ...]
    first_op: str | None = None
    last_op: str | None = None


@attrs.frozen
class CaptureInfo:
    """How the graph was captured, recorded in the plan's metadata."""

    mode: str
    method: str
    specializations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@attrs.frozen
class ModelGraph:
    """Everything the resolver needs to know about a model, in execution order."""

    root_class: str
    execution_mode: str
    ops: tuple[OpNode, ...]
    modules: tuple[ModuleInfo, ...]
    module_calls: tuple[ModuleCall, ...]
    parameters: tuple[ParamInfo, ...]
    inputs: dict
    capture: CaptureInfo
