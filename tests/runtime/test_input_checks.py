"""Graph-mode input checks run once per input signature and still reject every bad call."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan import Quantizer, QuantizerConfig
from quantplan.errors import PlanError
from quantplan.runtime.fake.input_checks import (
    MAX_ACCEPTED_SIGNATURES,
    AcceptedSignatures,
    ShapeGuard,
    StructureCheck,
    input_signature,
)

from .test_batch_size import SevenTokens


class CountingGuard(nn.Module):
    """A guard that counts its calls and rejects a batch of 5."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        assert x.shape[0] != 5, "Guard failed: x.size()[0] == 4"


class ScalarArguments(nn.Module):
    """Takes a float, a bool and a str besides its tensor, which torch.export specializes."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, scale=1.0, flag=False, mode="a"):
        hidden = self.fc(x)
        if flag:
            hidden = hidden * 2
        if mode == "b":
            hidden = hidden - 1
        return hidden * scale


class RaisingGuard(nn.Module):
    """A guard that always fails with `message`, as torch.export's guard does."""

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def forward(self, x):
        raise AssertionError(self.message)


def _prepared_tokens() -> nn.Module:
    torch.manual_seed(0)
    quantizer = Quantizer(SevenTokens().eval(), QuantizerConfig(execution_mode="graph"))
    return quantizer.prepare((torch.randint(0, 100, (2, 7)),))


def test_signature_of_tensors_and_plain_values():
    x = torch.zeros(2, 3)

    first = input_signature((x, 4), {"scale": 0.5})
    same = input_signature((torch.ones(2, 3), 4), {"scale": 0.5})

    assert first == same
    assert input_signature((torch.zeros(2, 4), 4), {"scale": 0.5}) != first
    assert input_signature((x.double(), 4), {"scale": 0.5}) != first
    assert input_signature((x, 5), {"scale": 0.5}) != first
    assert input_signature((x, 4), {"shift": 0.5}) != first


def test_signature_none_for_containers():
    assert input_signature(([torch.zeros(2)],), {}) is None
    assert input_signature((torch.zeros(2),), {"extra": {"a": 1}}) is None


def test_accepted_signatures_bounded():
    accepted = AcceptedSignatures()
    for size in range(MAX_ACCEPTED_SIGNATURES + 1):
        accepted.add(input_signature((torch.zeros(size),), {}))

    assert input_signature((torch.zeros(MAX_ACCEPTED_SIGNATURES),), {}) in accepted
    assert input_signature((torch.zeros(0),), {}) not in accepted
    assert None not in accepted


def test_shape_guard_runs_once_per_signature():
    inner = CountingGuard()
    guard = ShapeGuard(inner)

    for _ in range(3):
        guard(torch.zeros(4, 2))
    guard(torch.zeros(6, 2))

    assert inner.calls == 2


def test_shape_guard_rejects_every_time():
    inner = CountingGuard()
    guard = ShapeGuard(inner)

    for _ in range(2):
        with pytest.raises(PlanError, match="dimension 0 is fixed at 4"):
            guard(torch.zeros(5, 2))

    assert inner.calls == 2


def test_structure_check_runs_once_per_signature():
    calls = []

    def hook(module, args, kwargs):
        calls.append(len(args))

    check = StructureCheck(hook)
    module = nn.Identity()
    for _ in range(3):
        check(module, (torch.zeros(2),), {})
    check(module, ([torch.zeros(2)],), {})
    check(module, ([torch.zeros(2)],), {})

    assert calls == [1, 1, 1]


def test_prepared_model_wraps_both_checks():
    prepared = _prepared_tokens()

    hooks = list(prepared._forward_pre_hooks.values())

    assert isinstance(prepared._guards_fn, ShapeGuard)
    assert sum(isinstance(hook, StructureCheck) for hook in hooks) == 1


def test_prepared_model_rejects_after_accepting():
    prepared = _prepared_tokens()
    good = torch.randint(0, 100, (2, 7))

    with torch.no_grad():
        prepared(good)
        prepared(good)
        for _ in range(2):
            with pytest.raises(PlanError, match="dimension 1 is fixed at 7"):
                prepared(torch.randint(0, 100, (2, 9)))
        with pytest.raises(ValueError, match="tree spec"):
            prepared(good, good)
        output = prepared(good)

    assert output.shape == (2, 7, 4)


@pytest.fixture(scope="module")
def prepared_scalars() -> nn.Module:
    torch.manual_seed(0)
    quantizer = Quantizer(ScalarArguments().eval(), QuantizerConfig(execution_mode="graph"))
    return quantizer.prepare((torch.randn(2, 8), 2.0, True, "b"))


def _value_message(name: str, value: str) -> str:
    return (
        f"inputs: argument {name!r} was fixed at {value} when the plan was compiled, and this "
        f"call passes another value (Guard failed: {name} == {value}). torch.export specializes "
        "arguments that are not tensors, such as bools, ints, floats and strings, to their "
        f"values in the example inputs. Pass {value} as {name!r} in every call, or compile the "
        "plan (Quantizer.prepare or compile_plan) with example inputs that contain the value "
        "this call needs."
    )


@pytest.mark.parametrize(
    ("arguments", "name", "value"),
    [
        ((3.0, True, "b"), "scale", "2.0"),
        ((2.0, False, "b"), "flag", "True"),
        ((2.0, True, "a"), "mode", "'b'"),
    ],
)
def test_changed_scalar_argument_named(prepared_scalars, arguments, name, value):
    x = torch.randn(2, 8)

    with torch.no_grad():
        prepared_scalars(x, 2.0, True, "b")
        with pytest.raises(PlanError) as caught:
            prepared_scalars(x, *arguments)

    assert str(caught.value) == _value_message(name, value)


def test_scalar_message_omits_dynamic_shapes(prepared_scalars):
    with pytest.raises(PlanError) as caught, torch.no_grad():
        prepared_scalars(torch.randn(2, 8), 3.0, True, "b")

    assert "dynamic_shapes" not in str(caught.value)


def test_value_guard_in_container_named():
    guard = ShapeGuard(RaisingGuard("Guard failed: cfg['k'] == 1.5"))

    with pytest.raises(PlanError) as caught:
        guard(torch.zeros(2))

    assert str(caught.value) == _value_message("cfg['k']", "1.5")


@pytest.mark.parametrize(
    ("guard_text", "expected_start"),
    [
        (
            "Guard failed: ids.size()[1] == 7",
            "inputs: input 'ids': dimension 1 is fixed at 7 in the prepared graph",
        ),
        (
            "Guard failed: y.size()[0] == x.size()[0]",
            "inputs: the prepared graph does not accept these input shapes",
        ),
    ],
)
def test_shape_guards_keep_shape_message(guard_text, expected_start):
    guard = ShapeGuard(RaisingGuard(guard_text))

    with pytest.raises(PlanError) as caught:
        guard(torch.zeros(2))

    assert str(caught.value).startswith(expected_start)
    assert "dynamic_shapes=" in str(caught.value)
