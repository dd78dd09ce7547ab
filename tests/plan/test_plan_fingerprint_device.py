"""The structure fingerprint covers what a plan depends on, so the capture device cannot change it.

On the meta device torch.export keeps a `contiguous` copy after scaled_dot_product_attention
that it drops on CPU, where the tensor is already contiguous.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from quantplan.compiler.capture import capture_model
from quantplan.plan.fingerprint import structure_fingerprint


class SdpaBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 8)
        self.out = nn.Linear(8, 8)

    def forward(self, x):
        batch, seq, _ = x.shape
        heads = self.qkv(x).view(batch, seq, 2, 4).transpose(1, 2)
        attended = functional.scaled_dot_product_attention(heads, heads, heads)
        return self.out(attended.transpose(1, 2).contiguous().view(batch, seq, 8))


def _graph(device: str):
    with torch.device(device):
        torch.manual_seed(0)
        model = SdpaBlock().eval()
        inputs = (torch.randn(2, 3, 8),)
    return capture_model(model, inputs, mode="graph").graph


def test_meta_graph_has_extra_layout_op():
    meta_types = [op.type for op in _graph("meta").ops]
    cpu_types = [op.type for op in _graph("cpu").ops]
    assert meta_types.count("contiguous") == cpu_types.count("contiguous") + 1


def test_fingerprint_same_on_meta_and_cpu():
    assert structure_fingerprint(_graph("meta")) == structure_fingerprint(_graph("cpu"))
