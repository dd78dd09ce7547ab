"""`quantplan apply PLAN --model M --real -o DIR` writes a loadable artifact (real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open

import fixtures.models as models
import quantplan
from quantplan.compiler import compile_plan

from .helpers import int4_block, weight_only

ROOT = Path(__file__).resolve().parents[3]


def test_apply_real_writes_artifact(tmp_path):
    model, example_inputs = models.make_mlp()
    plan = compile_plan(model.eval(), example_inputs, weight_only(int4_block(16)))
    plan.save(tmp_path / "plan.json")
    command = [
        sys.executable,
        "-c",
        "import sys; from quantplan.cli import main; sys.exit(main(sys.argv[1:]))",
        "apply",
        str(tmp_path / "plan.json"),
        "--model",
        "fixtures.models:make_mlp",
        "--real",
        "-o",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "plan.json",
        "qparams.safetensors",
        "weights.safetensors",
    ]
    loaded = quantplan.load(tmp_path / "out", models.make_mlp)
    with safe_open(str(tmp_path / "out" / "weights.safetensors"), framework="pt") as handle:
        assert handle.metadata()["plan_sha256"] == plan.sha256()
        packed = handle.get_tensor("mlp.0.weight")
    assert packed.dtype == torch.uint8
    assert torch.equal(loaded.get_submodule("mlp.0").weight, packed)
    with torch.no_grad():
        assert torch.isfinite(loaded(example_inputs[0])).all()
