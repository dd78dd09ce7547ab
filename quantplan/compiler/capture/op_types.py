"""Canonical op types and the aliases that name the same torch function.

The resolver matches `op_type_config` keys through `canonical_op_type`, and both capture
modes name op types through it, so `cat`, `concat` and `concatenate` (or `add`, `add_` and
`__add__`) are one op type everywhere.
"""

from __future__ import annotations

__all__ = [
    "CANONICAL_OP_TYPES",
    "OP_TYPE_ALIASES",
    "PARAMETER_VIEW_OPS",
    "WEIGHT_MATMUL_OPS",
    "canonical_op_type",
]

# Op types that quantplan names on purpose; any other torch function keeps its own base name.
CANONICAL_OP_TYPES = frozenset(
    {
        "linear", "embedding", "embedding_bag",
        "conv1d", "conv2d", "conv3d",
        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "matmul", "mm", "bmm", "addmm", "baddbmm", "einsum",
        "add", "sub", "mul", "div", "cat", "flatten", "mean",
        "max_pool1d", "max_pool2d", "max_pool3d",
        "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
        "softmax", "log_softmax", "relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid",
        "tanh", "hardswish", "hardsigmoid", "elu", "batch_norm", "layer_norm", "group_norm",
        "scaled_dot_product_attention",
    }
)  # fmt: skip

# Alias -> canonical type. In-place (`add_`) and dunder (`__add__`, `__radd__`, `__iadd__`)
# spellings are folded by `canonical_op_type` itself and need no entry here.
OP_TYPE_ALIASES = {
    "concat": "cat",
    "concatenate": "cat",
    "subtract": "sub",
    "rsub": "sub",
    "multiply": "mul",
    "divide": "div",
    "true_divide": "div",
    "_softmax": "softmax",
    "_log_softmax": "log_softmax",
    "special_softmax": "softmax",
    "_native_batch_norm_legit_no_training": "batch_norm",
    "native_batch_norm": "batch_norm",
    "native_layer_norm": "layer_norm",
    "_scaled_dot_product_flash_attention_for_cpu": "scaled_dot_product_attention",
    "swish": "silu",
    "silu_": "silu",
}

# Ops that only reshape or slice a tensor. One of these applied to a parameter is recorded as
# the view through which a consumer reads that parameter, never as an op of its own.
PARAMETER_VIEW_OPS = frozenset(
    {
        "t", "transpose", "permute", "view", "reshape", "slice", "select", "split",
        "split_with_sizes", "chunk", "unbind", "narrow", "unsqueeze", "squeeze", "expand",
        "contiguous", "getitem", "unflatten", "flatten", "alias", "detach", "mT", "T",
        "numpy_T", "unsafe_split", "tensor_split", "_unsafe_view", "clone", "to",
    }
)  # fmt: skip

# Matrix products that become a `linear` op when their second operand is a parameter.
WEIGHT_MATMUL_OPS = frozenset({"addmm", "mm", "matmul"})


def canonical_op_type(name: str) -> str:
    """Return the canonical op type for a torch function or aten op base name.

    >>> canonical_op_type("__radd__"), canonical_op_type("add_"), canonical_op_type("concat")
    ('add', 'add', 'cat')
    """
    base = name
    if base.startswith("__") and base.endswith("__"):
        base = base[2:-2]
        if base[:1] in ("r", "i") and base[1:] in _DUNDER_OPERATORS:
            base = base[1:]
        base = _DUNDER_OPERATORS.get(base, base)
    if base.endswith("_") and not base.startswith("_") and base[:-1]:
        base = base[:-1]
    return OP_TYPE_ALIASES.get(base, base)


_DUNDER_OPERATORS = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "truediv": "div",
    "div": "div",
    "matmul": "matmul",
    "floordiv": "floor_divide",
    "pow": "pow",
    "mod": "remainder",
    "neg": "neg",
    "and": "bitwise_and",
    "or": "bitwise_or",
    "xor": "bitwise_xor",
}
