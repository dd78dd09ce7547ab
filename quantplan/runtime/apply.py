"""`apply_plan`: turn a plan into a model that simulates (or, with C's backend, runs) quantization.

Steps, in this order, so that nothing changes unless everything fits:
1. reject a model that already carries a plan;
2. capture the model again from the plan's input signature (or `example_inputs`); graph mode
   may export once more (`fake.runtime_export`) for a dynamic batch and module signatures;
3. check the capture against the plan's structure fingerprint (PlanMismatchError lists changes);
4. build one quantizer per site (`fake.sites.plan_sites`) and check every weight is finite;
5. attach them: a new GraphModule for graph-mode plans, the user's module in place for eager;
6. load frozen qparams, if given.

Only plan entries are applied; patterns and config rules are never matched here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from quantplan.compiler.capture import (
    capture_model,
    dynamic_shapes_from_signature,
    inputs_from_signature,
)
from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.model import Plan
from quantplan.runtime.fake.control import attach_quantizer_list, is_prepared, set_observers
from quantplan.runtime.fake.input_checks import install_input_checks
from quantplan.runtime.fake.quantizer import FakeQuantizer
from quantplan.runtime.fake.runtime_export import export_for_runtime
from quantplan.runtime.fake.sites import Site, plan_sites
from quantplan.runtime.frozen import assign_qparams, load_qparams
from quantplan.runtime.numerics.native import native_mode
from quantplan.runtime.stale import check_plan_matches

__all__ = ["APPLIED_ATTRIBUTE", "apply_plan", "capture_for_plan", "model_device"]

APPLIED_ATTRIBUTE = "quantplan_plan_sha256"
MODES = ("fake", "real")


def apply_plan(
    model: nn.Module,
    plan: Plan | str | Path,
    *,
    mode: str = "fake",
    qparams: str | Path | Mapping[str, torch.Tensor] | None = None,
    example_inputs: Any = None,
) -> nn.Module:
    """Apply `plan` to `model` and return the quantized model.

    Graph-mode plans return a new `torch.fx.GraphModule` (parameters keep their paths);
    eager-mode plans change `model` in place and return it. `qparams` (a frozen-plan folder,
    its `qparams.safetensors` or a dict) rebuilds a calibrated model without data; without
    it, activation observers start empty and observe every forward pass.
    """
    plan = plan if isinstance(plan, Plan) else Plan.load(plan)
    if mode not in MODES:
        raise PlanError(
            ErrorDetail(
                path="mode", message=f"mode {mode!r} is invalid; use one of: {', '.join(MODES)}."
            )
        )
    _reject_prepared(model)
    # Read when the first quantizer specializes; checked here so a typo fails before calibration.
    native_mode()
    if mode == "real":
        from quantplan.runtime.real import apply_real

        frozen = None if qparams is None else load_qparams(qparams, plan)
        return apply_real(model, plan, frozen, example_inputs)
    frozen = None if qparams is None else load_qparams(qparams, plan)
    _reject_meta(model)
    return _apply_fake(model, plan, frozen, example_inputs)


def _apply_fake(model: nn.Module, plan: Plan, frozen, example_inputs: Any) -> nn.Module:
    # Accepts a meta model: `quantplan.load` prepares one here and fills it from the artifact.
    if example_inputs is None:
        example_inputs = inputs_from_signature(plan.model.inputs, device=model_device(model))
    captured = capture_for_plan(model, plan, example_inputs)
    sites = plan_sites(plan, captured.graph)
    quantizers = [_build_quantizer(site) for site in sites]
    _check_weights_finite(model, sites)
    if plan.model.execution_mode == "graph":
        program = export_for_runtime(
            model,
            captured,
            example_inputs,
            auto_dynamic=not plan.model.inputs.get("dynamic_shapes"),
            boundary_modules=tuple(
                sorted(
                    {
                        site.location.target
                        for site in sites
                        if site.location.kind.startswith("module_")
                    }
                )
            ),
        )
        prepared = _apply_graph(program, captured.graph, sites, quantizers, model.training)
    else:
        from quantplan.runtime.fake.eager_mode import install_eager

        prepared = install_eager(model, plan, captured.graph, sites, quantizers)
    attach_quantizer_list(prepared, quantizers)
    setattr(prepared, APPLIED_ATTRIBUTE, plan.sha256())
    if frozen is not None:
        assign_qparams(prepared, frozen)
    set_observers(prepared, frozen is None)
    return prepared


def capture_for_plan(model: nn.Module, plan: Plan, example_inputs: Any = None):
    """Capture `model` in the plan's execution mode and check it against the plan's structure."""
    signature = plan.model.inputs
    if example_inputs is None:
        example_inputs = inputs_from_signature(signature, device=model_device(model))
    dynamic_shapes = (
        dynamic_shapes_from_signature(signature) if signature.get("dynamic_shapes") else None
    )
    captured = capture_model(
        model, example_inputs, mode=plan.model.execution_mode, dynamic_shapes=dynamic_shapes
    )
    check_plan_matches(plan, captured.graph)
    return captured


def model_device(model: nn.Module) -> torch.device:
    """Return the device of the model's first parameter or buffer (CPU for none)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _reject_meta(model: nn.Module) -> None:
    meta = [
        name
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]
        if tensor.is_meta
    ]
    if meta:
        raise PlanError(
            ErrorDetail(
                path="model",
                message=(
                    f"the model is on the meta device ({len(meta)} tensors, first {meta[0]}), and fake "
                    "quantization needs real weights to compute scales. A meta model can be compiled "
                    "(compile_plan), and quantplan.load(artifact_dir, model_factory) fills one from a "
                    "real-mode artifact. For fake mode, load the weights first: model.to_empty(device='cpu') "
                    "then model.load_state_dict(...), or build the model outside torch.device('meta')."
                ),
            )
        )


def _reject_prepared(model: nn.Module) -> None:
    if is_prepared(model):
        applied = getattr(model, APPLIED_ATTRIBUTE, None) or "unknown"
        raise PlanError(
            ErrorDetail(
                path="model",
                message=(
                    f"the model already has a quantplan plan applied (plan sha256 {applied}); "
                    "applying a second plan would quantize twice. Apply the plan to the original float model."
                ),
            )
        )


def _build_quantizer(site: Site) -> FakeQuantizer:
    spec = site.spec.to_quantization_spec()
    return FakeQuantizer(
        key=site.key, entries=site.entries, spec=spec, resolved=site.spec, role=site.role
    )


def _check_weights_finite(model: nn.Module, sites: list[Site]) -> None:
    parameters = dict(model.named_parameters(remove_duplicate=False))
    problems = []
    for site in sites:
        weight = parameters.get(site.location.target) if site.role == "weight" else None
        if weight is None or weight.is_meta or not weight.is_floating_point():
            continue
        if not bool(torch.isfinite(weight).all()):
            problems.append(
                ErrorDetail(
                    path=site.location.target,
                    message=f"parameter {site.location.target} contains NaN or inf, so it cannot be quantized; fix the weights first.",
                )
            )
    if problems:
        raise PlanError(problems)


def _apply_graph(
    program, graph, sites: list[Site], quantizers: list[FakeQuantizer], training: bool
) -> nn.Module:
    from quantplan.runtime.fake.graph_mode import insert_quantizers
    from quantplan.runtime.fake.train_eval import allow_train_eval

    module = program.module()
    install_input_checks(module)
    signatures = {
        entry.fqn: entry.signature
        for entry in program.module_call_graph
        if entry.signature is not None
    }
    insert_quantizers(module, sites, quantizers, graph, signatures=signatures)
    allow_train_eval(module)
    module.train(training)
    return module
