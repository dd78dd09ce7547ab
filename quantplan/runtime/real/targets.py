"""Which planned weights real mode packs, into which module, and which it cannot serve.

Supported weight owners: nn.Linear, nn.Embedding, nn.ConvNd and nn.ConvTransposeNd, and
transformers' Conv1D. A planned weight owned by anything else (a custom module calling
F.linear on its own parameter, say), or a tied weight, raises UnsupportedError naming
every such site before the model changes.
"""

from __future__ import annotations

import attrs

from quantplan.errors import UnsupportedError
from quantplan.plan.model import Plan, PlanOp

__all__ = ["WeightTarget", "weight_targets"]

_HF_CONV1D = "transformers.pytorch_utils.Conv1D"
_OP_TYPES = {
    "linear": ("linear",),
    "embedding": ("embedding",),
    "conv": (
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    ),
    "hf_conv1d": ("linear", "addmm", "matmul"),
}


@attrs.frozen
class WeightTarget:
    """One packed weight: its parameter path, owner module path, kind and op."""

    param: str
    module: str
    kind: str
    op: PlanOp
    batch_norm: PlanOp | None = None


def weight_targets(plan: Plan) -> list[WeightTarget]:
    """Return the weight targets of `plan`; raises UnsupportedError for the rest."""
    targets: dict[str, WeightTarget] = {}
    unsupported: list[str] = []
    for op in plan.ops:
        entry = op.state.get("weight")
        others = [
            name for name, value in op.state.items() if name != "weight" and value.spec is not None
        ]
        unsupported += [f"ops/{op.name}/state/{name} (only weights are packed)" for name in others]
        if entry is None or entry.spec is None:
            continue
        owner_path, _, attribute = (entry.param or "").rpartition(".")
        kind = _kind(owner_path, attribute, op)
        if kind is None:
            unsupported.append(
                f"params/{entry.param} (op {op.name}, {op.type} in {op.module_type or 'the root module'})"
            )
        elif entry.param in targets:
            unsupported.append(
                f"params/{entry.param} (used by ops {targets[entry.param].op.name} and {op.name})"
            )
        else:
            targets[entry.param] = WeightTarget(
                entry.param, owner_path, kind, op, _batch_norm_after(plan, op)
            )
    if unsupported:
        raise UnsupportedError(
            "real mode packs the weights of nn.Linear, nn.Embedding, nn.ConvNd, nn.ConvTransposeNd "
            "and transformers Conv1D modules, each used by one op; these planned sites are not "
            f"supported: {'; '.join(unsupported)}. Use mode='fake' for them, or leave them in float in the config."
        )
    return list(targets.values())


_KINDS = {
    "torch.nn.modules.linear.Linear": "linear",
    "torch.nn.modules.sparse.Embedding": "embedding",
    _HF_CONV1D: "hf_conv1d",
    **{
        f"torch.nn.modules.conv.{name}": "conv"
        for name in (
            "Conv1d",
            "Conv2d",
            "Conv3d",
            "ConvTranspose1d",
            "ConvTranspose2d",
            "ConvTranspose3d",
        )
    },
}


def _kind(owner_path: str, attribute: str, op: PlanOp) -> str | None:
    # The plan's module_type names the owner's class exactly, so graph-mode models (whose
    # modules torch.export flattened) are classified the same way as eager ones.
    kind = _KINDS.get(op.module_type or "")
    if attribute != "weight" or kind is None or op.module != owner_path:
        return None
    return kind if op.type in _OP_TYPES[kind] else None


def _batch_norm_after(plan: Plan, op: PlanOp) -> PlanOp | None:
    """Return the batch norm fused after a conv op (same fused group), if any."""
    if not op.type.startswith("conv") or op.fused_group != op.name:
        return None
    for candidate in plan.ops:
        if candidate.fused_group == op.name and candidate.type == "batch_norm":
            return candidate
    return None
