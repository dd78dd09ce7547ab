"""Fenced code blocks of the README and docs, and the markers that decide which ones run.

Fence info strings:
- ```python runs, in order, in one namespace per Markdown file; ```python exempt does not run.
- ```sh runnable (or bash/console) runs with bash; every shell block must say `runnable` or
  `exempt`, so that a command is never skipped by accident.
- ```LANG file=NAME is written to NAME in the working folder before the following blocks run
  (a YAML config or a model module that a later block loads). It is not executed.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

REPOSITORY = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = ("sh", "bash", "console", "shell")
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")


@attrs.frozen
class Block:
    """One fenced block: its language, markers, optional target file, text and start line."""

    path: Path
    line: int
    language: str
    markers: frozenset[str]
    file: str | None
    text: str

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    @property
    def runs(self) -> bool:
        if self.file is not None or "exempt" in self.markers:
            return False
        if self.language == "python":
            return True
        return self.is_shell and "runnable" in self.markers

    @property
    def label(self) -> str:
        return f"{self.path.relative_to(REPOSITORY)}:{self.line}"


def _parse_info(info: str) -> tuple[str, frozenset[str], str | None]:
    words = info.split()
    language = words[0] if words else ""
    markers = {word for word in words[1:] if "=" not in word}
    files = [word.split("=", 1)[1] for word in words[1:] if word.startswith("file=")]
    return language, frozenset(markers), files[0] if files else None


def parse_blocks(path: Path) -> list[Block]:
    """Return every fenced block of the Markdown file `path`, in order."""
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        language, markers, file = _parse_info(match["info"])
        body, index = [], index + 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:])
            index += 1
        start_line = index - len(body)
        blocks.append(Block(path, start_line, language, markers, file, "\n".join(body) + "\n"))
        index += 1
    return blocks


# Pages whose blocks another test runs: the config API page needs its documented imports as a
# preamble, and tests/loading runs every example there with it.
RUN_ELSEWHERE = (REPOSITORY / "docs" / "reference" / "config-api.md",)


def documents() -> list[Path]:
    """Return README.md and every Markdown file under docs/, sorted, minus RUN_ELSEWHERE."""
    pages = sorted((REPOSITORY / "docs").rglob("*.md"))
    return [REPOSITORY / "README.md", *(page for page in pages if page not in RUN_ELSEWHERE)]
