"""The native CPU kernel for fixed-qparams fake quantization, compiled on first use.

`FixedFakeQuant` takes four ATen passes over a tensor. `fake_quant.cpp` does the same
arithmetic in one pass. In benchmarks/fake_quant.py on two cores, that took a conv net's
fake-quant forward from 1.27x to 1.20x the float time, and from 1.62x to 1.18x with
OMP_WAIT_POLICY=PASSIVE, where every parallel pass wakes a sleeping thread.

`torch.utils.cpp_extension` builds the kernel the first time a process needs it, in about
10 s with g++ on two cores, into torch's extensions folder (`TORCH_EXTENSIONS_DIR`, default
`~/.cache/torch_extensions`). The library's name contains a hash of the source and the
compiler flags, so later processes load it directly, in about 0.1 s and without a compiler,
and a changed source gets a new library (see `build`).

The environment variable `QUANTPLAN_NATIVE_KERNELS` selects the behavior:

- `auto` (default): load the library, or build it when a C++ compiler and ninja are found.
  Without them, when the build fails, or while another process holds the build lock, log one
  warning and use the ATen passes. Both give the same bits.
- `on`: loading or building must succeed (it waits for another process's build); a failure
  raises UnsupportedError with the compiler output.
- `off`: never build; always use the ATen passes.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable

import torch

from quantplan.errors import ConfigError, ErrorDetail, UnsupportedError
from quantplan.runtime.numerics.native import build

__all__ = ["NATIVE_ENV", "fixed_fake_quant_kernel", "missing_build_tools", "native_mode"]

NATIVE_ENV = "QUANTPLAN_NATIVE_KERNELS"
MODES = ("auto", "on", "off")

logger = logging.getLogger(__name__)
_lock = threading.Lock()
# The loaded operator, or None after a failed or disabled build; empty until the first try.
_loaded: dict[str, Callable | None] = {}


def native_mode() -> str:
    """Return the validated value of QUANTPLAN_NATIVE_KERNELS (`auto` when unset)."""
    raw = os.environ.get(NATIVE_ENV, "auto")
    value = raw.strip().lower() or "auto"
    if value not in MODES:
        raise ConfigError(
            ErrorDetail(
                path=NATIVE_ENV,
                message=f"invalid value {raw!r}; set it to auto, on or off, or unset it.",
            )
        )
    return value


def fixed_fake_quant_kernel() -> Callable | None:
    """Return `torch.ops.quantplan.fixed_fake_quant`, building it once; None if unavailable.

    The operator takes `(x, scale, low, high)`: a float32 CPU tensor, its per-tensor scale and
    the clamp bounds of the zero-point-free code. A disabled or failed build returns None for
    the rest of the process, so callers fall back to the ATen passes.
    """
    mode = native_mode()
    if mode == "off":
        return None
    if "kernel" not in _loaded:
        with _lock:
            if "kernel" not in _loaded:
                _loaded["kernel"] = _load(mode)
    kernel = _loaded["kernel"]
    if kernel is None and mode == "on":
        # An earlier `auto` attempt failed in this process; retry so the error is raised.
        with _lock:
            _loaded["kernel"] = _load(mode)
            kernel = _loaded["kernel"]
    return kernel


def _load(mode: str) -> Callable | None:
    if hasattr(torch.ops.quantplan, "fixed_fake_quant"):
        return torch.ops.quantplan.fixed_fake_quant
    try:
        loaded = build.load_cached()
        if not loaded:
            missing = missing_build_tools()
            if missing:
                return _unavailable(mode, f"{missing} was not found on PATH", None)
            build.build(wait=mode == "on")
    except build.BuildLocked as error:
        return _unavailable(mode, str(error), None)
    except (RuntimeError, OSError, ImportError, subprocess.SubprocessError) as error:
        return _unavailable(mode, "its build failed", error)
    # Shape propagation for FakeTensor tracing (torch.export of a prepared model).
    torch.library.register_fake("quantplan::fixed_fake_quant")(_fixed_fake_quant_shape)
    return torch.ops.quantplan.fixed_fake_quant


def _fixed_fake_quant_shape(x: torch.Tensor, scale: float, low: float, high: float):
    return torch.empty_like(x)


def missing_build_tools() -> str | None:
    """Name the build tool that is not on PATH (the C++ compiler or ninja), or return None."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"the C++ compiler {compiler!r}"
    if shutil.which("ninja", path=build.search_path()) is None:
        return "ninja"
    return None


def _unavailable(mode: str, reason: str, error: Exception | None) -> None:
    detail = f": {error}" if error is not None else ""
    if mode == "on":
        raise UnsupportedError(
            f"the native fake-quant kernel is unavailable because {reason}{detail}. "
            f"Install a C++ compiler and ninja, or set {NATIVE_ENV}=auto to fall back to "
            "the ATen kernels."
        ) from error
    logger.warning(
        "The native fake-quant kernel is unavailable because %s%s; using the ATen kernels, "
        "which give the same results more slowly. Set %s=off to skip the build.",
        reason,
        detail,
        NATIVE_ENV,
    )
    return None
