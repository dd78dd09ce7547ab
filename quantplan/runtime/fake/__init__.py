"""Fake quantization: quantizer modules, where they attach, and the switches over them."""

from __future__ import annotations

from quantplan.runtime.fake.control import (
    calibration_mode,
    fake_quantizers,
    freeze_activations,
    is_prepared,
    set_observers,
    training_mode,
)
from quantplan.runtime.fake.quantizer import FakeQuantizer
from quantplan.runtime.fake.sites import Site, SiteLocation, entry_id, non_null_entries, plan_sites

__all__ = [
    "FakeQuantizer",
    "Site",
    "SiteLocation",
    "calibration_mode",
    "entry_id",
    "fake_quantizers",
    "freeze_activations",
    "is_prepared",
    "non_null_entries",
    "plan_sites",
    "set_observers",
    "training_mode",
]
