"""`FakeQuantizer`: the module that simulates one plan site's quantization.

One instance serves one weight storage or one activation tensor, possibly for several plan
entries (a tied weight, or both ends of an edge whose specs are equal). It has two switches:

- `observe_enabled`: activations feed the observer (weights compute qparams from themselves);
- `fake_quant_enabled`: the tensor is fake-quantized, with a straight-through estimator.

Weights are fake-quantized once and reused while the weight is unchanged and no gradient
is needed (evaluation); activation fake quant always runs live. Once an activation's qparams
stop changing (observer off or frozen), its fake quant is specialized per input shape
(`numerics.fixed`), so an evaluation forward does one dict lookup and five tensor passes.
"""

from __future__ import annotations

import torch
from torch import nn

from quantplan.errors import ErrorDetail, PlanError
from quantplan.runtime.numerics import (
    QParams,
    build_fixed_fake_quant,
    compute_qparams,
    fake_quantize,
    fake_quantize_with_qparams,
    make_observer,
    resolve_block_shape,
)

__all__ = ["FakeQuantizer"]

ROLES = ("weight", "activation")
# Inputs whose shape changes every call (variable sequence lengths) must not grow the cache
# of specialized kernels without bound.
MAX_SPECIALIZED_SHAPES = 16


class FakeQuantizer(nn.Module):
    """Fake quantization for one site.

    `key` is the site's qparams key prefix (`params/fc.weight`, `ops/linear/inputs/0`);
    `entries` lists every plan entry it serves (`ops/linear/state/weight`, ...);
    `spec` is the concrete QuantizationSpec and `block_shape` the plan's block shape.
    """

    def __init__(self, *, key: str, entries: tuple[str, ...], spec, resolved, role: str):
        super().__init__()
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        self.key = key
        self.entries = tuple(entries)
        self.role = role
        self.spec = spec
        self.resolved = resolved
        self.block_shape = tuple(resolved.block_shape)
        self.dynamic = resolved.qparam_calculator_cls == "dynamic"
        self.observe_enabled = True
        self.fake_quant_enabled = True
        self.observer = None if role == "weight" else make_observer(spec, role=role, name=key)
        self._frozen: QParams | None = None
        self._provisional = False
        self._qparams_cache: QParams | None = None
        self._weight_cache: tuple[tuple, torch.Tensor] | None = None
        self._block_cache: dict[tuple[int, ...], tuple[int, ...]] = {}
        # (shape, dtype, device) -> FixedFakeQuant, valid while the qparams stay fixed.
        self._fixed: dict[tuple, object] = {}

    def extra_repr(self) -> str:
        return f"key={self.key!r}, dtype={self.resolved.dtype}, granularity={self.resolved.granularity.type}"

    # -- state -------------------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        """Whether fixed qparams (loaded or frozen at finalize) replace the observer's."""
        return self._frozen is not None

    def set_qparams(self, qparams: QParams) -> None:
        """Use `qparams` from now on; the observer no longer decides them."""
        self._frozen = qparams
        self._drop_caches()

    def clear_qparams(self) -> None:
        """Drop fixed qparams, so a weight's qparams come from its current value again."""
        self._frozen = None
        self._drop_caches()

    def freeze(self) -> None:
        """Fix the current qparams; raises PlanError if an observer never saw data."""
        if not self.dynamic:
            self.set_qparams(self.qparams())

    def mark_provisional(self) -> None:
        """Let the next observed batch replace the range observed so far, instead of joining it.

        `Quantizer.prepare` observes its example inputs once, so that qparams exist right away.
        Those inputs are often zeros, and a `moving_average` observer seeded with a zero range
        would stay near zero through a short calibration.
        """
        self._provisional = True

    def set_observe(self, enabled: bool) -> None:
        self.observe_enabled = bool(enabled)
        self._fixed = {}

    def set_fake_quant(self, enabled: bool) -> None:
        self.fake_quant_enabled = bool(enabled)
        self._fixed = {}

    @property
    def has_qparams(self) -> bool:
        """Whether qparams exist: frozen, a weight (its own range), dynamic, or an observer with data."""
        return (
            self.frozen
            or self.role == "weight"
            or self.dynamic
            or _observer_has_data(self.observer)
        )

    @property
    def nan_count(self) -> int:
        """NaN values the observer has seen and ignored (always 0 for weights)."""
        if self.observer is None:
            return 0
        return int(getattr(self.observer, "nan_count", 0))

    @property
    def inf_count(self) -> int:
        """+/-inf values the observer has seen and ignored (always 0 for weights)."""
        if self.observer is None:
            return 0
        return int(getattr(self.observer, "inf_count", 0))

    def qparams(
        self, weight: torch.Tensor | None = None, *, device: torch.device | None = None
    ) -> QParams:
        """Return the qparams in use: frozen ones, else the observer's (or the weight's own)."""
        if self._frozen is not None:
            if device is not None and self._frozen.scale.device != device:
                self._frozen = _qparams_to(self._frozen, device)
            return self._frozen
        if self.role == "weight":
            if weight is None:
                raise PlanError(
                    ErrorDetail(
                        path=self.key, message="the weight is needed to compute its qparams."
                    )
                )
            return compute_qparams(
                weight.detach(), self.spec, role="weight", block_shape=self.block_shape
            )
        if self._qparams_cache is None:
            self._qparams_cache = self._observer_qparams()
        return self._qparams_cache

    def _observer_qparams(self) -> QParams:
        if self.dynamic:
            raise PlanError(
                ErrorDetail(
                    path=self.key,
                    message="a dynamic quantizer computes qparams per call and stores none.",
                )
            )
        if not _observer_has_data(self.observer):
            raise PlanError(
                ErrorDetail(
                    path=self.key,
                    message=(
                        f"the observer of {self.key} never saw data, so it has no qparams. "
                        "Run calibration batches through the model (quantplan.calibrate) before "
                        "finalizing or freezing it."
                    ),
                )
            )
        return self.observer.qparams()

    def _drop_caches(self) -> None:
        self._qparams_cache = None
        self._weight_cache = None
        self._fixed = {}

    # -- forward -----------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return self._forward_weight(x)
        if _can_specialize(x):
            fixed = self._fixed.get((x.shape, x.dtype, x.device))
            if fixed is not None:
                return fixed(x)
        return self._forward_activation(x)

    def _forward_weight(self, weight: torch.Tensor) -> torch.Tensor:
        # A meta weight (a model built for `quantplan.load`) has no values to quantize.
        if not self.fake_quant_enabled or weight.is_meta:
            return weight
        # An inference tensor has no version counter, so an in-place change to it could not be
        # detected: its fake-quant value is recomputed on every call.
        reusable = (
            not (weight.requires_grad and torch.is_grad_enabled()) and not weight.is_inference()
        )
        if not reusable:
            qparams = self.qparams(weight, device=weight.device)
            return fake_quantize_with_qparams(weight, qparams, self.spec, self.block_shape)
        # Same storage, same in-place version: a cached value is still this weight's.
        token = (weight._version, weight.data_ptr(), weight.dtype, weight.device)
        if self._weight_cache is not None and self._weight_cache[0] == token:
            return self._weight_cache[1]
        # Outside inference mode, so that the cached value stays usable by a later forward
        # under autograd (an inference tensor cannot be saved for backward).
        with torch.inference_mode(False):
            qparams = self.qparams(weight, device=weight.device)
            output = fake_quantize_with_qparams(weight, qparams, self.spec, self.block_shape)
        self._weight_cache = (token, output.detach())
        return output

    def _forward_activation(self, x: torch.Tensor) -> torch.Tensor:
        # An empty batch has no range to observe and no value to quantize.
        if not x.is_floating_point() or x.numel() == 0:
            return x
        if self.observe_enabled and not self.dynamic:
            if self._provisional:
                self.observer = make_observer(self.spec, role=self.role, name=self.key)
                self._provisional = False
            self.observer.observe(x.detach())
            self._qparams_cache = None
        if not self.fake_quant_enabled:
            return x
        block_shape = self._activation_block_shape(x.shape)
        if self.dynamic:
            return fake_quantize(x, self.spec, role="activation", block_shape=block_shape).output
        qparams = self.qparams(device=x.device)
        if not self.observe_enabled and _can_specialize(x):
            self._specialize(x, qparams, block_shape)
        return fake_quantize_with_qparams(x, qparams, self.spec, block_shape)

    def _specialize(self, x: torch.Tensor, qparams: QParams, block_shape: tuple[int, ...]) -> None:
        fixed = build_fixed_fake_quant(qparams, self.spec, x.shape, block_shape, x.device)
        if len(self._fixed) >= MAX_SPECIALIZED_SHAPES:
            self._fixed = {}
        if fixed is not None:
            self._fixed[(x.shape, x.dtype, x.device)] = fixed

    def _activation_block_shape(self, shape: torch.Size) -> tuple[int, ...]:
        # An activation's batch or sequence size may differ from the recorded one, so its
        # block shape is derived from the actual shape with the plan's granularity.
        key = tuple(shape)
        if torch.compiler.is_compiling():
            # Traced shapes may be symbolic, and a SymInt cannot be a dict key.
            return resolve_block_shape(key, self.spec, "activation", name=self.key)
        block = self._block_cache.get(key)
        if block is None:
            block = resolve_block_shape(key, self.spec, "activation", name=self.key)
            self._block_cache[key] = block
        return block


def _can_specialize(x: torch.Tensor) -> bool:
    """Return whether the fixed-qparams kernel may serve `x`.

    Not under autograd, which needs the straight-through estimator, and not while torch.export
    or torch.compile traces, where shapes may be symbolic and qparams cannot become floats.
    """
    if x.requires_grad and torch.is_grad_enabled():
        return False
    return not torch.compiler.is_compiling()


def _observer_has_data(observer) -> bool:
    running_min = getattr(observer, "running_min", None)
    return running_min is not None and (
        not isinstance(running_min, torch.Tensor) or running_min.numel() > 0
    )


def _qparams_to(qparams: QParams, device: torch.device) -> QParams:
    def move(value: torch.Tensor | None) -> torch.Tensor | None:
        return None if value is None else value.to(device)

    return QParams(
        scale=move(qparams.scale), zero_point=move(qparams.zero_point), minval=move(qparams.minval)
    )
