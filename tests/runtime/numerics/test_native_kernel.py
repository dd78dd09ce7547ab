"""The native fake-quant kernel: same bits as the ATen passes, and a clear fallback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from quantplan.errors import ConfigError
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics import build_fixed_fake_quant, fake_quantize
from quantplan.runtime.numerics.native import (
    NATIVE_ENV,
    build,
    fixed_fake_quant_kernel,
    missing_build_tools,
    native_mode,
)

SPEC = QuantizationSpec(dtype="uint8", qscheme="asymmetric")


def require_kernel():
    """Return the kernel; skip only where this machine lacks the build tools."""
    missing = missing_build_tools()
    if missing is not None:
        pytest.skip(f"the native kernel cannot be built here: {missing} not found")
    kernel = fixed_fake_quant_kernel()
    assert kernel is not None, "the build tools exist, but the native kernel failed to build"
    return kernel


def build_both(x: torch.Tensor):
    qparams = fake_quantize(x, SPEC, role="activation").qparams
    native = build_fixed_fake_quant(qparams, SPEC, x.shape, tuple(x.shape), x.device)
    aten = build_fixed_fake_quant(qparams, SPEC, x.shape, tuple(x.shape), x.device, native=False)
    return native, aten


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "channels_last"])
def test_native_matches_aten_bits(layout):
    require_kernel()
    torch.manual_seed(3)
    x = torch.randn(4, 8, 16, 16) * 3
    x.view(-1)[:5] = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan")])
    if layout == "transposed":
        x = x.transpose(1, 3)
    elif layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    native, aten = build_both(x)

    expected = aten(x)
    actual = native(x)

    assert native.kernel is not None
    assert aten.kernel is None
    assert torch.equal(actual.isnan(), expected.isnan())
    finite = ~expected.isnan()
    assert torch.equal(actual[finite].view(torch.int32), expected[finite].view(torch.int32))


def test_native_handles_ties_and_large_tensors():
    require_kernel()
    scale = 0.0123
    codes = torch.arange(-200, 200, dtype=torch.float32).repeat(1000)
    x = (codes + 0.5) * scale
    x = torch.cat(
        [x, torch.nextafter(x, torch.tensor(1e9)), torch.nextafter(x, torch.tensor(-1e9))]
    )
    native, aten = build_both(x)

    assert torch.equal(native(x).view(torch.int32), aten(x).view(torch.int32))


def test_native_keeps_bfloat16_dtype():
    require_kernel()
    x = torch.randn(64, 64).to(torch.bfloat16)
    native, aten = build_both(x)

    output = native(x)

    assert output.dtype == torch.bfloat16
    assert torch.equal(output.view(torch.int16), aten(x).view(torch.int16))


def test_native_rejects_wide_bounds():
    kernel = require_kernel()

    with pytest.raises(RuntimeError, match="must contain 0 and span under 2"):
        kernel(torch.zeros(4), 0.5, 1.0, 10.0)


def test_per_block_keeps_aten_path():
    spec = QuantizationSpec(
        dtype="int8", granularity={"type": "per_block", "axis": 1, "block_size": 8}
    )
    x = torch.randn(4, 32)
    block = (1, 8)
    qparams = fake_quantize(x, spec, role="activation", block_shape=block).qparams

    fixed = build_fixed_fake_quant(qparams, spec, x.shape, block, x.device)

    assert fixed.kernel is None


def test_invalid_mode_names_variable(monkeypatch):
    monkeypatch.setenv(NATIVE_ENV, "sometimes")

    with pytest.raises(ConfigError) as error:
        native_mode()

    message = str(error.value)
    assert message.startswith(f"{NATIVE_ENV}: invalid value 'sometimes'")
    assert "set it to auto, on or off, or unset it" in message


def test_off_mode_uses_aten(monkeypatch):
    monkeypatch.setenv(NATIVE_ENV, "off")
    x = torch.randn(16)

    native, _ = build_both(x)

    assert fixed_fake_quant_kernel() is None
    assert native.kernel is None


def _run_fresh(mode: str, tmp_path, compiler: str) -> subprocess.CompletedProcess:
    """Run a fresh process with `compiler` as CXX and an extensions folder under `tmp_path`."""
    code = (
        "import torch\n"
        "from quantplan.quantization.spec import QuantizationSpec\n"
        "from quantplan.runtime.numerics import build_fixed_fake_quant, fake_quantize\n"
        "spec = QuantizationSpec(dtype='uint8', qscheme='asymmetric')\n"
        "x = torch.randn(256)\n"
        "qparams = fake_quantize(x, spec, role='activation').qparams\n"
        "fixed = build_fixed_fake_quant(qparams, spec, x.shape, tuple(x.shape), x.device)\n"
        "reference = build_fixed_fake_quant(qparams, spec, x.shape, tuple(x.shape), x.device, native=False)\n"
        "print('kernel', fixed.kernel, 'equal', torch.equal(fixed(x), reference(x)))\n"
    )
    environment = dict(os.environ)
    environment.update(
        {
            NATIVE_ENV: mode,
            "CXX": compiler,
            "TORCH_EXTENSIONS_DIR": str(tmp_path / "extensions"),
        }
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300
    )


def test_auto_falls_back_with_warning(tmp_path):
    result = _run_fresh("auto", tmp_path, str(tmp_path / "no-such-compiler"))

    assert result.returncode == 0, result.stderr
    assert "kernel None equal True" in result.stdout
    assert "unavailable because the C++ compiler" in result.stderr
    assert "was not found on PATH; using the ATen kernels" in result.stderr


def test_on_mode_raises_without_compiler(tmp_path):
    result = _run_fresh("on", tmp_path, str(tmp_path / "no-such-compiler"))

    assert result.returncode != 0
    assert "UnsupportedError" in result.stderr
    assert "Install a C++ compiler and ninja" in result.stderr


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_failing_compiler_handled(tmp_path, mode):
    # /bin/false exists but fails every call, including torch's compiler version check.
    result = _run_fresh(mode, tmp_path, "/bin/false")

    if mode == "auto":
        assert result.returncode == 0, result.stderr
        assert "kernel None equal True" in result.stdout
        assert "unavailable because its build failed" in result.stderr
    else:
        assert result.returncode != 0
        assert "UnsupportedError" in result.stderr
        assert "CalledProcessError" not in result.stderr.splitlines()[-1]


def test_cached_library_loads_without_compiler(tmp_path):
    require_kernel()
    cached = build.library_path()
    environment = dict(
        os.environ,
        **{NATIVE_ENV: "on", "CXX": str(tmp_path / "no-such-compiler")},
        TORCH_EXTENSIONS_DIR=str(cached.parent.parent),
    )
    code = (
        "from quantplan.runtime.numerics.native import fixed_fake_quant_kernel\n"
        "print('kernel', fixed_fake_quant_kernel())\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300
    )

    assert result.returncode == 0, result.stderr
    assert "kernel quantplan.fixed_fake_quant" in result.stdout
    assert "Building" not in result.stderr


def test_stale_lock_removed(tmp_path, caplog):
    lock = tmp_path / "lock"
    lock.touch()
    old = time.time() - build.STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))

    build._clear_lock(lock, wait=False)

    assert not lock.exists()
    assert "left" in caplog.text
    assert "by a build that did not finish" in caplog.text


def test_fresh_lock_not_waited_in_auto(tmp_path):
    lock = tmp_path / "lock"
    lock.touch()

    with pytest.raises(build.BuildLocked, match="another process is building it"):
        build._clear_lock(lock, wait=False)

    assert lock.exists()


def test_fresh_lock_falls_back_without_hanging(tmp_path):
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        pytest.skip("no C++ compiler here, so the build would not reach the lock")
    environment = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path / "extensions"))
    code = "from quantplan.runtime.numerics.native import build\nprint(build.build_directory())\n"
    directory = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    ).stdout.strip()
    Path(directory).mkdir(parents=True)
    (Path(directory) / "lock").touch()

    result = _run_fresh("auto", tmp_path, compiler)

    assert result.returncode == 0, result.stderr
    assert "kernel None equal True" in result.stdout
    assert "another process is building it" in result.stderr


def test_invalid_mode_fails_at_prepare(monkeypatch):
    from torch import nn

    from quantplan import Quantizer, QuantizerConfig

    monkeypatch.setenv(NATIVE_ENV, "fast")
    quantizer = Quantizer(nn.Sequential(nn.Linear(4, 4)).eval(), QuantizerConfig())

    with pytest.raises(ConfigError, match="invalid value 'fast'"):
        quantizer.prepare((torch.randn(2, 4),))
