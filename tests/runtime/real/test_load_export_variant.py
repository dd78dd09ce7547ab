"""save records the graph-mode export variant, and load tries that variant first."""

from __future__ import annotations

import copy

import torch
from safetensors import safe_open
from safetensors.torch import save_file

import quantplan
from quantplan import apply_plan
from quantplan.runtime.fake import runtime_export

from .helpers import TwoLayer, fc24_plan


def _save_graph(directory):
    model = TwoLayer()
    plan = fc24_plan(model, mode="graph")
    quantplan.save(apply_plan(copy.deepcopy(model), plan, mode="real"), plan, directory)


def _metadata(directory):
    with safe_open(str(directory / "weights.safetensors"), framework="pt") as handle:
        return handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}


def _count_exports(monkeypatch) -> list:
    calls = []
    original = runtime_export._try_export

    def counting(*args, **kwargs):
        calls.append(args[3])
        return original(*args, **kwargs)

    monkeypatch.setattr(runtime_export, "_try_export", counting)
    return calls


def test_save_records_export_variant(tmp_path):
    _save_graph(tmp_path)
    metadata, _ = _metadata(tmp_path)
    assert metadata["runtime_export"] == "all_dims"


def test_load_exports_recorded_variant_once(tmp_path, monkeypatch):
    _save_graph(tmp_path)
    calls = _count_exports(monkeypatch)
    loaded = quantplan.load(tmp_path, TwoLayer)
    assert len(calls) == 1
    assert loaded(torch.randn(7, 64)).shape == (7, 64)


def test_load_skips_exports_for_plan_capture(tmp_path, monkeypatch):
    _save_graph(tmp_path)
    metadata, tensors = _metadata(tmp_path)
    save_file(
        tensors,
        str(tmp_path / "weights.safetensors"),
        metadata={**metadata, "runtime_export": "plan_capture"},
    )
    calls = _count_exports(monkeypatch)
    quantplan.load(tmp_path, TwoLayer)
    assert calls == []


def test_load_falls_back_when_variant_unknown(tmp_path, monkeypatch):
    _save_graph(tmp_path)
    metadata, tensors = _metadata(tmp_path)
    save_file(
        tensors,
        str(tmp_path / "weights.safetensors"),
        metadata={**metadata, "runtime_export": "no_such_variant"},
    )
    loaded = quantplan.load(tmp_path, TwoLayer)
    assert loaded(torch.randn(3, 64)).shape == (3, 64)
