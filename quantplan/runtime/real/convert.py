"""`apply_real` and `convert`: a fake-quant model with its planned weights replaced by packed ones.

Real mode reuses the fake runtime for activations: every activation site keeps its
FakeQuantizer with frozen (or dynamic) qparams. Each planned weight is packed and its owner
module replaced (see `targets` for the supported owners):
- eager mode swaps the owner for a packed module that runs its op hidden from the eager
  runtime, so it applies the op's own input and output quantizers itself;
- graph mode swaps the owner at its path in the GraphModule: a linear node becomes a call of
  `QuantizedLinear`, and any other op reads its weight from a `PackedWeightHolder`.
Batch norm fused after a planned conv is folded into the conv first, and the folded weight
is quantized with the conv's spec (its qparams computed from the folded weight).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import fx, nn

from quantplan.errors import ErrorDetail, PlanError, UnsupportedError
from quantplan.plan.model import Plan
from quantplan.runtime.formats import empty_packed, pack
from quantplan.runtime.real.batchnorm import (
    batch_norm_from_node,
    bypass_batch_norm,
    fold_batch_norm,
    graph_attribute,
    graph_conv_batch_norm,
    remove_batch_norm,
)
from quantplan.runtime.real.graph import serving_quantizer, swap_graph_weight
from quantplan.runtime.real.linear import QuantizedLinear
from quantplan.runtime.real.modules import QuantizedConv, QuantizedEmbedding, QuantizedHFConv1D
from quantplan.runtime.real.packed_module import check_state_dict_plan
from quantplan.runtime.real.targets import WeightTarget, weight_targets

__all__ = ["REAL_ATTRIBUTE", "apply_real", "convert"]

REAL_ATTRIBUTE = "quantplan_real"
_EAGER_CLASSES = {
    "embedding": QuantizedEmbedding,
    "conv": QuantizedConv,
    "hf_conv1d": QuantizedHFConv1D,
}


def apply_real(
    model: nn.Module,
    plan: Plan,
    qparams: Mapping[str, torch.Tensor] | None = None,
    example_inputs: Any = None,
    *,
    layouts: Mapping[str, dict] | None = None,
) -> nn.Module:
    """Quantize `model` for real: packed weights and frozen activation qparams.

    Unsupported weight sites raise UnsupportedError before the model changes. With `layouts`
    (parameter path -> `PackedTensor.layout()`, as an artifact stores them) the weights get
    empty packed storage to be filled from the artifact, which is how `load` works on the
    meta device.
    """
    from quantplan.runtime.apply import _apply_fake, _reject_prepared

    weight_targets(plan)
    _reject_prepared(model)
    prepared = _apply_fake(model, plan, None, example_inputs)
    frozen = dict(qparams or {})
    _assign_given(prepared, frozen)
    return _convert(prepared, plan, frozen, layouts)


def convert(prepared: nn.Module, plan: Plan, qparams: Mapping[str, torch.Tensor]) -> nn.Module:
    """Convert a fake-quant prepared model (graph or eager) into real form, in place where eager.

    `qparams` are the frozen qparams (`Quantizer.qparams()`); weights are packed from the
    prepared model's float parameters, which fake quantization never changes.
    """
    weight_targets(plan)
    return _convert(prepared, plan, dict(qparams), None)


def _assign_given(prepared: nn.Module, frozen: Mapping[str, torch.Tensor]) -> None:
    from quantplan.runtime.fake.control import fake_quantizers
    from quantplan.runtime.numerics import QParams

    for quantizer in fake_quantizers(prepared):
        quantizer.set_observe(False)
        if f"{quantizer.key}/scale" in frozen:
            fields = {
                field: frozen.get(f"{quantizer.key}/{field}")
                for field in ("scale", "zero_point", "minval")
            }
            quantizer.set_qparams(QParams(**fields))


def _convert(
    prepared: nn.Module, plan: Plan, frozen: dict, layouts: Mapping[str, dict] | None
) -> nn.Module:
    from quantplan.runtime.fake.control import fake_quantizers

    quantizers = {quantizer.key: quantizer for quantizer in fake_quantizers(prepared)}
    _check_activations(quantizers)
    graph_mode = isinstance(prepared, fx.GraphModule)
    used: dict[str, torch.Tensor] = {}
    for target in weight_targets(plan):
        layout = None if layouts is None else layouts.get(target.param)
        if graph_mode:
            _convert_graph_target(prepared, plan, target, frozen, layout, quantizers, used)
        else:
            prepared = _convert_eager_target(
                prepared, plan, target, frozen, layout, quantizers, used
            )
    if graph_mode:
        prepared.delete_all_unused_submodules()
        prepared.graph.lint()
        prepared.recompile()
    for quantizer in quantizers.values():
        quantizer.set_observe(False)
        if quantizer.role != "weight" and quantizer.frozen:
            for field in ("scale", "zero_point", "minval"):
                value = getattr(quantizer.qparams(), field)
                if value is not None:
                    used[f"{quantizer.key}/{field}"] = value.detach().cpu()
    setattr(prepared, REAL_ATTRIBUTE, {"plan_sha256": plan.sha256(), "qparams": used})
    prepared.register_load_state_dict_pre_hook(check_state_dict_plan)
    return prepared.eval()


def _check_activations(quantizers: dict) -> None:
    missing = [
        ErrorDetail(
            path=key,
            message=f"frozen qparams for {key} are missing; calibrate and freeze the plan, or use a dynamic activation spec.",
        )
        for key, quantizer in quantizers.items()
        if quantizer.role != "weight" and not quantizer.dynamic and not quantizer.frozen
    ]
    if missing:
        raise PlanError(missing)


def _packed_weight(weight, target: WeightTarget, frozen: dict, layout, folded: bool, used: dict):
    """Pack `weight` with frozen qparams (computed from it when absent or after folding)."""
    from quantplan.runtime.numerics import QParams, compute_qparams

    spec = target.op.state["weight"].spec
    quantization_spec = spec.to_quantization_spec()
    block = tuple(spec.block_shape)
    key = f"params/{target.param}"
    if layout is not None:
        packed = empty_packed(layout, weight.device)  # meta during load; `_materialize` fills it
    else:
        if f"{key}/scale" in frozen and not folded:
            qparams = QParams(
                **{
                    field: frozen.get(f"{key}/{field}")
                    for field in ("scale", "zero_point", "minval")
                }
            )
        else:
            qparams = compute_qparams(
                weight.detach(), quantization_spec, role="weight", block_shape=block
            )
        packed = pack(weight.detach(), qparams, quantization_spec, block, name=target.param)
        for field in ("scale", "zero_point", "minval"):
            value = getattr(qparams, field)
            if value is not None:
                used[f"{key}/{field}"] = value.detach().cpu()
    return packed, quantization_spec


def _site_quantizer(quantizers: dict, op_name: str, group: str):
    """Return the quantizer located at input or output 0 of `op_name`, if any."""
    return quantizers.get(f"ops/{op_name}/{group}/0")


def _convert_eager_target(model, plan, target, frozen, layout, quantizers, used) -> nn.Module:
    """Swap `target`'s owner for its packed module; return the model's root (the packed module when the root is the owner)."""
    from torch.nn.utils import parametrize

    owner = model.get_submodule(target.module)
    if parametrize.is_parametrized(owner, "weight"):
        parametrize.remove_parametrizations(owner, "weight", leave_parametrized=False)
    weight, bias = owner.weight, getattr(owner, "bias", None)
    if target.batch_norm is not None and layout is None:
        weight, bias = fold_batch_norm(
            weight, bias, model.get_submodule(target.batch_norm.module), transposed=owner.transposed
        )
    if target.batch_norm is not None:
        bias = _folded_bias(bias, owner.weight)
    packed, spec = _packed_weight(
        weight, target, frozen, layout, target.batch_norm is not None, used
    )
    located = _site_quantizer(quantizers, target.op.name, "inputs")
    sites = {
        "plan_sha256": plan.sha256(),
        "output_quantizer": _site_quantizer(quantizers, target.op.name, "outputs"),
    }
    if target.kind == "linear":
        serving = serving_quantizer(quantizers, f"ops/{target.op.name}/inputs/0")
        module = QuantizedLinear(
            packed, bias, spec, input_quantizer=serving, apply_input=serving is located, **sites
        )
    else:
        if target.batch_norm is not None:
            owner.bias = nn.Parameter(bias.detach(), requires_grad=False)
        module = _EAGER_CLASSES[target.kind](packed, spec, owner, input_quantizer=located, **sites)
    if not target.module:
        return module  # the root itself is the quantized layer, and batch norm needs a parent
    model.set_submodule(target.module, module)
    if target.batch_norm is not None:
        remove_batch_norm(model, target.batch_norm.module)
    return model


def _folded_bias(bias, weight):
    if bias is not None:
        return bias
    # A conv without bias gets one from folding; at load it is filled from the artifact.
    channels = weight.shape[0]
    return torch.zeros(channels, dtype=torch.float32, device=weight.device)


def _convert_graph_target(
    module: fx.GraphModule, plan, target, frozen, layout, quantizers, used
) -> None:
    if not target.module:
        raise UnsupportedError(
            f"params/{target.param}: the model's root module is the quantized layer, which a graph-mode "
            "plan cannot serve in real mode; compile the plan with execution_mode='eager', or wrap the "
            "layer in a container module."
        )
    owner = module.get_submodule(target.module)
    weight = owner.weight
    folded = target.batch_norm is not None
    if folded:
        weight = _fold_graph_batch_norm(module, target, owner)
    packed, spec = _packed_weight(weight, target, frozen, layout, folded, used)
    swap_graph_weight(module, target, packed, spec, plan.sha256(), quantizers)


def _fold_graph_batch_norm(
    module: fx.GraphModule, target: WeightTarget, owner: nn.Module
) -> torch.Tensor:
    """Fold `target`'s batch norm into its conv node and return the folded weight.

    The conv's bias is replaced by a new parameter (never written in place), so the float
    model that the prepared graph shares tensors with stays unchanged. On the meta device,
    as during `load`, the folded values are placeholders that the artifact fills.
    """
    norm = target.batch_norm
    conv_node, norm_node = graph_conv_batch_norm(module, target.op.name, norm.name)
    bias_node = conv_node.args[2] if len(conv_node.args) > 2 else None
    bias = graph_attribute(module, bias_node.target) if isinstance(bias_node, fx.Node) else None
    weight, bias = fold_batch_norm(
        owner.weight,
        bias,
        batch_norm_from_node(module, norm_node),
        transposed="transpose" in target.op.type,
    )
    owner.bias = nn.Parameter(bias.detach(), requires_grad=False)
    if not isinstance(bias_node, fx.Node) or bias_node.target != f"{target.module}.bias":
        with module.graph.inserting_before(conv_node):
            new_bias_node = module.graph.get_attr(f"{target.module}.bias")
        args = list(conv_node.args) + [None] * max(0, 3 - len(conv_node.args))
        args[2] = new_bias_node
        conv_node.args = tuple(args)
        if isinstance(bias_node, fx.Node) and not bias_node.users:
            module.graph.erase_node(bias_node)
    bypass_batch_norm(module, conv_node, norm_node)
    for node in list(module.graph.nodes):
        if node.op == "get_attr" and node.target.startswith(f"{norm.module}.") and not node.users:
            module.graph.erase_node(node)
    return weight
