"""The input signature records a constant integer fill, and rebuilds inputs with it."""

from __future__ import annotations

import json

import torch

from quantplan.compiler import compile_plan
from quantplan.compiler.capture import describe_inputs, inputs_from_signature
from quantplan.quantization import QuantizerConfig
from quantplan.schema.plan_schema import plan_validation_errors


def test_constant_mask_records_fill():
    signature = describe_inputs({"attention_mask": torch.ones(2, 8, dtype=torch.long)})

    assert signature["kwargs"]["attention_mask"] == {"shape": [2, 8], "dtype": "int64", "fill": 1}


def test_varying_ids_record_no_fill():
    signature = describe_inputs((torch.arange(16).reshape(2, 8),))

    assert signature["args"][0] == {"shape": [2, 8], "dtype": "int64"}


def test_zero_and_float_record_no_fill():
    signature = describe_inputs((torch.zeros(3, dtype=torch.long), torch.ones(3)))

    assert "fill" not in signature["args"][0]
    assert "fill" not in signature["args"][1]


def test_rebuilt_inputs_use_fill():
    signature = describe_inputs(
        ((torch.arange(4), torch.full((4,), 7)), {"mask": torch.ones(4, dtype=torch.bool)})
    )
    (ids, sevens), kwargs = inputs_from_signature(signature)

    assert torch.equal(ids, torch.zeros(4, dtype=torch.long))
    assert torch.equal(sevens, torch.full((4,), 7))
    assert torch.equal(kwargs["mask"], torch.ones(4, dtype=torch.bool))


def test_signature_without_fill_gives_zeros():
    (ids,) = inputs_from_signature(
        {"args": [{"shape": [2], "dtype": "int64"}], "kwargs": {}, "dynamic_shapes": None}
    )

    assert torch.equal(ids, torch.zeros(2, dtype=torch.long))


def test_plan_with_fill_valid():
    model = torch.nn.Embedding(10, 4)
    plan = compile_plan(model, (torch.ones(2, 3, dtype=torch.long),), QuantizerConfig())

    assert plan.model.inputs["args"][0]["fill"] == 1
    assert plan_validation_errors(json.loads(plan.to_json())) == []
