"""Code blocks of docs/reference/config-api.md, for the tests that run them."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import attrs

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "config-api.md"

PREAMBLE = """
import torch
import torch.nn as nn
from quantplan.quantization import (
    ModuleQuantizerConfig, QuantizationSpec, QuantizerConfig,
)
from quantplan.quantization.config import OpQuantizerConfig
from quantplan.quantization.spec import (
    PerBlockGranularity, PerChannelGranularity, PerTensorGranularity, QuantizationScheme,
    default_activation_quantization_spec, default_weight_quantization_spec,
)
"""

# Blocks that cannot run on their own: the placeholder overview, and the examples that
# need a model instance (Quantizer, ModelInspector, MyModel).
_EXEMPT_MARKERS = ("{...}", "ModelInspector", "MyModel", "Quantizer(")


@attrs.frozen
class Block:
    language: str
    line: int
    text: str

    @property
    def exempt(self) -> bool:
        return any(marker in self.text for marker in _EXEMPT_MARKERS)


def blocks() -> list[Block]:
    """Return every fenced block with its language and 1-based opening line."""
    found = []
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        match = re.match(r"^```(\w*)\s*$", line)
        if not match:
            continue
        if start is None:
            start, language = number, match.group(1)
        else:
            found.append(Block(language, start, "\n".join(lines[start : number - 1]) + "\n"))
            start = None
    return found


def python_blocks() -> list[Block]:
    return [block for block in blocks() if block.language == "python"]


def yaml_blocks() -> list[Block]:
    return [block for block in blocks() if block.language == "yaml"]


def twins() -> list[tuple[Block, Block]]:
    """Return (python, yaml) pairs: each YAML block with the Python block just before it."""
    pairs = []
    all_blocks = blocks()
    for previous, block in itertools.pairwise(all_blocks):
        if block.language == "yaml" and previous.language == "python":
            pairs.append((previous, block))
    return pairs


def run_python(block: Block) -> dict:
    """Execute a block after the preamble and return its namespace."""
    namespace: dict = {}
    exec(compile(PREAMBLE + block.text, f"config-api.md:{block.line}", "exec"), namespace)
    return namespace


def runnable_without_model(block: Block) -> Block:
    """Drop the lines of the axis-override example that need a model and a Quantizer."""
    kept = [
        line
        for line in block.text.splitlines()
        if not re.search(r"MyModel|example_inputs|Quantizer\(|prepare\(|^\s+Quantizer,$", line)
    ]
    return Block(block.language, block.line, "\n".join(kept) + "\n")
