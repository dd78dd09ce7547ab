"""Frozen plans: calibrated qparams saved next to the plan, and loaded back without data.

`qparams.safetensors` keys (one key per tensor):

- `params/<parameter path>/<scale|zero_point|minval>` for weights; a tied weight is keyed by
  its first path in `named_parameters()` order;
- `ops/<op>/<inputs|outputs>/<index>/<...>` for op activations. One quantizer serving both ends
  of an edge is keyed by the producer's output only;
- `modules/<module path>/<inputs|outputs>/<index>/<...>` for module boundaries (a module's
  second call is `modules/<path>@1/...`).

The file's metadata contains the plan's sha256, so qparams from another plan are rejected.
Dynamic activation quantizers compute qparams per call and store none.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.io import atomic_write_bytes
from quantplan.plan.model import Plan
from quantplan.runtime.fake.control import fake_quantizers, freeze_activations
from quantplan.runtime.fake.fold import parameter_at
from quantplan.runtime.fake.quantizer import FakeQuantizer
from quantplan.runtime.numerics import QParams

__all__ = [
    "PLAN_FILE",
    "QPARAMS_FILE",
    "assign_qparams",
    "collect_qparams",
    "load_qparams",
    "save_qparams",
]

PLAN_FILE = "plan.json"
QPARAMS_FILE = "qparams.safetensors"
FORMAT = "quantplan.qparams/1"
_FIELDS = ("scale", "zero_point", "minval")


def collect_qparams(prepared: nn.Module) -> dict[str, torch.Tensor]:
    """Return every quantizer's current qparams, keyed as the module docstring describes.

    Raises PlanError naming each activation quantizer whose observer never saw data.
    """
    quantizers = fake_quantizers(prepared)
    freeze_check = [quantizer for quantizer in quantizers if not quantizer.has_qparams]
    if freeze_check:
        freeze_activations(prepared)  # raises, listing every quantizer without data
    tensors: dict[str, torch.Tensor] = {}
    for quantizer in quantizers:
        if quantizer.dynamic:
            continue
        qparams = quantizer.qparams(_weight_of(prepared, quantizer))
        for field in _FIELDS:
            value = getattr(qparams, field)
            if value is not None:
                tensors[f"{quantizer.key}/{field}"] = value.detach().to("cpu").contiguous()
    return tensors


def _weight_of(prepared: nn.Module, quantizer: FakeQuantizer) -> torch.Tensor | None:
    if quantizer.role != "weight":
        return None
    path = quantizer.key.removeprefix("params/")
    return parameter_at(prepared, path)


def save_qparams(directory: str | Path, plan: Plan, qparams: Mapping[str, torch.Tensor]) -> Path:
    """Write `directory/qparams.safetensors` atomically, with the plan's sha256 in its metadata."""
    for key, value in qparams.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise PlanError(
                ErrorDetail(
                    path=key, message=f"qparams {key} contain NaN or inf; nothing was written."
                )
            )
    target = Path(directory) / QPARAMS_FILE
    metadata = {"format": FORMAT, "plan_sha256": plan.sha256()}
    data = save_safetensors_bytes(
        {key: value.contiguous() for key, value in sorted(qparams.items())}, metadata=metadata
    )
    atomic_write_bytes(target, data)
    return target


def load_qparams(
    source: str | Path | Mapping[str, torch.Tensor], plan: Plan
) -> dict[str, torch.Tensor]:
    """Read qparams from a frozen-plan folder, a `.safetensors` file or a dict of keyed tensors.

    A file whose metadata names another plan's sha256 raises PlanError.
    """
    from quantplan.runtime.qparams_check import check_qparams

    qparams = _read_qparams(source, plan)
    check_qparams(qparams, plan)
    return qparams


def _read_qparams(
    source: str | Path | Mapping[str, torch.Tensor], plan: Plan
) -> dict[str, torch.Tensor]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if path.is_dir():
        path = path / QPARAMS_FILE
    if not path.is_file():
        raise PlanError(
            ErrorDetail(
                path=str(path),
                message="qparams file not found; pass a frozen-plan folder, its qparams.safetensors or a dict.",
            )
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            _check_plan_hash(path, metadata, plan)
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError) as error:
        raise PlanError(
            ErrorDetail(path=str(path), message=f"cannot read the qparams file: {error}")
        ) from None


def _check_plan_hash(path: Path, metadata: dict, plan: Plan) -> None:
    recorded = metadata.get("plan_sha256")
    expected = plan.sha256()
    if recorded != expected:
        raise PlanError(
            ErrorDetail(
                path=str(path),
                message=(
                    f"these qparams were frozen for plan sha256 {recorded or '<none recorded>'}, "
                    f"but the plan being applied has sha256 {expected}. Use the qparams.safetensors "
                    "written together with this plan.json, or calibrate again."
                ),
            )
        )


def assign_qparams(model: nn.Module, qparams: Mapping[str, torch.Tensor]) -> None:
    """Give each quantizer its qparams from `qparams` and freeze it; all keys are checked first.

    Raises PlanError listing missing keys and keys that no quantizer of this plan uses.
    """
    quantizers = [quantizer for quantizer in fake_quantizers(model) if not quantizer.dynamic]
    expected = {quantizer.key for quantizer in quantizers}
    problems = [
        ErrorDetail(
            path=quantizer.key,
            message=f"qparams for {quantizer.key} are missing ({quantizer.key}/scale).",
        )
        for quantizer in quantizers
        if f"{quantizer.key}/scale" not in qparams
    ]
    for key in sorted(qparams):
        prefix, _, field = key.rpartition("/")
        if prefix not in expected or field not in _FIELDS:
            problems.append(
                ErrorDetail(
                    path=key, message=f"qparams key {key} belongs to no quantizer of this plan."
                )
            )
    if problems:
        raise PlanError(problems)
    for quantizer in quantizers:
        quantizer.set_qparams(_qparams_for(quantizer, qparams))
        quantizer.set_observe(False)


def _qparams_for(quantizer: FakeQuantizer, qparams: Mapping[str, torch.Tensor]) -> QParams:
    expected_shape = tuple(quantizer.resolved.scale_shape)
    scale = qparams[f"{quantizer.key}/scale"]
    if quantizer.role == "weight" and all(isinstance(size, int) for size in expected_shape):
        if tuple(scale.shape) != expected_shape:
            raise PlanError(
                ErrorDetail(
                    path=f"{quantizer.key}/scale",
                    message=f"scale has shape {list(scale.shape)}, but the plan's scale shape is {list(expected_shape)}.",
                )
            )
    return QParams(
        scale=scale,
        zero_point=qparams.get(f"{quantizer.key}/zero_point"),
        minval=qparams.get(f"{quantizer.key}/minval"),
    )
