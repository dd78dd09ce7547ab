"""Time quantplan's real-mode linear kernels against fp32/bf16 F.linear and the raw torch kernels.

A stack of 8 Linear(4096, 4096) layers (512 MiB of fp32 weights, far beyond the CPU cache, as
in decoding) runs at M = 1, 16 and 128 rows. Each format is reported as a ratio to fp32
F.linear, to bf16 F.linear, and to calling the raw torch kernel directly (our overhead).
Run: `python benchmarks/kernels.py` (about two minutes on 2 cores). Prints a Markdown table.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # spinning OpenMP threads distort 2-core timings
# This file's name would shadow the `kernels` package that transformers imports.
sys.path[:] = [
    entry
    for entry in sys.path
    if os.path.abspath(entry or ".") != os.path.dirname(os.path.abspath(__file__))
]

import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from quantplan.quantization.spec import QuantizationSpec  # noqa: E402
from quantplan.runtime.formats import pack  # noqa: E402
from quantplan.runtime.kernels import select_linear_kernel  # noqa: E402
from quantplan.runtime.numerics import compute_qparams, resolve_block_shape  # noqa: E402

LAYERS, FEATURES, ROWS = 8, 4096, (1, 16, 128)
CPU = torch.device("cpu")
FORMATS = {
    "int4 (block 128)": (
        QuantizationSpec(
            dtype="int4", granularity={"type": "per_block", "axis": 1, "block_size": 128}
        ),
        None,
    ),
    "int8 weight-only": (
        QuantizationSpec(dtype="int8", granularity={"type": "per_channel", "axis": 0}),
        None,
    ),
    "w8a8 dynamic": (
        QuantizationSpec(dtype="int8", granularity={"type": "per_channel", "axis": 0}),
        QuantizationSpec(dtype="uint8", qscheme="asymmetric", qparam_calculator_cls="dynamic"),
    ),
    "fp8 e4m3 (emulated)": (
        QuantizationSpec(dtype="float8_e4m3fn", granularity={"type": "per_channel", "axis": 0}),
        None,
    ),
    "mxfp4 (emulated)": (
        QuantizationSpec(
            dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "axis": 1, "block_size": 32}
        ),
        None,
    ),
}


def timed(function, repeats: int = 5) -> float:
    """Return the median milliseconds of `function()` after one warm-up call."""
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e3)
    return sorted(samples)[len(samples) // 2]


def build_kernels(weights, spec, activation):
    kernels = []
    for weight in weights:
        block = resolve_block_shape(weight.shape, spec, "weight")
        packed = pack(
            weight, compute_qparams(weight, spec, role="weight", block_shape=block), spec, block
        )
        kernels.append(select_linear_kernel(packed, spec, activation, None, CPU))
    return kernels


def raw_call(kernel, x):
    """Return a closure calling the underlying torch kernel directly, or None for emulated paths."""
    name = kernel.choice.name
    if name.startswith("aten._weight_int4pack"):
        xb = x.to(torch.bfloat16)
        return lambda: torch.ops.aten._weight_int4pack_mm_for_cpu(
            xb, kernel.weight, kernel.group, kernel.scales_and_zeros
        )
    if name.startswith("aten._weight_int8pack"):
        xb = x.to(torch.bfloat16)
        return lambda: torch.ops.aten._weight_int8pack_mm(xb, kernel.weight, kernel.scales)
    if name.startswith("onednn"):
        codes = torch.randint(0, 255, x.shape, dtype=torch.uint8)
        return lambda: torch.ops.onednn.qlinear_pointwise(
            codes,
            0.02,
            128,
            kernel.weight,
            kernel.weight_scale,
            kernel.weight_zero,
            None,
            1.0,
            0,
            torch.float32,
            "none",
            [],
            "",
        )
    return None


def main() -> None:
    torch.manual_seed(0)
    weights = [torch.randn(FEATURES, FEATURES) * 0.02 for _ in range(LAYERS)]
    bf16 = [weight.to(torch.bfloat16) for weight in weights]
    kernels = {name: build_kernels(weights, *specs) for name, specs in FORMATS.items()}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {LAYERS} x Linear({FEATURES}, {FEATURES})\n"
    )
    print(
        "w8a8 dynamic: int8 symmetric per-channel weight, uint8 asymmetric per-tensor dynamic activations (exact with onednn.qlinear_pointwise)."
    )
    print(
        "fp8 and mxfp4 are emulated (chunked decode in the input dtype), so they have no raw kernel."
    )
    print(
        "int4 and int8 weight-only switch to a chunked decode above their crossover M, where no raw kernel is timed.\n"
    )
    print("| format | kernel | M | ms | vs fp32 | vs bf16 | vs raw kernel |")
    print("|---|---|---|---|---|---|---|")
    for rows in ROWS:
        x = torch.randn(rows, FEATURES)
        xb = x.to(torch.bfloat16)
        fp32 = timed(lambda x=x: [F.linear(x, weight) for weight in weights])
        half = timed(lambda xb=xb: [F.linear(xb, weight) for weight in bf16])
        print(f"| fp32 F.linear | - | {rows} | {fp32:.1f} | 1.00 | {fp32 / half:.2f} | - |")
        print(f"| bf16 F.linear | - | {rows} | {half:.1f} | {half / fp32:.2f} | 1.00 | - |")
        for name, layer_kernels in kernels.items():
            ours = timed(lambda x=x, ks=layer_kernels: [kernel(x, None) for kernel in ks])
            raws = [raw_call(kernel, x) for kernel in layer_kernels]
            raw = (
                timed(lambda calls=raws: [call() for call in calls])
                if raws[0] is not None and rows <= (layer_kernels[0].choice.crossover_m or 10**9)
                else None
            )
            shown = f"{ours / raw:.2f}" if raw else "-"
            choice = layer_kernels[0].choice
            kernel_name = (
                choice.name if rows <= (choice.crossover_m or 10**9) else choice.above_crossover
            )
            print(
                f"| {name} | {kernel_name} | {rows} | {ours:.1f} | {ours / fp32:.2f} | {ours / half:.2f} | {shown} |"
            )


if __name__ == "__main__":
    main()
