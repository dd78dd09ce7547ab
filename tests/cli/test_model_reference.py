"""`--model package.module:callable`: one behaviour and one message in every command."""

from __future__ import annotations

import sys
import textwrap

import pytest

from quantplan.cli import main

FACTORIES = """
import sys
import torch

def tiny():
    return torch.nn.Linear(4, 4), (torch.randn(2, 4),)

def raises():
    raise RuntimeError("factory exploded")

def exits():
    sys.exit()

def not_a_pair():
    return torch.nn.Linear(4, 4)

def needs_argument(size):
    return torch.nn.Linear(size, size), (torch.randn(2, size),)

NOT_CALLABLE = 3
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding `factories_<n>.py` plus modules that fail on import."""
    name = f"factories_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORIES))
    (tmp_path / f"{name}_value.py").write_text('raise ValueError("broken on import")\n')
    (tmp_path / f"{name}_exit.py").write_text("raise SystemExit(5)\n")
    (tmp_path / "w8a8.yaml").write_text("quantization_config: {global_config: {}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    for module in [key for key in sys.modules if key.startswith(name)]:
        del sys.modules[module]


def _commands(reference: str) -> list[list[str]]:
    return [
        ["compile", "w8a8.yaml", "--model", reference, "-o", "plan.json"],
        ["inspect", "--model", reference],
    ]


def _run_all(reference: str, capsys) -> list[tuple[int, str]]:
    results = []
    for argv in _commands(reference):
        code = main(argv)
        captured = capsys.readouterr()
        results.append((code, captured.err))
    return results


@pytest.mark.parametrize("reference", ["nope", "a:", ":b", "a:b:c"])
def test_malformed_reference_exit_2(reference, capsys):
    expected = f"error: --model {reference!r} is invalid: expected package.module:callable\n"
    assert _run_all(reference, capsys) == [(2, expected), (2, expected)]


def test_factory_raises(workdir, capsys):
    reference = f"{workdir}:raises"
    expected = (
        f"error: --model {reference!r}: calling {reference} failed: "
        "RuntimeError: factory exploded\n"
    )
    assert _run_all(reference, capsys) == [(1, expected), (1, expected)]


def test_factory_calls_sys_exit(workdir, capsys):
    reference = f"{workdir}:exits"
    expected = (
        f"error: --model {reference!r}: calling {reference} failed: "
        "it raised SystemExit(None), as sys.exit() does\n"
    )
    assert _run_all(reference, capsys) == [(1, expected), (1, expected)]


def test_import_raises_value_error(workdir, capsys):
    reference = f"{workdir}_value:make"
    expected = (
        f"error: --model {reference!r}: importing module '{workdir}_value' failed: "
        "ValueError: broken on import\n"
    )
    assert _run_all(reference, capsys)[0] == (1, expected)


def test_import_raises_system_exit(workdir, capsys):
    reference = f"{workdir}_exit:make"
    expected = (
        f"error: --model {reference!r}: importing module '{workdir}_exit' failed: "
        "it raised SystemExit(5), as sys.exit() does\n"
    )
    assert _run_all(reference, capsys)[0] == (1, expected)


def test_factory_needing_arguments(workdir, capsys):
    reference = f"{workdir}:needs_argument"
    expected = (
        f"error: --model {reference!r}: 'needs_argument' requires arguments (size); "
        "it must take no arguments and return (model, example_inputs)\n"
    )
    assert _run_all(reference, capsys) == [(1, expected), (1, expected)]


def test_builtin_needing_arguments(capsys):
    code = main(["inspect", "--model", "os:system"])
    assert code == 1
    assert "must take no arguments and return (model, example_inputs)" in capsys.readouterr().err


def test_not_callable(workdir, capsys):
    reference = f"{workdir}:NOT_CALLABLE"
    expected = (
        f"error: --model {reference!r}: 'NOT_CALLABLE' is not callable; "
        "it must be a function that returns (model, example_inputs)\n"
    )
    assert _run_all(reference, capsys) == [(1, expected), (1, expected)]


def test_wrong_return_value(workdir, capsys):
    reference = f"{workdir}:not_a_pair"
    expected = (
        f"error: --model {reference!r}: the callable must return (model, example_inputs) "
        "with an nn.Module first, got Linear\n"
    )
    assert _run_all(reference, capsys) == [(1, expected), (1, expected)]


def test_compile_output_is_directory(workdir, tmp_path, capsys):
    code = main(["compile", "w8a8.yaml", "--model", f"{workdir}:tiny", "-o", str(tmp_path)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: -o {str(tmp_path)!r} is a directory; give a file path, "
        f"such as {str(tmp_path / 'plan.json')!r}.\n"
    )


def test_compile_output_missing_folder(workdir, tmp_path, capsys):
    target = tmp_path / "missing" / "plan.json"
    code = main(["compile", "w8a8.yaml", "--model", f"{workdir}:tiny", "-o", str(target)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: -o {str(target)!r}: folder {str(target.parent)!r} does not exist; "
        "create it or choose another path.\n"
    )


def test_compile_writes_plan(workdir, tmp_path, capsys):
    code = main(["compile", "w8a8.yaml", "--model", f"{workdir}:tiny", "-o", "plan.json"])
    assert code == 0
    assert (tmp_path / "plan.json").is_file()


def test_unknown_flag_prints_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["schema", "plan", "--x"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: quantplan schema ")
    assert err.endswith("quantplan schema: error: unrecognized arguments: --x\n")
