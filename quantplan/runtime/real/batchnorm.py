"""Fold a batch norm that follows a conv into the conv's weight and bias (eval statistics)."""

from __future__ import annotations

import torch
from torch import nn

from quantplan.errors import UnsupportedError

__all__ = ["fold_batch_norm", "remove_batch_norm"]


def fold_batch_norm(weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.Module, *, transposed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return `(weight, bias)` of the conv followed by `norm` in eval mode.

    Per output channel c: `w'[c] = w[c] * gamma[c] / sqrt(var[c] + eps)` and
    `b'[c] = (b[c] - mean[c]) * gamma[c] / sqrt(var[c] + eps) + beta[c]`. A transposed conv
    keeps its output channels on axis 1, which this supports for groups == 1 only.
    """
    if norm.running_mean is None or norm.running_var is None:
        raise UnsupportedError(f"batch norm {type(norm).__name__} without running statistics cannot be folded into its conv.")
    with torch.no_grad():
        factor = torch.rsqrt(norm.running_var.float() + norm.eps)
        if norm.weight is not None:
            factor = factor * norm.weight.float()
        channels = factor.numel()
        mean = norm.running_mean.float()
        base = torch.zeros(channels, device=weight.device) if bias is None else bias.float()
        folded_bias = (base - mean) * factor
        if norm.bias is not None:
            folded_bias = folded_bias + norm.bias.float()
        axis = 1 if transposed else 0
        if weight.shape[axis] != channels:
            raise UnsupportedError(
                f"cannot fold a batch norm of {channels} channels into a conv weight of shape {list(weight.shape)} (grouped transposed conv)."
            )
        view = [1] * weight.dim()
        view[axis] = channels
        folded_weight = weight.float() * factor.reshape(view)
    return folded_weight.to(weight.dtype), folded_bias.to(weight.dtype)


def remove_batch_norm(model: nn.Module, path: str) -> None:
    """Replace the batch norm at `path` with nn.Identity, because its conv now includes it."""
    model.set_submodule(path, nn.Identity())
