"""Packed replacements for embeddings, convolutions and HF Conv1D, plus the graph-mode holder.

Each dequantizes its weight exactly (equal to the fake-quantized weight) and runs the float op,
so its kernel is recorded as emulated. Embeddings gather the packed rows first and
dequantize only those rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from quantplan.errors import UnsupportedError
from quantplan.runtime.formats import PackedTensor, dequantize
from quantplan.runtime.kernels import KernelChoice
from quantplan.runtime.real.packed_module import PackedWeightModule

__all__ = ["PackedWeightHolder", "QuantizedConv", "QuantizedEmbedding", "QuantizedHFConv1D"]


class QuantizedEmbedding(PackedWeightModule):
    """nn.Embedding over a packed `[V, D]` weight: gather rows, then dequantize them."""

    def __init__(self, packed: PackedTensor, spec, source: nn.Embedding, **kwargs):
        super().__init__(packed, spec, **kwargs)
        if source.max_norm is not None:
            raise UnsupportedError(
                f"real mode cannot quantize an Embedding with max_norm={source.max_norm}, because the lookup renormalizes the stored weight."
            )
        self.num_embeddings, self.embedding_dim = packed.shape
        self.padding_idx = source.padding_idx

    def select_kernel(self):
        return _Gather(KernelChoice(name="gather+dequantize", native=False))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with torch._C.DisableTorchFunction():
            return self.quantize_output(self.lookup(ids))

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        packed = self.packed()
        if packed.block_shape[0] != 1:
            return F.embedding(ids, dequantize(packed, self.spec))
        rows = ids.reshape(-1)
        gathered = PackedTensor(
            dtype=packed.dtype,
            shape=(rows.numel(), packed.shape[1]),
            block_shape=packed.block_shape,
            data=packed.data[rows],
            scale=packed.scale[rows],
            scale_encoding=packed.scale_encoding,
            zero_point=None if packed.zero_point is None else packed.zero_point[rows],
            minval=None if packed.minval is None else packed.minval[rows],
            implied_zero_point=packed.implied_zero_point,
        )
        return dequantize(gathered, self.spec).reshape(*ids.shape, packed.shape[1])


class _Gather:
    def __init__(self, choice: KernelChoice):
        self.choice = choice


class QuantizedConv(PackedWeightModule):
    """nn.ConvNd / nn.ConvTransposeNd over a packed weight, dequantized per call into a reused buffer."""

    def __init__(self, packed: PackedTensor, spec, source: nn.modules.conv._ConvNd, **kwargs):
        super().__init__(packed, spec, **kwargs)
        if source.padding_mode != "zeros":
            raise UnsupportedError(
                f"real mode supports convolutions with padding_mode='zeros', got {source.padding_mode!r}."
            )
        self.bias = (
            None if source.bias is None else nn.Parameter(source.bias.detach(), requires_grad=False)
        )
        self.transposed = source.transposed
        self.dims = len(source.kernel_size)
        self.stride, self.padding, self.dilation = source.stride, source.padding, source.dilation
        self.groups, self.output_padding = source.groups, source.output_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch._C.DisableTorchFunction():
            x = self.quantize_input(x)
            weight = self.dequantized_weight().to(x.dtype)
            bias = None if self.bias is None else self.bias.to(x.dtype)
            if self.transposed:
                function = getattr(F, f"conv_transpose{self.dims}d")
                out = function(
                    x,
                    weight,
                    bias,
                    self.stride,
                    self.padding,
                    self.output_padding,
                    self.groups,
                    self.dilation,
                )
            else:
                function = getattr(F, f"conv{self.dims}d")
                out = function(
                    x, weight, bias, self.stride, self.padding, self.dilation, self.groups
                )
            return self.quantize_output(out)


class QuantizedHFConv1D(PackedWeightModule):
    """transformers' Conv1D (a linear with an `[in, out]` weight): `addmm(bias, x, W)`."""

    def __init__(self, packed: PackedTensor, spec, source: nn.Module, **kwargs):
        super().__init__(packed, spec, **kwargs)
        self.nx, self.nf = packed.shape
        self.bias = nn.Parameter(source.bias.detach(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch._C.DisableTorchFunction():
            x = self.quantize_input(x)
            weight = self.dequantized_weight().to(x.dtype)
            out = torch.addmm(self.bias.to(x.dtype), x.reshape(-1, self.nx), weight)
            return self.quantize_output(out.reshape(*x.shape[:-1], self.nf))


class PackedWeightHolder(PackedWeightModule):
    """Graph mode: holds a packed weight (and the owner's other parameters) at the owner's path.

    The graph reads the float weight through `dequantized_weight()` and runs the original op.
    """

    def __init__(self, packed: PackedTensor, spec, others: dict[str, torch.Tensor], **kwargs):
        super().__init__(packed, spec, **kwargs)
        for name, tensor in others.items():
            if isinstance(tensor, nn.Parameter):
                setattr(self, name, nn.Parameter(tensor.detach(), requires_grad=False))
            else:
                self.register_buffer(name, tensor)

    def forward(self) -> torch.Tensor:
        return self.dequantized_weight()
