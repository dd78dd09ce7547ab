"""Choose the kernel of one quantized linear at apply time, from its specs, shape and device.

CPU choices, in order:
1. int8 (or symmetric uint8) weight per output channel with int8/uint8 per-tensor
   activations: `onednn.qlinear_pointwise` (exact integer matmul).
2. the same weight without activation quantization: `_weight_int8pack_mm`.
3. int4/uint4 weight in blocks of (1, B), B a multiple of 32, N a multiple of 16, without
   activation quantization: `_weight_int4pack_mm_for_cpu`.
4. anything else: dequantize + F.linear, marked emulated, with the matmul in the input's
   compute dtype (bf16 for bf16 inputs, else float32), so float32 models match fake quant.
The bf16 weight-only kernels are skipped when the op's input activation is quantized: on a
2-layer MLP (64-96-64, w4a8 preset, torch 2.13 CPU) their bf16 rounding flipped int8
activation codes downstream and gave 1.4% relative L2 error against fake quant, above the
1% bound. The reason is recorded in the kernel choice.
NOTE: an op whose input is float but whose output activation is quantized still runs the
bf16 kernels, because the output spec is not passed to this function.
On CUDA, an fp8 e4m3 per-channel weight with fp8 e4m3 per-tensor activations uses
`_scaled_mm`; every other CUDA case dequantizes.
"""

from __future__ import annotations

import torch

from quantplan.quantization.granularity import PerTensorGranularity
from quantplan.quantization.spec import QFormulation, QuantizationScheme, QuantizationSpec
from quantplan.runtime.formats import PackedTensor
from quantplan.runtime.kernels.chunked import ChunkedFloatLinear, chunked_reason
from quantplan.runtime.kernels.chunked_int import ChunkedIntLinear
from quantplan.runtime.kernels.dequant import DequantLinear
from quantplan.runtime.kernels.w8a8 import W8A8Linear
from quantplan.runtime.kernels.weight_only import Int4Linear, Int8WeightOnlyLinear, int4_group_size

__all__ = ["INT4_CROSSOVER_M", "INT8_CROSSOVER_M", "select_linear_kernel"]

# The reason recorded when a quantized input activation rules out the bf16 weight-only kernels.
QUANTIZED_INPUT_REASON = (
    "the input activation is quantized, so the op computes in the input dtype instead of a bf16 "
    "weight-only kernel, whose rounding would flip activation codes downstream"
)

# Rows (M) above which the weight-only kernels switch to `ChunkedIntLinear`; None = never.
# NOTE: measured on 4 x Linear(4096, 4096), the kernels timed alternately in one process,
# median of 5, torch 2.13 CPU on 2 cores shared with other jobs (load average about 7):
# int8 native vs chunked 82 vs 95 ms at M=16, 152 vs 120 ms at M=32, 694 vs 282 ms at
# M=128 (bf16 F.linear: 43, 63, 207 ms). The int4 chunked path (unpack to int32, dequantize
# in float32, cast to bf16) lost at every M up to 128 (820 vs 477 ms at M=128), so int4
# never switches. Re-measure on a quiet machine before relying on the exact value.
# These timings ran the chunked path in bf16, but float32 inputs now run it in float32, which is
# slower, so the int8 crossover is likely too low for float32 models (not re-measured).
INT4_CROSSOVER_M: int | None = None
INT8_CROSSOVER_M: int | None = 16


def select_linear_kernel(
    packed: PackedTensor,
    spec: QuantizationSpec,
    activation_spec: QuantizationSpec | None,
    activation_qparams,
    device: torch.device,
):
    """Return the kernel object for one linear; its `.choice` records the pick and its reason."""
    qmin = int(spec.quant_min) if not spec.is_float else 0
    if device.type == "cuda":
        return _cuda_kernel(packed, spec, activation_spec, activation_qparams, qmin, device)
    reason = _int8_reason(packed, spec)
    if not reason:
        shift = 128 if spec.dtype == torch.uint8 else 0
        if activation_spec is not None and not _per_tensor_int8_reason(activation_spec):
            return W8A8Linear(packed, shift, activation_spec, activation_qparams, per_tensor=True)
        if activation_spec is None:
            return Int8WeightOnlyLinear(packed, qmin, shift, crossover_m=INT8_CROSSOVER_M)
        return ChunkedIntLinear(packed, qmin, reason=QUANTIZED_INPUT_REASON)
    elif spec.element.bits == 4 and not spec.is_float:
        reason = _int4_reason(packed)
        if not reason and activation_spec is not None:
            return ChunkedIntLinear(packed, qmin, reason=QUANTIZED_INPUT_REASON)
        if not reason:
            type_min = spec.element.integer_range(clipped=False)[0]
            return Int4Linear(packed, qmin, type_min, crossover_m=INT4_CROSSOVER_M)
    return _emulated(packed, spec, qmin, reason)


EMULATED_NAME = "dequantize+linear in the input dtype"


def _emulated(packed: PackedTensor, spec: QuantizationSpec, qmin: int, reason: str):
    if spec.is_float and packed.data.device.type == "cpu" and not chunked_reason(packed):
        return ChunkedFloatLinear(packed)
    return DequantLinear(packed, qmin, name=EMULATED_NAME, reason=reason)


def _int8_reason(packed: PackedTensor, spec: QuantizationSpec) -> str:
    if spec.dtype not in (torch.int8, torch.uint8):
        return f"{packed.dtype} weight"
    if spec.qscheme is QuantizationScheme.ASYMMETRIC or spec.qformulation is QFormulation.MINVAL:
        return "the int8 kernels need a symmetric weight with a zero point"
    if len(packed.shape) != 2 or packed.block_shape != (1, packed.shape[1]):
        return "the int8 kernels need one scale per output channel (per_channel axis 0)"
    return ""


def _per_tensor_int8_reason(spec: QuantizationSpec) -> str:
    if spec.dtype not in (torch.int8, torch.uint8) or spec.qformulation is not QFormulation.ZP:
        return "activation not int8/uint8 with a zero point"
    if not isinstance(spec.granularity, PerTensorGranularity) or spec.scale_dtype is not None:
        return "activation not per-tensor with float32 scales"
    return ""


def _int4_reason(packed: PackedTensor) -> str:
    if len(packed.shape) != 2 or packed.block_shape[0] != 1:
        return "the int4 kernel needs a 2-D weight blocked along its input features (axis 1)"
    rows, _columns = packed.shape
    if int4_group_size(packed.block_shape[1]) is None:
        return f"block size {packed.block_shape[1]} is not a multiple of 32 (the int4 kernel's group sizes are 32, 64, 128, 256)"
    if rows % 16:
        return f"out_features {rows} is not a multiple of 16, which the int4 kernel needs"
    return ""


def _cuda_kernel(packed, spec, activation_spec, activation_qparams, qmin, device):
    from quantplan.runtime.kernels.cuda import ScaledMMLinear

    fp8_activation = (
        activation_spec is not None
        and activation_spec.dtype == torch.float8_e4m3fn
        and isinstance(activation_spec.granularity, PerTensorGranularity)
    )
    per_channel = len(packed.shape) == 2 and packed.block_shape == (1, packed.shape[1])
    if spec.dtype == torch.float8_e4m3fn and fp8_activation and per_channel:
        return ScaledMMLinear(packed, activation_spec, activation_qparams, device)
    return _emulated(packed, spec, qmin, "no native CUDA kernel for this spec")
