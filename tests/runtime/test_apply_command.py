"""`quantplan apply PLAN --model M [--calibrate M2] -o DIR` writes a frozen plan."""

from __future__ import annotations

import torch
from safetensors import safe_open

import fixtures.models as models
from quantplan.cli import main
from quantplan.compiler import compile_plan
from quantplan.plan.model import Plan
from quantplan.quantization.config import QuantizerConfig

CALIBRATION = """
import torch


def batches():
    return [(torch.randn(4, 16),) for _ in range(3)]
"""


def _write_plan(path, factory=models.make_mlp):
    model, example_inputs = factory()
    plan = compile_plan(model.eval(), example_inputs, QuantizerConfig())
    plan.save(path)
    return plan


def test_apply_writes_frozen_plan(tmp_path, capsys):
    plan = _write_plan(tmp_path / "plan.json")

    code = main(
        [
            "apply",
            str(tmp_path / "plan.json"),
            "--model",
            "fixtures.models:make_mlp",
            "-o",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    with safe_open(str(tmp_path / "out" / "qparams.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()

    assert code == 0
    assert Plan.load(tmp_path / "out" / "plan.json") == plan
    assert metadata["plan_sha256"] == plan.sha256()
    assert "(1 calibration batches)" in capsys.readouterr().out


def test_apply_with_calibration_callable(tmp_path, monkeypatch, capsys):
    _write_plan(tmp_path / "plan.json")
    (tmp_path / "calibration_data.py").write_text(CALIBRATION)
    monkeypatch.chdir(tmp_path)

    code = main(
        [
            "apply",
            "plan.json",
            "--model",
            "fixtures.models:make_mlp",
            "--calibrate",
            "calibration_data:batches",
            "-o",
            "out",
            "--no-progress",
        ]
    )

    assert code == 0
    assert "(3 calibration batches)" in capsys.readouterr().out


def test_apply_mismatch_exits_one(tmp_path, capsys):
    _write_plan(tmp_path / "plan.json")

    code = main(
        [
            "apply",
            str(tmp_path / "plan.json"),
            "--model",
            "fixtures.models:make_tiny_net",
            "-o",
            str(tmp_path / "out"),
        ]
    )

    assert code == 1
    assert "the model does not match the plan" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_apply_invalid_reference_exits_two(tmp_path, capsys):
    _write_plan(tmp_path / "plan.json")

    code = main(
        [
            "apply",
            str(tmp_path / "plan.json"),
            "--model",
            "not a reference",
            "-o",
            str(tmp_path / "out"),
        ]
    )

    assert code == 2
    assert (
        "--model 'not a reference' is invalid: expected package.module:callable"
        in capsys.readouterr().err
    )


def test_frozen_output_applies_without_data(tmp_path):
    import quantplan

    _write_plan(tmp_path / "plan.json")
    main(
        [
            "apply",
            str(tmp_path / "plan.json"),
            "--model",
            "fixtures.models:make_mlp",
            "-o",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    torch.manual_seed(0)
    model, example_inputs = models.make_mlp()

    rebuilt = quantplan.apply_plan(
        model.eval(), tmp_path / "out" / "plan.json", qparams=tmp_path / "out"
    )

    assert torch.isfinite(rebuilt(*example_inputs)).all()


BAD_CALIBRATION = """
import torch


def raising():
    raise RuntimeError("no data today")


def strings():
    return ["not a tensor"]


def nan_then_inf():
    batch = torch.randn(4, 16)
    batch[0, 0] = float("nan")
    batch[1, 1] = float("inf")
    return [(batch,)]
"""


def _apply_with(tmp_path, monkeypatch, calibrate, output="out"):
    _write_plan(tmp_path / "plan.json")
    (tmp_path / "bad_data.py").write_text(BAD_CALIBRATION)
    monkeypatch.chdir(tmp_path)
    arguments = [
        "apply",
        "plan.json",
        "--model",
        "fixtures.models:make_mlp",
        "-o",
        output,
        "--no-progress",
    ]
    if calibrate:
        arguments += ["--calibrate", calibrate]
    return main(arguments)


def test_apply_raising_calibration_one_error(tmp_path, monkeypatch, capsys):
    code = _apply_with(tmp_path, monkeypatch, "bad_data:raising")

    err = capsys.readouterr().err
    assert code == 1
    assert (
        err
        == "error: --calibrate: calling 'bad_data:raising' failed: RuntimeError: no data today.\n"
    )


def test_apply_non_tensor_batches_one_error(tmp_path, monkeypatch, capsys):
    code = _apply_with(tmp_path, monkeypatch, "bad_data:strings")

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: --calibrate: calibration with 'bad_data:strings' failed while ")
    assert err.count("\n") == 1


def test_apply_nonfinite_warning_printed_once(tmp_path, monkeypatch, capsys):
    code = _apply_with(tmp_path, monkeypatch, "bad_data:nan_then_inf")

    err = capsys.readouterr().err
    assert code == 0
    lines = err.splitlines()
    assert (
        lines.count(
            "warning: ops/linear/inputs/0: 1 NaN and 1 inf values in calibration data were ignored by the range"
        )
        == 1
    )
    assert all(line.startswith("warning: ") for line in lines)


def test_apply_output_existing_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "taken").write_text("")
    code = _apply_with(tmp_path, monkeypatch, None, output="taken")

    assert code == 1
    assert (
        capsys.readouterr().err
        == "error: -o: 'taken' is an existing file; name a folder for the frozen plan.\n"
    )


def test_apply_output_unwritable(tmp_path, monkeypatch, capsys):
    code = _apply_with(tmp_path, monkeypatch, None, output="/proc/nope/out")

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: -o: cannot create folder '/proc/nope/out': ")
    assert err.count("\n") == 1


TOKEN_BATCHES = """
import torch


def longer():
    return [(torch.randint(0, 100, (2, 9)),), (torch.randint(0, 100, (4, 5)),)]
"""


def test_apply_calibrates_other_sequence_length(tmp_path, monkeypatch, capsys):
    _write_plan(tmp_path / "plan.json", factory=models.make_tiny_net)
    (tmp_path / "token_data.py").write_text(TOKEN_BATCHES)
    monkeypatch.chdir(tmp_path)

    arguments = [
        "apply",
        "plan.json",
        "--model",
        "fixtures.models:make_tiny_net",
        "--calibrate",
        "token_data:longer",
    ]
    code = main([*arguments, "-o", "out", "--no-progress"])

    assert capsys.readouterr().err == ""
    assert code == 0
    assert (tmp_path / "out" / "qparams.safetensors").is_file()


def test_apply_bad_batch_error_is_one_short_line(tmp_path, monkeypatch, capsys):
    code = _apply_with(tmp_path, monkeypatch, "bad_data:strings")

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(
        "error: --calibrate: calibration with 'bad_data:strings' failed while running the model on batch 0 (counting from 0): AttributeError: "
    )
    assert "Declaration" not in err
    assert err.count("\n") == 1


def test_apply_empty_output_is_usage_error(tmp_path, monkeypatch, capsys):
    try:
        code = _apply_with(tmp_path, monkeypatch, None, output="")
    except SystemExit as exit:
        code = exit.code

    assert code == 2
    assert "argument -o/--output: the path is empty" in capsys.readouterr().err
    assert not (tmp_path / "qparams.safetensors").exists()


def test_compile_empty_output_is_usage_error(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("quantization_config: {}\n")
    try:
        code = main(
            [
                "compile",
                str(tmp_path / "config.yaml"),
                "--model",
                "fixtures.models:make_mlp",
                "-o",
                "",
            ]
        )
    except SystemExit as exit:
        code = exit.code

    assert code == 2
    assert "argument -o/--output: the path is empty" in capsys.readouterr().err
