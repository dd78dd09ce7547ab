"""The Quantizer facade: prepare, calibration and training modes, finalize, and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan import ModuleQuantizerConfig, QuantizationSpec, Quantizer, QuantizerConfig
from quantplan.errors import PlanError
from quantplan.quantization.spec import PerBlockGranularity
from quantplan.runtime.fake import fake_quantizers
from quantplan.runtime.fake.fold import parameter_at


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(64, 32, 2, stride=2)

    def forward(self, x):
        return self.deconv1(x)


class MyModel(nn.Module):
    """Conv2d, Linear and a ConvTranspose2d at `decoder.deconv1`, as in the axis-override example."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, stride=4, padding=1)
        self.bn = nn.BatchNorm2d(64)
        self.decoder = Decoder()
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = self.decoder(x)
        return self.head(x.mean((2, 3)))


def _axis_override_config():
    return QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_state_spec={
                "weight": QuantizationSpec(
                    dtype=torch.int4, granularity=PerBlockGranularity(block_size=32)
                )
            },
        ),
        module_name_configs={
            "decoder.deconv1": ModuleQuantizerConfig(
                op_state_spec={
                    "weight": QuantizationSpec(
                        dtype=torch.int4, granularity=PerBlockGranularity(axis=1, block_size=32)
                    )
                },
            ),
        },
    )


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_axis_override_example_prepares(mode):
    model = MyModel().eval()
    example_inputs = (torch.randn(1, 3, 64, 64),)
    config = _axis_override_config().set_execution_mode(mode)

    quantizer = Quantizer(model, config)
    prepared = quantizer.prepare(example_inputs)
    deconv = next(op for op in quantizer.plan.ops if op.module == "decoder.deconv1")

    assert deconv.state["weight"].spec.granularity.axis == 1
    assert deconv.state["weight"].spec.scale_shape == (64, 1, 1, 1)
    assert prepared(*example_inputs).shape == (1, 10)


def test_mxfp4_example_prepares():
    fp8_activation = QuantizationSpec(dtype=torch.float8_e4m3fn)
    mxfp4_weight = QuantizationSpec(
        dtype=torch.float4_e2m1fn_x2,
        granularity=PerBlockGranularity(block_size=32),
        scale_dtype=torch.float8_e8m0fnu,
    )
    config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": fp8_activation},
            op_output_spec={"*": fp8_activation},
            op_state_spec={"weight": mxfp4_weight},
        )
    )
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32)).eval()

    prepared = Quantizer(model, config).prepare((torch.randn(4, 64),))

    assert torch.isfinite(prepared(torch.randn(4, 64))).all()


def _prepared(mode: str = "graph"):
    torch.manual_seed(0)
    model = MyModel().eval()
    quantizer = Quantizer(model, QuantizerConfig().set_execution_mode(mode))
    quantizer.prepare((torch.randn(2, 3, 32, 32),))
    return quantizer


def _switches(model) -> set[tuple[str, bool, bool]]:
    return {
        (quantizer.role, quantizer.observe_enabled, quantizer.fake_quant_enabled)
        for quantizer in fake_quantizers(model)
    }


def test_prepare_leaves_observers_off():
    quantizer = _prepared()

    assert _switches(quantizer.prepared_model) == {
        ("weight", False, True),
        ("activation", False, True),
    }


def test_calibration_mode_switches():
    quantizer = _prepared()

    with quantizer.calibration_mode() as model:
        inside = _switches(model)

    assert inside == {("weight", True, True), ("activation", True, False)}
    assert _switches(quantizer.prepared_model) == {
        ("weight", False, True),
        ("activation", False, True),
    }


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_training_mode_restores_state(mode):
    quantizer = _prepared(mode)
    model = quantizer.prepared_model

    with quantizer.training_mode():
        training_inside = model.training
        inside = _switches(model)

    assert training_inside is True
    assert inside == {("weight", True, True), ("activation", True, True)}
    assert model.training is False
    assert _switches(model) == {("weight", False, True), ("activation", False, True)}


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_training_mode_updates_batch_norm(mode):
    quantizer = _prepared(mode)
    model = quantizer.prepared_model
    before = model.get_buffer("bn.running_mean").clone()

    with quantizer.training_mode():
        model(torch.randn(2, 3, 32, 32) + 3.0)

    assert not torch.equal(model.get_buffer("bn.running_mean"), before)


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_training_mode_passes_gradients(mode):
    quantizer = _prepared(mode)
    model = quantizer.prepared_model

    with quantizer.training_mode():
        model(torch.randn(2, 3, 32, 32)).sum().backward()

    gradient = (
        model.get_parameter("head.weight").grad
        if mode == "graph"
        else model.head.parametrizations.weight.original.grad
    )
    assert gradient is not None
    assert gradient.abs().sum() > 0


def test_graph_state_dict_keeps_paths():
    quantizer = _prepared("graph")

    assert set(quantizer.prepared_model.state_dict()) == set(MyModel().state_dict())


def test_eager_state_dict_keeps_paths():
    quantizer = _prepared("eager")

    assert set(quantizer.prepared_model.state_dict()) == set(MyModel().state_dict())


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_finalize_torch_folds_weights(mode):
    quantizer = _prepared(mode)
    model = quantizer.prepared_model
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(inputs)

    finalized = quantizer.finalize(backend="torch")
    with torch.no_grad():
        actual = finalized(inputs)
    weights = {
        quantizer.role: quantizer.fake_quant_enabled for quantizer in fake_quantizers(finalized)
    }

    # The batch norm is folded into `conv`, whose folded weight gets its own scale.
    assert torch.allclose(actual, expected, atol=0.05 * float(expected.abs().max()))
    assert weights == {"weight": False, "activation": True}


def test_weight_fake_quant_computed_once_in_eval():
    quantizer = _prepared("graph")
    model = quantizer.prepared_model
    weight = next(item for item in fake_quantizers(model) if item.key == "params/head.weight")
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
        first = weight._weight_cache[1]
        model(torch.randn(2, 3, 32, 32))

    assert weight._weight_cache[1] is first


def test_weight_cache_follows_inplace_update():
    quantizer = _prepared("graph")
    model = quantizer.prepared_model
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(inputs)
        model.head.weight.mul_(2.0)
        after = model(inputs)

    assert not torch.equal(before, after)


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_inference_tensor_weights_follow_update(mode):
    with torch.inference_mode():
        model = MyModel().eval()
    quantizer = Quantizer(model, QuantizerConfig(execution_mode=mode))
    inputs = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        quantizer.prepare((inputs,))
        prepared = quantizer.prepared_model
        first = prepared(inputs)
        again = prepared(inputs)
        # Eager mode puts a parametrization on the weight; the stored tensor is under it.
        parameter_at(prepared, "head.weight").mul_(2.0)
        changed = prepared(inputs)

    assert torch.equal(first, again)
    assert not torch.equal(first, changed)


def test_finalize_without_data_names_tensor():
    model = MyModel().eval()
    plan = quantplan.compile_plan(model, (torch.randn(1, 3, 32, 32),), QuantizerConfig())
    prepared = quantplan.apply_plan(model, plan)

    with pytest.raises(
        PlanError, match=r"ops/conv2d/inputs/0: the observer of ops/conv2d/inputs/0 never saw data"
    ):
        quantplan.runtime.fake.freeze_activations(prepared)


def test_second_plan_rejected():
    quantizer = _prepared("graph")

    with pytest.raises(PlanError, match="the model already has a quantplan plan applied"):
        quantplan.apply_plan(quantizer.prepared_model, quantizer.plan)


def test_second_plan_rejected_eager():
    quantizer = _prepared("eager")

    with pytest.raises(PlanError, match="applying a second plan would quantize twice"):
        quantplan.apply_plan(quantizer.prepared_model, quantizer.plan)


def test_plan_before_prepare_rejected():
    with pytest.raises(
        PlanError, match=r"no plan yet; call Quantizer.prepare\(example_inputs\) first"
    ):
        _ = Quantizer(MyModel(), QuantizerConfig()).plan


def test_unknown_backend_rejected():
    quantizer = _prepared()

    with pytest.raises(
        quantplan.ConfigError, match="backend 'onnx' is invalid; use one of: quantplan, torch"
    ):
        quantizer.finalize(backend="onnx")


def test_calibrate_counts_batches():
    quantizer = _prepared()

    report = quantplan.calibrate(
        quantizer.prepared_model, [torch.randn(2, 3, 32, 32) for _ in range(4)], progress=False
    )

    assert report.batches == 4
    assert report.nan_counts == {}


class ConvBatchNormLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def _w8a8_config(mode: str) -> QuantizerConfig:
    int8 = {"dtype": "int8", "granularity": {"type": "per_tensor"}}
    return QuantizerConfig.from_dict(
        {
            "quantization_config": {
                "execution_mode": mode,
                "global_config": {
                    "op_input_spec": {"*": int8},
                    "op_output_spec": {"*": int8},
                    "op_state_spec": {
                        "weight": {"dtype": "int8", "granularity": {"type": "per_channel"}}
                    },
                },
            }
        }
    )


def test_finalize_matches_calibrated_fake_model():
    """Zero example inputs must not shrink the calibrated range (a moving average seeded at 0)."""
    import copy

    torch.manual_seed(0)
    model = ConvBatchNormLinear().eval()
    model.bn.running_mean.uniform_(-0.1, 0.1)
    model.bn.running_var.uniform_(0.8, 1.2)
    batches = [(torch.rand(4, 1, 8, 8),) for _ in range(4)]
    quantizer = Quantizer(copy.deepcopy(model), _w8a8_config("eager"))
    prepared = quantizer.prepare((torch.zeros(4, 1, 8, 8),))
    with quantizer.calibration_mode(), torch.no_grad():
        for batch in batches:
            prepared(*batch)
    reference = quantplan.apply_plan(copy.deepcopy(model), quantizer.plan)
    quantplan.calibrate(reference, batches, progress=False)
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        expected = reference(x)
        actual = quantizer.finalize()(x)
    relative_error = ((actual - expected).norm() / expected.norm()).item()
    assert relative_error < 0.01


def test_first_calibration_batch_replaces_prepare_range():
    torch.manual_seed(0)
    quantizer = Quantizer(ConvBatchNormLinear().eval(), _w8a8_config("graph"))
    prepared = quantizer.prepare((torch.zeros(4, 1, 8, 8),))
    with quantizer.calibration_mode(), torch.no_grad():
        prepared(torch.full((4, 1, 8, 8), 2.0))
    assert quantizer.qparams()["ops/conv2d/inputs/0/scale"].item() == pytest.approx(2.0 / 127.5)


@pytest.mark.parametrize("backend", ["quantplan", "torch"])
def test_second_finalize_says_finalized(backend):
    quantizer = Quantizer(nn.Sequential(nn.Linear(4, 4)).eval(), _w8a8_config("graph"))
    quantizer.prepare((torch.randn(2, 4),))
    quantizer.finalize(backend)
    with pytest.raises(PlanError) as caught:
        quantizer.finalize(backend)
    assert str(caught.value) == (
        f"model: cannot finalize: the model is already finalized (backend {backend!r}). "
        "Create a new Quantizer from the float model to quantize it again."
    )


def test_calibrate_after_finalize_rejected():
    quantizer = Quantizer(nn.Sequential(nn.Linear(4, 4)).eval(), _w8a8_config("graph"))
    quantizer.prepare((torch.randn(2, 4),))
    quantizer.finalize()
    with pytest.raises(PlanError, match="cannot calibrate: the model is already finalized"):
        quantizer.calibrate([(torch.randn(2, 4),)], progress=False)
    with pytest.raises(PlanError, match="cannot prepare: the model is already finalized"):
        quantizer.prepare((torch.randn(2, 4),))


def _small_w8a8(mode: str = "graph") -> Quantizer:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    quantizer = Quantizer(model, QuantizerConfig.presets.w8a8())
    quantizer.config.execution_mode = mode
    quantizer.prepare((torch.randn(2, 8),))
    quantizer.calibrate([(torch.randn(2, 8),)], progress=False)
    return quantizer


def test_finalized_model_exports():
    final = _small_w8a8().finalize(backend="torch")
    x = torch.randn(2, 8)
    with torch.no_grad():
        final(x)

    program = torch.export.export(final, (x,))

    with torch.no_grad():
        assert torch.equal(program.module()(x), final(x))


def test_finalized_model_exports_dynamic_batch():
    final = _small_w8a8().finalize(backend="torch")
    batch = torch.export.Dim("batch", max=64)

    program = torch.export.export(final, (torch.randn(2, 8),), dynamic_shapes=({0: batch},))

    x = torch.randn(5, 8)
    with torch.no_grad():
        assert torch.equal(program.module()(x), final(x))


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_inference_cache_allows_autograd(mode):
    prepared = _small_w8a8(mode).prepared_model
    prepared.requires_grad_(False)
    # Restoring a checkpoint copies into the weights in place, so the weight cache refills.
    prepared.load_state_dict(prepared.state_dict())
    with torch.inference_mode():
        prepared(torch.randn(2, 8))
    x = torch.randn(2, 8, requires_grad=True)

    prepared(x).sum().backward()

    assert x.grad is not None
    assert float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_empty_batch_passes_through(mode):
    quantizer = _small_w8a8(mode)

    with torch.no_grad():
        output = quantizer.prepared_model(torch.randn(0, 8))

    assert output.shape == (0, 4)


def test_autograd_forward_builds_no_fixed_kernel():
    prepared = _small_w8a8().prepared_model
    x = torch.randn(2, 8, requires_grad=True)

    for _ in range(3):
        prepared(x)

    assert all(not quantizer._fixed for quantizer in fake_quantizers(prepared))
