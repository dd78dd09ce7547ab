"""The native CPU kernel for fixed-qparams fake quantization, compiled on first use.

`FixedFakeQuant` takes four ATen passes over a tensor. `fake_quant.cpp` does the same
arithmetic in one pass. In benchmarks/fake_quant.py on two cores, that took a conv net's
fake-quant forward from 1.27x to 1.20x the float time, and from 1.62x to 1.18x with
OMP_WAIT_POLICY=PASSIVE, where every parallel pass wakes a sleeping thread.

`torch.utils.cpp_extension` builds the kernel the first time a process needs it, in about
10 s with g++ on two cores. torch caches the library in its extensions folder
(`TORCH_EXTENSIONS_DIR`, default `~/.cache/torch_extensions`), so later processes only load
it, in about 0.1 s.

The environment variable `QUANTPLAN_NATIVE_KERNELS` selects the behavior:

- `auto` (default): build when a C++ compiler and ninja are found. Without them, or when
  the build fails, log one warning and use the ATen passes. Both give the same bits.
- `on`: the build must succeed; a failure raises UnsupportedError with the compiler output.
- `off`: never build; always use the ATen passes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from quantplan.errors import ConfigError, ErrorDetail, UnsupportedError

__all__ = ["NATIVE_ENV", "fixed_fake_quant_kernel", "missing_build_tools", "native_mode"]

NATIVE_ENV = "QUANTPLAN_NATIVE_KERNELS"
MODES = ("auto", "on", "off")
SOURCE = Path(__file__).with_name("fake_quant.cpp")

logger = logging.getLogger(__name__)
_lock = threading.Lock()
# The loaded operator, or None after a failed or disabled build; empty until the first try.
_loaded: dict[str, Callable | None] = {}


def native_mode() -> str:
    """Return the validated value of QUANTPLAN_NATIVE_KERNELS (`auto` when unset)."""
    value = os.environ.get(NATIVE_ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ConfigError(
            ErrorDetail(
                path=NATIVE_ENV,
                message=(
                    f"environment variable {NATIVE_ENV}={value!r} is invalid; "
                    f"use one of: {', '.join(MODES)}."
                ),
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
    missing = missing_build_tools()
    if missing:
        return _unavailable(mode, f"{missing} not found on PATH", None)
    try:
        _build()
    except (RuntimeError, OSError, ImportError) as error:
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
        return f"no C++ compiler ({compiler})"
    if shutil.which("ninja", path=_search_path()) is None:
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


def _build() -> None:
    from torch.utils import cpp_extension

    logger.info("Building the native fake-quant kernel once for this machine (about 10 s).")
    with _ninja_on_path():
        cpp_extension.load(
            name=f"quantplan_fake_quant_{_vector_isa()}",
            sources=[str(SOURCE)],
            extra_cflags=_compiler_flags(),
            is_python_module=False,
            verbose=False,
        )


def _vector_isa() -> str:
    capability = torch.backends.cpu.get_cpu_capability().lower()
    if platform.machine().lower() in ("x86_64", "amd64") and capability.startswith("avx"):
        return "avx2"
    return "default"


def _compiler_flags() -> list[str]:
    # No -ffast-math: the kernel's exactness depends on true division and ordered rounding.
    # -ffp-contract=off keeps `0.0f + q * s` two rounded operations rather than one FMA; both
    # give the same bits, but then the result does not rest on that argument.
    flags = ["-O3", "-ffp-contract=off"]
    if _vector_isa() == "avx2":
        flags.append("-mavx2")
    return flags


def _search_path() -> str:
    """Return PATH with the `ninja` pip package's binary folder first, if that is installed.

    A virtualenv's bin folder, where pip puts ninja, is on PATH only while it is activated.
    """
    path = os.environ.get("PATH", "")
    try:
        import ninja
    except ImportError:
        return path
    return os.pathsep.join([ninja.BIN_DIR, path])


@contextlib.contextmanager
def _ninja_on_path() -> Iterator[None]:
    """Run the block with `_search_path()` as PATH, so that torch's build finds ninja."""
    original = os.environ.get("PATH", "")
    os.environ["PATH"] = _search_path()
    try:
        yield
    finally:
        os.environ["PATH"] = original
