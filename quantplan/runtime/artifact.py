"""Deployable artifacts: `save` a real-quantized model and `load` it without float weights.

An artifact directory holds:
- `plan.json`: the plan;
- `qparams.safetensors`: the frozen activation and weight qparams (may be empty);
- `weights.safetensors`: every parameter and buffer of the quantized model, keyed by its
  path (packed weights with `*_scale`, `*_zero_point` or `*_minval`, and the float tensors).
  E8M0 scales and sub-byte data are uint8, because safetensors 0.8 cannot load
  float8_e8m0fnu or float4_e2m1fn_x2 back. Its metadata contains the plan sha256, the format
  version, each packed weight's layout and its kernel choice (name, native or emulated), and
  for graph mode the export variant the model was built from (`runtime_export`).

Every file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from quantplan.errors import ErrorDetail, PlanError, PlanMismatchError
from quantplan.plan.io import atomic_write_bytes
from quantplan.plan.model import Plan
from quantplan.runtime.fake.runtime_export import preferred_variant
from quantplan.runtime.formats import FORMAT_VERSION
from quantplan.runtime.formats.checks import check_model_tensors
from quantplan.runtime.real import REAL_ATTRIBUTE, PackedWeightModule, apply_real

__all__ = ["WEIGHTS_FILE", "load", "save"]

WEIGHTS_FILE = "weights.safetensors"
WEIGHTS_FORMAT = "quantplan.weights/1"


def save(model: nn.Module, plan: Plan, directory: str | Path) -> Path:
    """Write `plan.json`, `qparams.safetensors` and `weights.safetensors` into `directory`.

    `model` must come from `apply_plan(..., mode="real")` with this plan. Raises PlanError
    before writing anything when a tensor breaks the rules of `check_model_tensors` (a NaN,
    inf, zero or negative weight scale, fp8 NaN bytes, a NaN tensor) or the model belongs to
    another plan.
    """
    from quantplan.runtime.frozen import PLAN_FILE, save_qparams

    info = _real_info(model, plan)
    tensors = _state_tensors(model)
    layouts = _layouts(model)
    check_model_tensors(
        tensors, layouts, parameter_names=_parameter_names(model), source="nothing was written"
    )
    metadata = {
        "format": WEIGHTS_FORMAT,
        "format_version": str(FORMAT_VERSION),
        "plan_sha256": plan.sha256(),
        "layouts": json.dumps(layouts, sort_keys=True),
        "kernels": json.dumps(_kernels(model), sort_keys=True),
    }
    variant = _runtime_export_variant(model)
    if variant is not None:
        metadata["runtime_export"] = variant
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / WEIGHTS_FILE, save_safetensors_bytes(tensors, metadata=metadata))
    save_qparams(directory, plan, info["qparams"])
    plan.save(directory / PLAN_FILE)
    return directory


def _real_info(model: nn.Module, plan: Plan) -> dict:
    info = getattr(model, REAL_ATTRIBUTE, None)
    if info is None:
        raise PlanError(
            ErrorDetail(
                path="model",
                message="the model is not real-quantized; call apply_plan(model, plan, mode='real') before save().",
            )
        )
    if info["plan_sha256"] != plan.sha256():
        raise PlanMismatchError(
            [
                f"model quantized with plan sha256 {info['plan_sha256']}, saving plan sha256 {plan.sha256()}"
            ],
            context="the model was quantized with another plan",
        )
    return info


def _state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return every parameter and buffer (persistent or not) once, keyed by its first path."""
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        tensors[name] = tensor.detach().contiguous()
    return tensors


def _runtime_export_variant(model: nn.Module) -> str | None:
    """Return the graph-mode export variant the model was built from (None in eager mode)."""
    from quantplan.runtime.fake.runtime_export import VARIANT_META

    return model.meta.get(VARIANT_META) if isinstance(model, torch.fx.GraphModule) else None


def _parameter_names(model: nn.Module) -> set[str]:
    return {name for name, _ in model.named_parameters()}


def _quantized_modules(model: nn.Module) -> dict[str, PackedWeightModule]:
    return {
        path: module
        for path, module in model.named_modules()
        if isinstance(module, PackedWeightModule)
    }


def _layouts(model: nn.Module) -> dict[str, dict]:
    """Return each packed weight's layout keyed by its parameter path (`fc1.weight`)."""
    return {_weight_path(path): module.layout for path, module in _quantized_modules(model).items()}


def _kernels(model: nn.Module) -> dict[str, dict]:
    return {
        _weight_path(path): module.kernel().choice.to_json()
        for path, module in _quantized_modules(model).items()
    }


def _weight_path(module_path: str) -> str:
    return f"{module_path}.weight" if module_path else "weight"


def load(directory: str | Path, model_factory: Callable[[], Any]) -> nn.Module:
    """Build the model on the meta device and fill every tensor from the artifact.

    `model_factory()` returns a model, or `(model, example_inputs)`. The float weights of
    quantized linears are never allocated. Raises PlanMismatchError when the model does not
    match the artifact's plan, naming the first differing tensor.
    """
    from quantplan.runtime.frozen import PLAN_FILE, load_qparams

    directory = Path(directory)
    plan = Plan.load(directory / PLAN_FILE)
    with _open_safetensors(directory / WEIGHTS_FILE) as handle:
        metadata = handle.metadata() or {}
        _check_metadata(metadata, plan, directory)
        with torch.device("meta"):
            model, example_inputs = _build(model_factory)
        qparams = load_qparams(_activation_qparams(directory, plan), plan)
        layouts = json.loads(metadata["layouts"])
        # Trying the export variant that worked at save time first skips the failed dynamic-shape
        # exports, which were most of the peak memory of loading all-MiniLM-L6-v2.
        with _without_stack_traces(), preferred_variant(metadata.get("runtime_export")):
            model = apply_real(model, plan, qparams, example_inputs, layouts=layouts)
        _release_freed_memory()
        _materialize(model, handle)
    tensors = _state_tensors(model)
    source = f"read from {directory / WEIGHTS_FILE}; save the artifact again"
    check_model_tensors(tensors, layouts, parameter_names=_parameter_names(model), source=source)
    del tensors
    _retarget_graph_devices(model, torch.device("cpu"))
    for module in _quantized_modules(model).values():
        module.kernel()
    return model


def _release_freed_memory() -> None:
    """Collect the meta capture's garbage and return freed heap pages to the OS (glibc only).

    The exports that `apply_real` runs on the meta device leave several MiB of freed heap that
    malloc keeps, so returning it before the weights are read lowers the peak RSS of `load`.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the freed pages stay with the allocator


@contextmanager
def _without_stack_traces() -> Iterator[None]:
    """Stop torch.export from recording each node's Python stack trace while `load` captures.

    The stack traces (with the source lines they read) were about 2 MiB of the peak memory of
    loading all-MiniLM-L6-v2, and neither the plan check nor the runtime reads them.
    `torch.fx.config.do_not_emit_stack_traces` is a process-wide flag, so the previous value
    is restored on exit. NOTE: another thread tracing at the same time sees it as well.
    """
    import torch.fx.config

    previous = torch.fx.config.do_not_emit_stack_traces
    torch.fx.config.do_not_emit_stack_traces = True
    try:
        yield
    finally:
        torch.fx.config.do_not_emit_stack_traces = previous


def _activation_qparams(directory: Path, plan: Plan) -> dict[str, torch.Tensor]:
    """Read the activation qparams only: the weights' qparams are already in weights.safetensors.

    Skipping them keeps the peak memory of `load` down (block-wise int4 scales are a sizeable
    part of an artifact).
    """
    from quantplan.runtime.frozen import QPARAMS_FILE, load_qparams

    path = directory / QPARAMS_FILE
    if not path.is_file():
        return load_qparams(directory, plan)  # raises PlanError for the missing file
    with _open_safetensors(path) as handle:
        recorded = (handle.metadata() or {}).get("plan_sha256")
        if recorded != plan.sha256():
            return load_qparams(directory, plan)  # raises PlanError naming both hashes
        return {
            key: handle.get_tensor(key) for key in handle.keys() if not key.startswith("params/")
        }


@contextmanager
def _open_safetensors(path: Path) -> Iterator[Any]:
    """Open a safetensors file, raising PlanError for a missing, empty or truncated one.

    safetensors checks the header against the file size when it opens the file, so a
    truncated file fails here rather than on a later read.
    """
    try:
        handle = safe_open(str(path), framework="pt")
    except FileNotFoundError:
        raise PlanError(
            ErrorDetail(
                path=str(path),
                message="file not found; save the artifact again with quantplan.save.",
            )
        ) from None
    except (SafetensorError, OSError) as error:
        message = f"not a readable safetensors file ({error}); the file is empty, truncated or corrupt, so save the artifact again with quantplan.save."
        raise PlanError(ErrorDetail(path=str(path), message=message)) from None
    with handle:
        yield handle


def _build(model_factory: Callable[[], Any]) -> tuple[nn.Module, Any]:
    result = model_factory()
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module):
        model, example_inputs = result
        return model, None if example_inputs is None else _to_meta(example_inputs)
    if isinstance(result, nn.Module):
        return result, None
    got = (
        f"a tuple of {len(result)} items"
        if isinstance(result, tuple)
        else f"a {type(result).__name__}"
    )
    raise PlanError(
        ErrorDetail(
            path="model_factory",
            message=f"the model factory returned {got}; load() needs an nn.Module or a (nn.Module, example_inputs) tuple.",
            value=repr(result)[:200],
            suggestion="pass a callable that builds the model, such as the model class",
        )
    )


def _to_meta(inputs: Any) -> Any:
    return torch.utils._pytree.tree_map(
        lambda value: value.to("meta") if isinstance(value, torch.Tensor) else value, inputs
    )


def _check_metadata(metadata: dict, plan: Plan, directory: Path) -> None:
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise PlanError(
            ErrorDetail(
                path=str(directory / WEIGHTS_FILE),
                message=f"not a quantplan weights file (format {metadata.get('format')!r}, expected {WEIGHTS_FORMAT!r}).",
            )
        )
    if metadata.get("plan_sha256") != plan.sha256():
        changes = _layout_differences(json.loads(metadata.get("layouts", "{}")), plan)
        changes.append(
            f"weights.safetensors was written for plan sha256 {metadata.get('plan_sha256')}, plan.json has sha256 {plan.sha256()}"
        )
        raise PlanMismatchError(
            changes,
            context="weights.safetensors and plan.json come from different saves (first differing tensor first)",
            advice="use the plan.json saved with these weights, or save the artifact again",
        )


def _layout_differences(layouts: dict[str, dict], plan: Plan) -> list[str]:
    """List the weights whose quantized dtype or block shape differs between the file and the plan."""
    planned = {
        entry.param: entry.spec
        for _, group, _, entry in plan.entries()
        if group == "state" and entry.param and entry.spec
    }
    changes = []
    for name in sorted(planned.keys() | layouts.keys()):
        spec, layout = planned.get(name), layouts.get(name)
        if spec is None:
            changes.append(
                f"tensor {name}: quantized as {layout['dtype']} in weights.safetensors, float in plan.json"
            )
        elif layout is None:
            changes.append(
                f"tensor {name}: float in weights.safetensors, quantized as {spec.dtype} in plan.json"
            )
        elif layout["dtype"] != spec.dtype:
            changes.append(
                f"tensor {name}: dtype {layout['dtype']} in weights.safetensors, {spec.dtype} in plan.json"
            )
        elif len(layout["block_shape"]) == len(spec.block_shape) and tuple(
            layout["block_shape"]
        ) != tuple(spec.block_shape):
            changes.append(
                f"tensor {name}: block shape {layout['block_shape']} in weights.safetensors, {list(spec.block_shape)} in plan.json"
            )
    return changes


def _materialize(model: nn.Module, handle) -> None:
    """Replace every meta parameter and buffer with its tensor from the artifact; ties are kept."""
    available = set(handle.keys())
    expected = _state_tensors(model)
    _check_tensors(expected, available, handle)
    loaded: dict[int, torch.Tensor] = {}
    for prefix, module in model.named_modules(remove_duplicate=False):
        for kind in ("_parameters", "_buffers"):
            slots = getattr(module, kind)
            for name, tensor in list(slots.items()):
                if tensor is None:
                    continue
                key = f"{prefix}.{name}" if prefix else name
                if id(tensor) not in loaded:
                    value = handle.get_tensor(
                        key if key in available else _first_path(model, tensor)
                    )
                    loaded[id(tensor)] = (
                        nn.Parameter(value, requires_grad=tensor.requires_grad)
                        if kind == "_parameters"
                        else value
                    )
                slots[name] = loaded[id(tensor)]


def _retarget_graph_devices(model: nn.Module, device: torch.device) -> None:
    """Replace the meta device that capture on meta tensors baked into graph nodes.

    torch.export records device arguments as literals (`arange(..., device=meta)`,
    `to(mask, meta)`), so a GraphModule captured under the meta device would create meta
    tensors at run time next to the materialized weights.
    """
    if not isinstance(model, torch.fx.GraphModule):
        return

    def retarget(value: Any) -> Any:
        return device if isinstance(value, torch.device) and value.type == "meta" else value

    for node in model.graph.nodes:
        node.args = torch.fx.node.map_aggregate(node.args, retarget)
        node.kwargs = torch.fx.node.map_aggregate(node.kwargs, retarget)
    model.recompile()


def _first_path(model: nn.Module, tensor: torch.Tensor) -> str:
    for name, candidate in [*model.named_parameters(), *model.named_buffers()]:
        if candidate is tensor:
            return name
    raise KeyError(name)


def _check_tensors(expected: dict[str, torch.Tensor], available: set[str], handle) -> None:
    changes = []
    for name, tensor in expected.items():
        if name not in available:
            changes.append(
                f"tensor {name} {list(tensor.shape)} {tensor.dtype} is missing from the artifact"
            )
            continue
        stored = handle.get_slice(name)
        shape = list(stored.get_shape())
        if shape != list(tensor.shape):
            changes.append(
                f"tensor {name}: artifact shape {shape}, model shape {list(tensor.shape)}"
            )
    changes += [
        f"tensor {name} in the artifact is not in the model"
        for name in sorted(available - set(expected))
    ]
    if changes:
        raise PlanMismatchError(
            changes, context="the model does not match the artifact (first differing tensor first)"
        )
