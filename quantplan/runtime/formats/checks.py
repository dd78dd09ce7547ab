"""Checks on the tensors of a real-quantized model, run by both `save` and `load`.

`save` runs them before writing anything and `load` after reading every tensor, so an
artifact that `save` would reject never loads. The rules:
- a packed weight's storage, scale, zero point and minval have the dtypes its layout names
  (scales are float32, or uint8 for E8M0);
- float32 weight scales are finite and positive, and E8M0 scale bytes are never 0xFF (NaN);
- fp8 data holds no NaN or inf byte (0x7F and 0xFF for float8_e4m3fn);
- float tensors are finite. Buffers may hold +/-inf (attention masks do), but never NaN.

The checks scan tensors in chunks so that their temporary tensors stay small next to the
model's weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch

from quantplan.errors import ErrorDetail, PlanError

__all__ = ["check_model_tensors"]

_CHUNK = 1 << 20  # elements per scan step
_FP8_NAN_MASKS = {
    # (mask, value): a byte is NaN or inf when `byte & mask == value`.
    torch.float8_e4m3fn: (0x7F, 0x7F),  # e4m3fn has no inf and NaN is S.1111.111
    torch.float8_e5m2: (0x7C, 0x7C),  # exponent 11111 is inf or NaN
}
_WEIGHT_ROLES = {"scale": "_scale", "zero_point": "_zero_point", "minval": "_minval"}


def check_model_tensors(
    tensors: Mapping[str, torch.Tensor],
    layouts: Mapping[str, dict],
    *,
    parameter_names: Iterable[str],
    source: str,
) -> None:
    """Raise one PlanError listing every tensor that breaks the rules in the module docstring.

    `tensors` maps state keys to tensors, `layouts` maps each packed weight's key to its
    `PackedTensor.layout()`, and `source` names where the tensors come from in the message.
    """
    parameters = set(parameter_names)
    problems: list[ErrorDetail] = []
    for key, layout in layouts.items():
        problems += _layout_problems(key, layout, tensors)
    scale_keys = {key + _WEIGHT_ROLES["scale"] for key in layouts}
    for key, tensor in tensors.items():
        message = _value_problem(tensor, is_scale=key in scale_keys, is_parameter=key in parameters)
        if message is not None:
            problems.append(ErrorDetail(path=key, message=f"{message} ({source})."))
    if problems:
        raise PlanError(problems)


def _expected_dtypes(layout: dict) -> dict[str, torch.dtype]:
    expected = {
        "": getattr(torch, layout["storage"]),
        "_scale": torch.uint8 if layout["scale_encoding"] == "e8m0" else torch.float32,
    }
    if "zero_point_storage" in layout:
        expected["_zero_point"] = getattr(torch, layout["zero_point_storage"])
    if layout.get("minval"):
        expected["_minval"] = torch.float32
    return expected


def _layout_problems(
    key: str, layout: dict, tensors: Mapping[str, torch.Tensor]
) -> list[ErrorDetail]:
    problems = []
    for suffix, dtype in _expected_dtypes(layout).items():
        tensor = tensors.get(key + suffix)
        if tensor is not None and tensor.dtype != dtype:
            problems.append(
                ErrorDetail(
                    path=key + suffix,
                    message=f"dtype {tensor.dtype} does not match the weight layout",
                    value=str(tensor.dtype),
                    expected=str(dtype),
                    suggestion="save the model again with quantplan.save",
                )
            )
    return problems


def _value_problem(tensor: torch.Tensor, *, is_scale: bool, is_parameter: bool) -> str | None:
    if tensor.dtype in _FP8_NAN_MASKS:
        mask, value = _FP8_NAN_MASKS[tensor.dtype]
        if _any(tensor.view(torch.uint8), lambda chunk: (chunk & mask) == value):
            return f"{tensor.dtype} data contains NaN or inf bytes, which quantplan never writes (values saturate to +/-fmax)"
        return None
    if is_scale and tensor.dtype == torch.uint8:
        if _any(tensor, lambda chunk: chunk == 0xFF):
            return "E8M0 scale byte 0xFF (NaN) found"
        return None
    if not tensor.is_floating_point():
        return None
    if is_scale and _any(tensor, lambda chunk: ~(torch.isfinite(chunk) & (chunk > 0))):
        return "weight scale contains a NaN, inf, zero or negative value; scales must be finite and positive"
    if _any(tensor, torch.isnan):
        return "tensor contains NaN"
    if is_parameter and _any(tensor, torch.isinf):
        return "parameter contains inf"
    return None


def _any(tensor: torch.Tensor, predicate: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    flat = tensor.reshape(-1)
    return any(
        bool(predicate(flat[start : start + _CHUNK]).any())
        for start in range(0, flat.numel(), _CHUNK)
    )
