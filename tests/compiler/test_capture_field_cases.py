"""Capture behaviour on the field cases: module path metadata, lowered Linear forms, export failures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan.compiler.capture import capture_model
from quantplan.compiler.capture.graph_mode import graph_from_program
from quantplan.compiler.capture.module_paths import ModulePathMapper
from quantplan.compiler.graph import CaptureInfo
from quantplan.errors import PlanError


class TwoConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU())])

    def forward(self, x):
        return self.blocks[0](torch.relu(self.conv1(x)))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("blocks.0.0", "blocks.0.0"),
        ("L['self'].blocks[0][0]", "blocks.0.0"),
        ("getattr(getattr(L['self'].blocks, '0'), '0')", "blocks.0.0"),
        ("L__self___blocks_0_0", "blocks.0.0"),
        ("L__self___conv1", "conv1"),
        ("L['self']", ""),
        ("", ""),
    ],
)
def test_mapper_with_and_without_legacy_prefix(raw, expected):
    assert ModulePathMapper(TwoConvs()).resolve(raw) == expected


def test_mapper_rejects_unknown_path():
    with pytest.raises(PlanError) as caught:
        ModulePathMapper(TwoConvs()).resolve("model.blocks.0.0")
    assert "matches no name in model.named_modules()" in str(caught.value)
    assert 'execution_mode="eager"' in str(caught.value)


def test_export_paths_equal_named_modules():
    model = TwoConvs()
    graph = capture_model(model, (torch.randn(1, 3, 8, 8),)).graph
    assert [(op.name, op.module) for op in graph.ops if op.type == "conv2d"] == [
        ("conv2d", "conv1"),
        ("conv2d_1", "blocks.0.0"),
    ]
    # A ModuleList is indexed, never called, so it is not on the stack.
    assert graph.ops[-1].module_stack == (
        ("blocks.0", "torch.nn.modules.container.Sequential"),
        ("blocks.0.1", "torch.nn.modules.activation.ReLU"),
    )


@pytest.mark.parametrize(
    ("bias", "shape"),
    [(True, (2, 8)), (False, (2, 8)), (True, (2, 3, 8))],
)
def test_decomposed_linear_is_one_linear_op(bias, shape):
    model = nn.Linear(8, 4, bias=bias)
    example = (torch.randn(*shape),)
    program = torch.export.export(model.eval(), example).run_decompositions()
    graph = graph_from_program(program, model, (), {}, CaptureInfo(mode="graph", method="test"))
    linears = [op for op in graph.ops if op.type == "linear"]
    assert len(linears) == 1
    weight = next(use for use in linears[0].params if use.role == "weight")
    assert (weight.path, weight.layout, weight.view) == ("weight", "out_in", "transpose")
    assert linears[0].target in ("aten.addmm.default", "aten.mm.default")


@pytest.mark.parametrize("bias", [True, False])
def test_default_export_keeps_aten_linear(bias):
    graph = capture_model(nn.Linear(8, 4, bias=bias), (torch.randn(2, 3, 8),)).graph
    assert [(op.type, op.target) for op in graph.ops] == [("linear", "aten.linear.default")]
    assert graph.ops[0].params[0].layout == "out_in"


class ValueBranch(nn.Module):
    def forward(self, x):
        if x.abs().max() > 1:
            return x * 2
        return x


def test_value_dependent_branch_message():
    with pytest.raises(PlanError) as caught:
        capture_model(ValueBranch(), (torch.randn(2, 3),))
    message = str(caught.value)
    assert message.startswith("<root>: graph-mode capture (torch.export(strict=False)) failed: ")
    assert "value-dependent branch" in message
    assert "test_capture_field_cases.py" in message
    assert 'execution_mode="eager"' in message


def test_value_dependent_branch_eager_fallback():
    graph = capture_model(ValueBranch(), (torch.randn(2, 3),), mode="eager").graph
    assert graph.capture.method == "torch_function_mode"


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def test_dynamic_batch_of_one_message():
    dims = {"x": {0: torch.export.Dim("batch", min=1)}}
    with pytest.raises(PlanError) as caught:
        capture_model(MLP(), (torch.randn(1, 4),), dynamic_shapes=dims)
    message = str(caught.value)
    assert "specialized to a constant" in message
    assert "Dim.AUTO" in message


def test_dynamic_batch_of_one_auto_records_specialization():
    dims = {"x": {0: torch.export.Dim.AUTO}}
    graph = capture_model(MLP(), (torch.randn(1, 4),), dynamic_shapes=dims).graph
    assert graph.capture.specializations == ("input 'x' dimension 0 specialized to 1",)


class ShapeBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("short", torch.ones(1))
        self.register_buffer("long", torch.full((1,), 2.0))

    def forward(self, x):
        if x.shape[1] > 16:
            return x * self.long
        return x * self.short


def test_shape_dependent_branch_message():
    dims = {"x": {1: torch.export.Dim("seq", min=2, max=64)}}
    with pytest.raises(PlanError) as caught:
        capture_model(ShapeBranch(), (torch.randn(2, 8),), dynamic_shapes=dims)
    message = str(caught.value)
    assert message.startswith("<root>: graph-mode capture (torch.export(strict=False)) failed: ")
    assert "dynamic_shapes" in message


def test_shape_dependent_branch_static_export():
    graph = capture_model(ShapeBranch(), (torch.randn(2, 8),)).graph
    assert [op.type for op in graph.ops] == ["mul"]
