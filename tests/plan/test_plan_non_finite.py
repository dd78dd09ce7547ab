"""Plan JSON cannot hold NaN or infinity: writing one is a PlanError that names where it is."""

from __future__ import annotations

import pytest

from quantplan.errors import PlanError
from quantplan.plan.codec import dumps_canonical
from quantplan.plan.model import ConfigMeta
from tests.plan.plan_builders import tinynet_plan


def test_dumps_canonical_names_infinity():
    with pytest.raises(PlanError) as error:
        dumps_canonical({"spec": {"float_range": [float("-inf"), 1.0]}})
    assert str(error.value) == (
        "$.spec.float_range[0]: the plan holds the non-finite number -inf, "
        "which plan JSON cannot store; "
        "use finite numbers (for float_range, finite bounds)."
    )


def test_config_meta_rejects_nan():
    with pytest.raises(PlanError) as error:
        ConfigMeta(fingerprint="sha256:" + "0" * 64, normalized={"x": float("nan")})
    assert str(error.value).startswith("$.x: the plan holds the non-finite number nan,")


def test_save_into_directory_is_plan_error(tmp_path):
    with pytest.raises(PlanError) as error:
        tinynet_plan().save(tmp_path)
    assert str(error.value).startswith(f"{tmp_path}: cannot write the plan to {str(tmp_path)!r}: ")
