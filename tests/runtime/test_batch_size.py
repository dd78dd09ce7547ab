"""Graph-mode prepared models take calibration batches of another size than the example."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan import Quantizer, QuantizerConfig
from quantplan.errors import PlanError
from quantplan.runtime.fake import fake_quantizers


class FixedBatch(nn.Module):
    """Reshapes with a literal batch size, so torch.export must keep the batch static."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x).reshape(8, 2, 2)


def _prepare(model: nn.Module, batch: int) -> Quantizer:
    torch.manual_seed(0)
    quantizer = Quantizer(model.eval(), QuantizerConfig(execution_mode="graph"))
    quantizer.prepare((torch.randn(batch, 8),))
    return quantizer


def test_calibrate_other_batch_size():
    quantizer = _prepare(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), batch=8)

    report = quantizer.calibrate([(torch.randn(4, 8),), (torch.randn(16, 8),)], progress=False)
    with torch.no_grad():
        output = quantizer.prepared_model(torch.randn(3, 8))

    assert report is not None
    assert output.shape == (3, 4)
    assert all(quantizer.has_qparams for quantizer in fake_quantizers(quantizer.prepared_model))


def test_other_batch_matches_per_sample():
    quantizer = _prepare(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), batch=8)
    inputs = torch.randn(5, 8)
    with torch.no_grad():
        batched = quantizer.prepared_model(inputs)
        single_rows = torch.cat(
            [quantizer.prepared_model(inputs[index : index + 2]) for index in (0, 2)]
        )

    assert torch.equal(batched[:4], single_rows)


@pytest.mark.parametrize(("model", "batch"), [(FixedBatch(), 8), (nn.Linear(8, 4), 1)])
def test_static_batch_error_names_fix(model, batch):
    quantizer = _prepare(model, batch=batch)

    with pytest.raises(PlanError) as error, torch.no_grad():
        quantizer.prepared_model(torch.randn(4, 8))

    assert "Compile the plan with dynamic_shapes= declaring the dimensions that vary" in str(
        error.value
    )


class Tokens(nn.Module):
    """Embeds token ids of any batch size and sequence length."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 4)

    def forward(self, ids):
        return self.fc(self.embed(ids))


class SevenTokens(Tokens):
    """Branches on the sequence length, so torch.export specializes dimension 1 to 7."""

    def forward(self, ids):
        hidden = self.embed(ids)
        if ids.shape[1] == 7:
            hidden = hidden * 2
        return self.fc(hidden)


def _prepare_tokens(model: nn.Module) -> Quantizer:
    torch.manual_seed(0)
    quantizer = Quantizer(model.eval(), QuantizerConfig(execution_mode="graph"))
    quantizer.prepare((torch.randint(0, 100, (2, 7)),))
    return quantizer


@pytest.mark.parametrize("shape", [(4, 7), (2, 9), (3, 5)])
def test_calibrate_other_sequence_length(shape):
    quantizer = _prepare_tokens(Tokens())

    report = quantizer.calibrate([(torch.randint(0, 100, shape),)], progress=False)

    assert report.batches == 1


def test_fixed_sequence_error_names_dimension():
    quantizer = _prepare_tokens(SevenTokens())

    with pytest.raises(PlanError) as error, torch.no_grad():
        quantizer.prepared_model(torch.randint(0, 100, (2, 9)))

    message = str(error.value)
    assert "input 'ids': dimension 1 is fixed at 7 in the prepared graph" in message
    assert "dynamic_shapes=({1: torch.export.Dim.DYNAMIC},)" in message
