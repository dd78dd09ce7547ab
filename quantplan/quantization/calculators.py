"""Registries of qparam calculators and range calculators, keyed by the names a spec stores.

A spec accepts a registered name or the registered class and always stores the name, so
configs stay serializable. The runtime maps each name to its observer implementation.
"""

from __future__ import annotations

import difflib

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import excerpt

__all__ = [
    "QPARAM_CALCULATORS",
    "RANGE_CALCULATORS",
    "CalculatorRegistry",
    "DefaultQParamsCalculator",
    "DynamicQParamsCalculator",
    "GlobalMinMaxQParamsCalculator",
    "MSERangeCalculator",
    "MinMaxRangeCalculator",
    "MovingAverageQParamsCalculator",
    "StaticQParamsCalculator",
]


class CalculatorRegistry:
    """An explicit name <-> class table; duplicate registrations are errors."""

    def __init__(self, kind: str, field: str):
        self.kind = kind
        self.field = field
        self._classes: dict[str, type] = {}

    def register(self, name: str, cls: type) -> type:
        """Register `cls` under `name` and return it, so this also works as a decorator helper."""
        if name in self._classes or cls in self._classes.values():
            raise ValueError(f"{self.kind} {name!r} ({cls.__qualname__}) is already registered.")
        self._classes[name] = cls
        return cls

    def names(self) -> tuple[str, ...]:
        """Return the registered names in registration order."""
        return tuple(self._classes)

    def class_for(self, name: str) -> type:
        """Return the class registered under `name`."""
        return self._classes[name]

    def normalize(self, value: object) -> str:
        """Return the registered name for a name or a registered class.

        Raises ConfigError for anything else, listing the registered names.
        """
        if isinstance(value, str) and value in self._classes:
            return value
        for name, cls in self._classes.items():
            if value is cls:
                return name
        shown = getattr(value, "__qualname__", value)
        close = difflib.get_close_matches(str(shown), self.names(), n=1, cutoff=0.5)
        raise ConfigError(
            ErrorDetail(
                path=self.field,
                message=(
                    f"unknown {self.kind} {excerpt(shown)}. Use one of: {', '.join(self.names())}."
                ),
                value=value,
                expected=self.names(),
                suggestion=close[0] if close else None,
            )
        )


class DefaultQParamsCalculator:
    """Resolved by role at compile time: `static` for weights, `moving_average` for activations."""


class StaticQParamsCalculator:
    """Qparams from the latest tensor only (weights)."""


class MovingAverageQParamsCalculator:
    """Running range r = 0.01 * new + 0.99 * r, initialised by the first batch."""


class GlobalMinMaxQParamsCalculator:
    """Running element-wise min of the lows and max of the highs."""


class DynamicQParamsCalculator:
    """Qparams recomputed from every activation tensor at run time (activations only)."""


class MinMaxRangeCalculator:
    """Range = [min(x, 0), max(x, 0)] per block."""


class MSERangeCalculator:
    """Range clipped by the grid ratio with the least squared fake-quant error per block."""


QPARAM_CALCULATORS = CalculatorRegistry("qparam calculator", "qparam_calculator_cls")
for _name, _cls in (
    ("default", DefaultQParamsCalculator),
    ("static", StaticQParamsCalculator),
    ("moving_average", MovingAverageQParamsCalculator),
    ("global_minmax", GlobalMinMaxQParamsCalculator),
    ("dynamic", DynamicQParamsCalculator),
):
    QPARAM_CALCULATORS.register(_name, _cls)

RANGE_CALCULATORS = CalculatorRegistry("range calculator", "range_calculator_cls")
RANGE_CALCULATORS.register("minmax", MinMaxRangeCalculator)
RANGE_CALCULATORS.register("mse", MSERangeCalculator)
