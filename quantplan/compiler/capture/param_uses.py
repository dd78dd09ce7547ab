"""Roles and layouts of parameters consumed by ops, shared by both capture modes.

Example: `F.linear(x, w)` uses `w` as a weight in `out_in` layout; `torch.addmm(b, x, w)`
(HF GPT-2 Conv1D) uses it as a weight in `in_out` layout; `torch.mm(x, w.t())` (a decomposed
Linear) uses it in `out_in` layout through a `transpose` view.
"""

from __future__ import annotations

from quantplan.compiler.capture.op_types import WEIGHT_MATMUL_OPS

__all__ = ["VIEW_KINDS", "param_layout", "param_role", "view_kind", "weight_operand_index"]

# Canonical view kinds; `None` marks ops that pass the tensor through unchanged.
VIEW_KINDS = {
    "t": "transpose",
    "transpose": "transpose",
    "permute": "transpose",
    "mT": "transpose",
    "T": "transpose",
    "numpy_T": "transpose",
    "slice": "slice",
    "select": "slice",
    "narrow": "slice",
    "split": "split",
    "split_with_sizes": "split",
    "unsafe_split": "split",
    "tensor_split": "split",
    "chunk": "split",
    "unbind": "split",
    "getitem": "slice",
    "view": "reshape",
    "reshape": "reshape",
    "_unsafe_view": "reshape",
    "unflatten": "reshape",
    "flatten": "reshape",
    "unsqueeze": "reshape",
    "squeeze": "reshape",
    "expand": "expand",
    "contiguous": None,
    "clone": None,
    "alias": None,
    "detach": None,
    "to": None,
}

_WEIGHT_INDEX = {
    "linear": 1,
    "conv1d": 1,
    "conv2d": 1,
    "conv3d": 1,
    "conv_transpose1d": 1,
    "conv_transpose2d": 1,
    "conv_transpose3d": 1,
    "embedding": 0,
    "addmm": 2,
    "mm": 1,
    "matmul": 1,
    "bmm": 1,
    "baddbmm": 2,
}
_BIAS_INDEX = {"linear": 2, "conv1d": 2, "conv2d": 2, "conv3d": 2, "addmm": 0}
_BIAS_INDEX |= {f"conv_transpose{n}d": 2 for n in (1, 2, 3)}


def view_kind(base: str) -> str | None:
    """Return the canonical view kind of a view op, or None for a pass-through op."""
    return VIEW_KINDS.get(base)


def weight_operand_index(base: str) -> int | None:
    """Return the argument index of the weight operand of a weighted or matmul op."""
    return _WEIGHT_INDEX.get(base)


def param_role(base: str, index: int, *, eager: bool = False) -> str:
    """Return `weight`, `bias` or `other` for a parameter at argument `index` of op `base`.

    `eager` selects torch-function argument order, which differs from aten's for
    `F.embedding(input, weight)`.
    """
    if base == "einsum":
        # Every operand of einsum is a matrix-product operand, so a parameter there is a weight.
        return "weight"
    weight_index = 1 if eager and base == "embedding" else _WEIGHT_INDEX.get(base)
    if weight_index == index:
        return "weight"
    if _BIAS_INDEX.get(base) == index:
        return "bias"
    return "other"


def param_layout(base: str, op_type: str, role: str, transposed: bool) -> str | None:
    """Return the layout of a weight in its own storage order.

    `base` is the function or aten op as called (`addmm`), `op_type` the canonical type
    (`linear`) and `transposed` whether an odd number of transposes sits between the
    parameter and the op. Matrix products read their second operand as `[in, out]`; for a
    rank-3 `bmm` weight the layout names its last two dimensions (dim 0 is the expert).
    """
    if role != "weight":
        return None
    if base in WEIGHT_MATMUL_OPS or base in ("bmm", "baddbmm"):
        return "out_in" if transposed else "in_out"
    if op_type == "linear" or (op_type.startswith("conv") and "transpose" not in op_type):
        return "in_out" if transposed else "out_in"
    if op_type.startswith("conv_transpose"):
        return "in_out_conv_transpose"
    if op_type == "embedding":
        return "vocab_dim"
    return None
