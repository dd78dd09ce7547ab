"""Install quantizers on a module in place, for eager-mode plans.

- Weights: a parametrization per (owning module, attribute); a tied weight's aliases share
  one quantizer.
- Op activations: a torch-function mode, entered for each forward of the root module, names
  every op exactly as eager capture does (`EagerOpNamer`) and quantizes the inputs and
  outputs that the plan lists for that name.
- Module boundaries: forward pre-hooks and hooks on the module, counting its call sites.

Quantizer computations run with torch functions disabled, so they never count as ops.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.module_calls import argument_positions
from quantplan.compiler.capture.tensors import flat_tensors
from quantplan.compiler.graph import ModelGraph
from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.model import Plan
from quantplan.runtime.fake.control import attach_quantizer_list
from quantplan.runtime.fake.eager_ops import EagerQuantizationMode
from quantplan.runtime.fake.quantizer import FakeQuantizer
from quantplan.runtime.fake.sites import Site

__all__ = ["WeightParametrization", "install_eager"]


class WeightParametrization(nn.Module):
    """Parametrization that fake-quantizes a weight with a shared quantizer, outside any torch-function mode."""

    def __init__(self, quantizer: FakeQuantizer, registry: dict):
        super().__init__()
        self.quantizer = quantizer
        self._registry = registry

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch._C.DisableTorchFunction():
            output = self.quantizer(weight)
        self._registry[id(output)] = output
        return output


def install_eager(
    model: nn.Module,
    plan: Plan,
    graph: ModelGraph,
    sites: list[Site],
    quantizers: list[FakeQuantizer],
) -> nn.Module:
    """Attach every site's quantizer to `model` in place; on any failure, remove what was attached."""
    pairs = list(zip(sites, quantizers, strict=True))
    weight_targets = [_weight_targets(model, site) for site, _ in pairs if site.role == "weight"]
    runtime = EagerQuantizationMode(model)
    handles: list[Any] = []
    registered: list[tuple[nn.Module, str]] = []
    try:
        weights = [(site, quantizer) for site, quantizer in pairs if site.role == "weight"]
        for (_site, quantizer), targets in zip(weights, weight_targets, strict=True):
            parametrization = WeightParametrization(quantizer, runtime.quantized_weights)
            for owner, name in targets:
                parametrize.register_parametrization(owner, name, parametrization)
                registered.append((owner, name))
                handles += _keep_state_dict_path(owner, name)
        for site, quantizer in pairs:
            if site.location.kind in ("op_input", "op_output"):
                runtime.add_site(site, quantizer)
        handles += _install_module_sites(model, pairs, runtime)
        handles += runtime.install(model)
    except BaseException:
        for handle in handles:
            handle.remove()
        for owner, name in reversed(registered):
            if parametrize.is_parametrized(owner, name):
                parametrize.remove_parametrizations(owner, name, leave_parametrized=False)
        raise
    attach_quantizer_list(model, quantizers)
    return model


def _keep_state_dict_path(owner: nn.Module, name: str) -> list:
    """Keep `<owner>.<name>` as the parameter's state_dict key, instead of the parametrization's."""
    stored = f"parametrizations.{name}.original"

    def save(module, state_dict, prefix, local_metadata) -> None:
        if prefix + stored in state_dict:
            state_dict[prefix + name] = state_dict.pop(prefix + stored)

    def load(
        module,
        state_dict,
        prefix,
        local_metadata,
        strict,
        missing_keys,
        unexpected_keys,
        error_msgs,
    ) -> None:
        if prefix + name in state_dict:
            state_dict[prefix + stored] = state_dict.pop(prefix + name)

    return [
        owner.register_state_dict_post_hook(save),
        owner.register_load_state_dict_pre_hook(load),
    ]


def _weight_targets(model: nn.Module, site: Site) -> list[tuple[nn.Module, str]]:
    targets = []
    for path in site.aliases or (site.location.target,):
        owner_path, _, name = path.rpartition(".")
        try:
            owner = model.get_submodule(owner_path) if owner_path else model
        except AttributeError:
            owner = None
        if owner is None or not isinstance(owner._parameters.get(name), nn.Parameter):
            raise PlanError(
                ErrorDetail(path=site.key, message=f"parameter {path} was not found on the model.")
            )
        targets.append((owner, name))
    return targets


def _install_module_sites(model: nn.Module, pairs, runtime: EagerQuantizationMode) -> list:
    by_module: dict[str, list[tuple[Site, FakeQuantizer]]] = {}
    for site, quantizer in pairs:
        if site.location.kind in ("module_input", "module_output"):
            by_module.setdefault(site.location.target, []).append((site, quantizer))
    handles = []
    for path, module_sites in by_module.items():
        try:
            module = model.get_submodule(path)
        except AttributeError:
            raise PlanError(
                ErrorDetail(
                    path=f"modules/{path}", message=f"module {path} was not found on the model."
                )
            ) from None
        boundary = _ModuleBoundary(module_sites, runtime)
        handles.append(module.register_forward_pre_hook(boundary.before, with_kwargs=True))
        handles.append(module.register_forward_hook(boundary.after))
    return handles


class _ModuleBoundary:
    """Quantize one module's forward arguments and outputs, per call site."""

    def __init__(self, sites: list[tuple[Site, FakeQuantizer]], runtime: EagerQuantizationMode):
        self.runtime = runtime
        self.inputs = {
            (site.location.call_site, site.location.index): quantizer
            for site, quantizer in sites
            if site.location.kind == "module_input"
        }
        self.outputs = {
            (site.location.call_site, site.location.index): quantizer
            for site, quantizer in sites
            if site.location.kind == "module_output"
        }
        self.counter_key = object()
        self._current: list[int] = []

    def before(self, module: nn.Module, args: tuple, kwargs: dict):
        call_site = self.runtime.next_call_site(self.counter_key)
        self._current.append(call_site)
        wanted = {
            index: quantizer
            for (site, index), quantizer in self.inputs.items()
            if site == call_site
        }
        if not wanted:
            return None
        positions = {
            id(value): position for position, value in argument_positions(module, args, kwargs)
        }
        with torch._C.DisableTorchFunction():
            args = tuple(_quantize_if(value, positions, wanted) for value in args)
            kwargs = {key: _quantize_if(value, positions, wanted) for key, value in kwargs.items()}
        return args, kwargs

    def after(self, module: nn.Module, args: tuple, output: Any):
        call_site = self._current.pop() if self._current else 0
        wanted = {
            index: quantizer
            for (site, index), quantizer in self.outputs.items()
            if site == call_site
        }
        if not wanted:
            return None
        with torch._C.DisableTorchFunction():
            return _quantize_outputs(output, wanted)


def _quantize_if(value: Any, positions: dict[int, int], wanted: dict[int, FakeQuantizer]) -> Any:
    position = positions.get(id(value)) if isinstance(value, torch.Tensor) else None
    quantizer = wanted.get(position) if position is not None else None
    return value if quantizer is None else quantizer(value)


def _quantize_outputs(output: Any, wanted: dict[int, FakeQuantizer]) -> Any:
    if isinstance(output, torch.Tensor):
        return wanted[0](output) if 0 in wanted else output
    tensors = flat_tensors(output)
    replacements = {
        id(tensor): wanted[index](tensor) for index, tensor in enumerate(tensors) if index in wanted
    }
    return pytree.tree_map_only(
        torch.Tensor, lambda tensor: replacements.get(id(tensor), tensor), output
    )
