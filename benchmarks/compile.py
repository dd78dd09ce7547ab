"""Compile-time benchmark: resolution vs torch.export, and scaling with model depth.

Prints, from one run on this machine's CPU:
- plan-resolution time / torch.export time for a small Llama (transformers), goal <= 0.1;
- compile time of a 32-block vs a 4-block Llama-shaped model built on meta, goal <= 9x.
Run: `.venv/bin/python benchmarks/compile.py`.
"""

from __future__ import annotations

import time

import torch

from quantplan.compiler.capture import capture_model
from quantplan.compiler.compile import compile_plan
from quantplan.compiler.resolve import resolve
from quantplan.quantization.config import QuantizerConfig


def llama(layers: int, device: str = "cpu"):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, use_cache=False,
    )  # fmt: skip
    with torch.device(device):
        model = LlamaForCausalLM(config).eval()
    return model, (torch.zeros(1, 16, dtype=torch.long),)


def best_of(repeats: int, function) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    config = QuantizerConfig()
    model, inputs = llama(4)
    export_s, captured = best_of(2, lambda: capture_model(model, inputs, mode="graph"))
    resolve_s, _ = best_of(5, lambda: resolve(captured.graph, config))
    print(
        f"llama-4 graph mode: torch.export+capture {export_s:.3f} s, resolve {resolve_s:.4f} s, "
        f"ratio {resolve_s / export_s:.3f} (goal <= 0.1)"
    )

    times = {}
    for layers in (4, 32):
        meta_model, meta_inputs = llama(layers, device="meta")
        times[layers], _ = best_of(
            1, lambda model=meta_model, inputs=meta_inputs: compile_plan(model, inputs, config)
        )
    print(
        f"meta compile: 4 blocks {times[4]:.2f} s, 32 blocks {times[32]:.2f} s, "
        f"ratio {times[32] / times[4]:.2f} (goal <= 9)"
    )


if __name__ == "__main__":
    main()
