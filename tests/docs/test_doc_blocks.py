"""Every runnable code block of the README and docs runs, in order, per file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .markdown_blocks import REPOSITORY, documents, parse_blocks

DOCUMENTS = documents()
VENV_BIN = Path(sys.executable).parent


def _run_shell(block, workdir: Path) -> None:
    environment = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{workdir}{os.pathsep}{REPOSITORY}",
        "QUANTPLAN_REPO": str(REPOSITORY),
        "HF_HUB_OFFLINE": "1",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{block.label} failed:\n{result.stdout}\n{result.stderr}"


def _forget_modules_under(folder: Path) -> None:
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if origin.startswith(str(folder)):
            del sys.modules[name]


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPOSITORY)))
def test_document_blocks_run(document: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict = {"__name__": "__docs__"}
    try:
        for block in parse_blocks(document):
            if block.file is not None:
                (tmp_path / block.file).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / block.file).write_text(block.text, encoding="utf-8")
            elif block.runs and block.is_shell:
                _run_shell(block, tmp_path)
            elif block.runs:
                code = compile(block.text, block.label, "exec")
                exec(code, namespace)
    finally:
        _forget_modules_under(tmp_path)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPOSITORY)))
def test_shell_blocks_are_marked(document: Path) -> None:
    unmarked = [
        block.label
        for block in parse_blocks(document)
        if block.is_shell and block.file is None and not block.markers & {"runnable", "exempt"}
    ]
    assert unmarked == [], "mark each shell block `runnable` or `exempt`"
