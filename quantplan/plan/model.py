"""The plan data model: frozen attrs classes that mirror the plan JSON field for field.

A plan is the compiler's complete, reviewable record: one entry per candidate tensor of every
quantizable op, each with its concrete spec (None = left in float) and the config rule that
decided it. The runtime reads only these classes and never reads the config.

In memory, input and output indices are ints (`op.inputs[0]`); JSON object keys are strings
(`"0"`), and `Plan.from_json` restores the ints. `Plan.from_json(plan.to_json()) == plan`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from quantplan.errors import ErrorDetail, PlanError
from quantplan.quantization.dtypes import dtype_name
from quantplan.quantization.granularity import (
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
)
from quantplan.quantization.spec import QuantizationSpec

__all__ = [
    "PLAN_FORMAT",
    "CaptureMeta",
    "ConfigMeta",
    "Diagnostic",
    "Entry",
    "GeneratorMeta",
    "ModelMeta",
    "ModuleBoundary",
    "Plan",
    "PlanOp",
    "ResolvedGranularity",
    "ResolvedSpec",
    "SharedGroup",
    "Skipped",
    "Summary",
]

PLAN_FORMAT = "quantplan.plan/1"
SEVERITIES = ("info", "warning", "error")
ENTRY_GROUPS = ("inputs", "outputs", "state")


def _int_tuple(value: Any) -> tuple:
    return tuple(value)


def _optional_tuple(value: Any) -> tuple | None:
    return None if value is None else tuple(value)


def _json_data(value: Any) -> Any:
    """Copy `value` as plain JSON data (lists, string keys), so equality survives a round trip.

    A NaN or infinite float raises PlanError naming it, because plan JSON cannot hold one.
    """
    from quantplan.plan.finite import check_finite_data

    check_finite_data(value)
    return json.loads(json.dumps(value, allow_nan=False))


def _index_map(value: Mapping) -> dict[int, Entry]:
    """Key an inputs/outputs mapping by int index, sorted; digit strings are accepted."""
    return {int(key): entry for key, entry in sorted(value.items(), key=lambda item: int(item[0]))}


def _name_map(value: Mapping) -> dict[str, Entry]:
    return {str(key): entry for key, entry in sorted(value.items())}


@attrs.frozen
class ResolvedGranularity:
    """A granularity with nothing left to resolve.

    `per_tensor`: axis and block_size are None. `per_channel`: axis is an int, block_size None.
    `per_block`: either axis is an int and block_size an int (blocks along that axis), or axis
    is None and block_size is a tuple with one extent per dimension (-1 = whole dimension).
    """

    type: str
    axis: int | None = None
    block_size: int | tuple[int, ...] | None = attrs.field(
        default=None, converter=lambda value: tuple(value) if isinstance(value, list) else value
    )

    def to_granularity(self) -> PerTensorGranularity | PerChannelGranularity | PerBlockGranularity:
        """Return the config-API granularity with this concrete axis and block size."""
        if self.type == "per_tensor":
            return PerTensorGranularity()
        if self.type == "per_channel":
            return PerChannelGranularity(axis=self.axis)
        return PerBlockGranularity(block_size=self.block_size, axis=self.axis)


@attrs.frozen
class ResolvedSpec:
    """A concrete spec for one tensor: every default and axis resolved by the compiler.

    `block_shape` has the tensor's rank and gives the extent of the elements that share one
    scale; `scale_shape` is the tensor shape divided by it. Example: an int4 per-block (32)
    Linear weight of shape (128, 64) has block_shape (1, 32) and scale_shape (128, 2).
    A dynamic activation dimension appears as its symbol name (such as `s0`).
    `scale_dtype` is `float32` or `float8_e8m0fnu`; `scale_rounding` is `floor` for e8m0
    scales and None otherwise; the calculators are resolved registry names (never `default`).
    """

    dtype: str
    qscheme: str
    qformulation: str
    granularity: ResolvedGranularity
    block_shape: tuple[int | str, ...] = attrs.field(converter=_int_tuple)
    scale_shape: tuple[int | str, ...] = attrs.field(converter=_int_tuple)
    quant_min: int | float
    quant_max: int | float
    scale_dtype: str
    scale_rounding: str | None
    qparam_calculator_cls: str
    range_calculator_cls: str
    float_range: tuple[float | None, float | None] = attrs.field(converter=_int_tuple)
    rounding: str = "half_to_even"

    @classmethod
    def from_spec(
        cls,
        spec: QuantizationSpec,
        *,
        granularity: ResolvedGranularity,
        block_shape: tuple[int | str, ...],
        scale_shape: tuple[int | str, ...],
        qparam_calculator_cls: str,
    ) -> ResolvedSpec:
        """Build the resolved form of `spec`; the caller supplies what depends on the op and role."""
        scale_dtype = dtype_name(spec.effective_scale_dtype)
        return cls(
            dtype=dtype_name(spec.dtype),
            qscheme=spec.qscheme.value,
            qformulation=spec.qformulation.value,
            granularity=granularity,
            block_shape=block_shape,
            scale_shape=scale_shape,
            quant_min=spec.quant_min,
            quant_max=spec.quant_max,
            scale_dtype=scale_dtype,
            scale_rounding="floor" if scale_dtype == "float8_e8m0fnu" else None,
            qparam_calculator_cls=qparam_calculator_cls,
            range_calculator_cls=spec.range_calculator_cls,
            float_range=spec.float_range,
        )

    def to_quantization_spec(self) -> QuantizationSpec:
        """Return the equivalent QuantizationSpec, with the concrete axis and block size."""
        scale_dtype = torch.float8_e8m0fnu if self.scale_dtype == "float8_e8m0fnu" else None
        return QuantizationSpec(
            dtype=self.dtype,
            qscheme=self.qscheme,
            qformulation=self.qformulation,
            granularity=self.granularity.to_granularity(),
            qparam_calculator_cls=self.qparam_calculator_cls,
            range_calculator_cls=self.range_calculator_cls,
            float_range=self.float_range,
            scale_dtype=scale_dtype,
        )


@attrs.frozen
class Entry:
    """One candidate tensor and the decision about it.

    `spec` is None when the tensor stays in float. `rule` is the config path that decided it,
    such as `module_name_configs["fc2"]`. `param` is the parameter path, set for state entries only.

    Rule forms that leave a tensor in float:
    - `module_name_configs["fc2"]`: a None at that level disabled the whole scope;
    - `global_config.op_input_spec`: the tensor group itself was None;
    - `global_config.op_input_spec[1]` with spec None: the map maps key 1 to None;
    - `global_config.op_input_spec[1] (key absent)`: the map exists but has neither key 1
      nor `"*"`, so nothing selects the tensor (for state, the key is the parameter's
      attribute name, as in `op_state_spec["bias"] (key absent)`).
    A ` (default)` suffix means that the group was omitted and its default decided.
    """

    shape: tuple[int | str, ...] = attrs.field(converter=_int_tuple)
    dtype: str
    spec: ResolvedSpec | None
    rule: str
    param: str | None = None

    @property
    def quantized(self) -> bool:
        """Whether the entry has a spec (is not left in float)."""
        return self.spec is not None


@attrs.frozen
class PlanOp:
    """One op of the captured graph, in execution order.

    `module_stack` is the chain of (module path, fully qualified class) from the outermost
    module below the root to the innermost; `explain` uses it to recompute rule matching.
    `fused_group` is the name of the fused group's first op, or None.
    """

    name: str
    type: str
    target: str
    module: str
    module_type: str
    call_site: int = 0
    fused_group: str | None = None
    inputs: dict[int, Entry] = attrs.field(factory=dict, converter=_index_map)
    outputs: dict[int, Entry] = attrs.field(factory=dict, converter=_index_map)
    state: dict[str, Entry] = attrs.field(factory=dict, converter=_name_map)
    module_stack: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=lambda value: tuple(tuple(item) for item in value)
    )


@attrs.frozen
class ModuleBoundary:
    """Boundary specs of one module call: forward argument positions and outputs to entries."""

    module: str
    call_site: int = 0
    inputs: dict[int, Entry] = attrs.field(factory=dict, converter=_index_map)
    outputs: dict[int, Entry] = attrs.field(factory=dict, converter=_index_map)


@attrs.frozen
class SharedGroup:
    """Parameters that share one storage (tied weights): one spec and one rule for all of them."""

    params: tuple[str, ...] = attrs.field(converter=_int_tuple)
    ops: tuple[str, ...] = attrs.field(converter=_int_tuple)
    spec: ResolvedSpec | None
    rule: str


def _check_skipped_target(instance: Skipped, attribute: attrs.Attribute, value: Any) -> None:
    if (instance.param is None) == (instance.tensor is None):
        raise PlanError(
            ErrorDetail(
                path="skipped",
                message=(
                    f"a skipped entry names exactly one of param or tensor, got "
                    f"param={instance.param!r}, tensor={instance.tensor!r}."
                ),
            )
        )


@attrs.frozen
class Skipped:
    """A tensor that a rule asked to quantize but that stays in float, with the reason.

    Exactly one of `param` (a parameter path) or `tensor` (an activation, such as
    `linear_1 input 0`) is set.
    """

    op: str
    reason: str
    rule: str
    param: str | None = None
    tensor: str | None = attrs.field(default=None, validator=_check_skipped_target)


@attrs.frozen
class Diagnostic:
    """A compiler finding that is not fatal: an unmatched rule, an overlap, a conflict, a default."""

    severity: str = attrs.field(validator=attrs.validators.in_(SEVERITIES))
    code: str
    message: str
    rule: str | None = None


@attrs.frozen
class Summary:
    """Totals over the candidate weights (state entries).

    `tensors` counts them per `dtype/granularity` (`int4/per_block`) or `float`.
    `weight_bytes_*` are the bytes of all candidate weights before and after quantization.
    `bits_per_weight_quantized` is over the quantized weights only (None when there are none);
    `bits_per_weight_candidates` is over all candidate weights. Both are rounded to 2 decimals.
    """

    tensors: dict[str, int] = attrs.field(factory=dict, converter=lambda value: dict(sorted(value.items())))
    weight_bytes_before: int = 0
    weight_bytes_after: int = 0
    bits_per_weight_candidates: float | None = None
    bits_per_weight_quantized: float | None = None


@attrs.frozen
class GeneratorMeta:
    """The program that wrote the plan."""

    name: str = "quantplan"
    version: str = attrs.field(factory=lambda: __import__("quantplan").__version__)


@attrs.frozen
class CaptureMeta:
    """Capture record: mode, capture method and the shape specializations made while capturing."""

    mode: str
    method: str
    specializations: tuple[str, ...] = attrs.field(default=(), converter=_int_tuple)


@attrs.frozen
class ModelMeta:
    """The model the plan was made for. `class_name` is the JSON field `class`.

    `inputs` is the example-input signature; `fingerprint` the structure fingerprint
    (`sha256:<hex>`) that apply checks before it changes anything.
    """

    class_name: str
    execution_mode: str
    torch: str
    inputs: dict = attrs.field(converter=_json_data)
    fingerprint: str
    capture: CaptureMeta | None = None


@attrs.frozen
class ConfigMeta:
    """The normalized config (every default written out) and its fingerprint."""

    fingerprint: str
    normalized: dict = attrs.field(converter=_json_data)


@attrs.frozen
class Plan:
    """A complete quantization plan. See the module docstring for the JSON correspondence."""

    model: ModelMeta
    config: ConfigMeta
    ops: tuple[PlanOp, ...] = attrs.field(converter=_int_tuple)
    summary: Summary
    modules: tuple[ModuleBoundary, ...] = attrs.field(default=(), converter=_int_tuple)
    shared: tuple[SharedGroup, ...] = attrs.field(default=(), converter=_int_tuple)
    skipped: tuple[Skipped, ...] = attrs.field(default=(), converter=_int_tuple)
    diagnostics: tuple[Diagnostic, ...] = attrs.field(default=(), converter=_int_tuple)
    generator: GeneratorMeta = attrs.field(factory=GeneratorMeta)
    format: str = PLAN_FORMAT

    def to_json(self) -> str:
        """Return the canonical JSON text: sorted keys, 2-space indent, trailing newline."""
        from quantplan.plan.codec import plan_to_json

        return plan_to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Parse and validate plan JSON; raise PlanError listing every problem with its JSON path."""
        from quantplan.plan.codec import plan_from_json

        return plan_from_json(text)

    def save(self, path: str | Path) -> None:
        """Write the canonical JSON to `path` atomically (temporary file + rename)."""
        from quantplan.plan.io import atomic_write_text

        text = self.to_json()
        try:
            atomic_write_text(path, text)
        except OSError as error:
            message = f"cannot write the plan to {str(path)!r}: {error.strerror or error}. Choose a writable file path."
            raise PlanError(ErrorDetail(path=str(path), message=message, value=str(path))) from None

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read a plan file; an unreadable or invalid file raises PlanError naming it."""
        from quantplan.plan.codec import plan_from_file

        return plan_from_file(path)

    def sha256(self) -> str:
        """Return the hex SHA-256 digest of the canonical JSON (64 characters, no prefix)."""
        import hashlib

        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def op(self, name: str) -> PlanOp:
        """Return the op called `name`; raise PlanError with the closest names if none is."""
        for op in self.ops:
            if op.name == name:
                return op
        names = [op.name for op in self.ops]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise PlanError(ErrorDetail(path="ops", message=f"no op named {name!r} in the plan.{hint}", value=name))

    def entries(self) -> Iterator[tuple[PlanOp, str, int | str, Entry]]:
        """Yield (op, group, key, entry) for every entry, in op order then inputs, outputs, state."""
        for op in self.ops:
            for group in ENTRY_GROUPS:
                for key, entry in getattr(op, group).items():
                    yield op, group, key, entry

    def explain(self, name: str) -> Any:
        """Explain which rule decided op or parameter `name` (see quantplan.compiler.explain)."""
        from quantplan.compiler.explain import explain

        return explain(self, name)
