"""`apply_real` and `convert`: replace each planned Linear weight with its packed form.

Steps, so that nothing changes unless everything fits:
1. capture the model again and check it against the plan (PlanMismatchError on drift);
2. collect the planned sites (the same `plan_sites` as fake quantization) and check that
   real mode supports every one: weights of nn.Linear modules, and the input and output
   activations of those linears;
3. quantize and pack each weight (frozen qparams when given, else computed from the weight);
4. swap each nn.Linear for a `QuantizedLinear` in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from quantplan.errors import ErrorDetail, PlanError, UnsupportedError
from quantplan.plan.model import Plan, PlanOp
from quantplan.runtime.fake.sites import Site, plan_sites
from quantplan.runtime.formats import empty_packed, pack
from quantplan.runtime.real.linear import QuantizedLinear

__all__ = ["REAL_ATTRIBUTE", "apply_real", "convert", "linear_targets"]

REAL_ATTRIBUTE = "quantplan_real"
_LINEAR = "torch.nn.modules.linear.Linear"


def apply_real(
    model: nn.Module,
    plan: Plan,
    qparams: Mapping[str, torch.Tensor] | None = None,
    example_inputs: Any = None,
    *,
    layouts: Mapping[str, dict] | None = None,
) -> nn.Module:
    """Quantize `model`'s planned Linear weights into packed storage, in place, and return it.

    With `layouts` (module path -> `PackedTensor.layout()` record, as an artifact stores
    them), the weights are not quantized: each module gets empty packed buffers of those
    layouts on the weights' device, to be filled from the artifact (this is how `load`
    builds a model on the meta device).
    """
    from quantplan.runtime.apply import capture_for_plan

    captured = capture_for_plan(model, plan, example_inputs)
    sites = plan_sites(plan, captured.graph)
    targets = linear_targets(plan, sites)
    frozen = dict(qparams or {})
    _check_frozen(targets, frozen)
    modules = {
        path: _quantized_linear(model, path, target, plan, frozen, None if layouts is None else layouts.get(path))
        for path, target in targets.items()
    }
    for path, module in modules.items():
        model.set_submodule(path, module)
    setattr(model, REAL_ATTRIBUTE, {"plan_sha256": plan.sha256(), "qparams": frozen})
    return model


def convert(prepared: nn.Module, plan: Plan, qparams: Mapping[str, torch.Tensor]) -> nn.Module:
    """Convert a fake-quant prepared model into real packed form with its frozen qparams.

    The prepared model's float weights are unchanged by fake quantization, so packing them
    with the frozen weight qparams gives weights equal to the fake-quantized ones.
    NOTE: graph-mode prepared models are GraphModules whose Linear modules were flattened by
    torch.export; convert them by applying the plan to the original float model instead.
    """
    from quantplan.runtime.fake.control import fake_quantizers

    for quantizer in fake_quantizers(prepared):
        quantizer.set_observe(False)
    return apply_real(_strip_quantizers(prepared), plan, qparams)


def _strip_quantizers(prepared: nn.Module) -> nn.Module:
    # TODO: the fake runtime exposes no call that removes its parametrizations and hooks yet;
    # until `remove_eager` exists, convert a prepared model by applying the plan in real mode
    # to the original float model with the frozen qparams.
    try:
        from quantplan.runtime.fake.eager_mode import remove_eager
    except ImportError:
        raise UnsupportedError(
            "convert() needs the fake runtime's remove_eager(), which is not available; call "
            "apply_plan(float_model, plan, mode='real', qparams=frozen_qparams) instead."
        ) from None
    return remove_eager(prepared)


def linear_targets(plan: Plan, sites: list[Site]) -> dict[str, dict]:
    """Map each planned Linear module path to its weight, input and output sites.

    Raises UnsupportedError listing every quantized site that real mode cannot serve.
    """
    by_entry = {entry: site for site in sites for entry in site.entries}
    targets: dict[str, dict] = {}
    served: set[str] = set()
    for op in plan.ops:
        weight = op.state.get("weight")
        if op.module_type != _LINEAR or op.type != "linear" or weight is None or weight.spec is None:
            continue
        target = targets.setdefault(op.module, {"op": op})
        for group, key in (("state", "weight"), ("inputs", 0), ("outputs", 0)):
            site = by_entry.get(f"ops/{op.name}/{group}/{key}")
            if site is not None:
                target[group] = site
                served.add(site.key)
    unsupported = [site.key for site in sites if site.key not in served]
    if unsupported:
        raise UnsupportedError(
            "real mode quantizes nn.Linear weights and the input and output activations of those "
            f"linears; these planned sites are not supported: {', '.join(sorted(unsupported))}. "
            "Use mode='fake' for them, or leave them in float in the config."
        )
    return targets


def _check_frozen(targets: dict[str, dict], frozen: Mapping[str, torch.Tensor]) -> None:
    missing = []
    for target in targets.values():
        for group in ("inputs", "outputs"):
            site = target.get(group)
            static = site is not None and site.spec.qparam_calculator_cls != "dynamic"
            if static and f"{site.key}/scale" not in frozen:
                missing.append(ErrorDetail(path=site.key, message=f"frozen qparams for {site.key} are missing; calibrate and freeze the plan, or use a dynamic activation spec."))
    if missing:
        raise PlanError(missing)


def _quantized_linear(
    model: nn.Module, path: str, target: dict, plan: Plan, frozen: Mapping[str, torch.Tensor], layout: dict | None
) -> QuantizedLinear:
    from quantplan.runtime.numerics import QParams, compute_qparams

    linear = model.get_submodule(path)
    site: Site = target["state"]
    spec = site.spec.to_quantization_spec()
    block = tuple(site.spec.block_shape)
    weight = linear.weight.detach()
    if layout is not None:
        packed = empty_packed(layout, weight.device)
    elif f"{site.key}/scale" in frozen:
        qparams = QParams(**{field: frozen.get(f"{site.key}/{field}") for field in ("scale", "zero_point", "minval")})
    else:
        qparams = compute_qparams(weight, spec, role="weight", block_shape=block)
    if layout is None:
        packed = pack(weight, qparams, spec, block, name=site.key.removeprefix("params/"))
    module = QuantizedLinear(
        packed,
        linear.bias,
        spec,
        plan_sha256=plan.sha256(),
        activation_spec=_spec_of(target.get("inputs")),
        output_spec=_spec_of(target.get("outputs")),
    )
    for group in ("inputs", "outputs"):
        _attach_frozen(module, target.get(group), group.removesuffix("s"), frozen)
    return module


def _spec_of(site: Site | None):
    return None if site is None else site.spec.to_quantization_spec()


def _attach_frozen(module: QuantizedLinear, site: Site | None, group: str, frozen: Mapping[str, torch.Tensor]) -> None:
    if site is None:
        return
    for field in ("scale", "zero_point", "minval"):
        value = frozen.get(f"{site.key}/{field}")
        if value is not None:
            module.register_buffer(f"{group}_{field}", value.clone())
