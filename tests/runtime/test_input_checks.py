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
