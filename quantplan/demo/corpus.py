"""English sentences from the docstrings of the Python standard library.

The text is read with `ast` from the standard library's source files, so no module is imported
(several have import side effects). The selection is deterministic for a given Python version:
files in sorted order, sentences in source order, then an order fixed by a hash of each sentence.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import attrs

__all__ = ["TextSplit", "docstring_sentences", "split_texts"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_MIN_CHARS = 40
_MAX_CHARS = 240


@attrs.frozen
class TextSplit:
    """Disjoint calibration and held-out evaluation sentences."""

    calibration: tuple[str, ...]
    evaluation: tuple[str, ...]


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=True)
            if text:
                yield text


def _sentences(docstring: str) -> Iterator[str]:
    # Paragraphs separate prose from code samples and option tables; each is flattened first.
    for paragraph in docstring.split("\n\n"):
        if ">>>" in paragraph or paragraph.lstrip().startswith(("-", "*", ":")):
            continue
        flat = " ".join(paragraph.split())
        for sentence in _SENTENCE_END.split(flat):
            if _is_prose(sentence):
                yield sentence


def _is_prose(sentence: str) -> bool:
    if not _MIN_CHARS <= len(sentence) <= _MAX_CHARS:
        return False
    if not sentence[0].isupper() or not sentence.endswith("."):
        return False
    letters = sum(character.isalpha() or character == " " for character in sentence)
    return letters >= 0.85 * len(sentence)


def docstring_sentences(limit: int) -> list[str]:
    """Return up to `limit` distinct prose sentences from the standard library's docstrings."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    seen: dict[str, None] = {}
    for path in sorted(stdlib.glob("*.py")):
        for docstring in _docstrings(path):
            for sentence in _sentences(docstring):
                seen.setdefault(sentence, None)
        if len(seen) >= 4 * limit:
            break
    ordered = sorted(seen, key=lambda text: hashlib.sha256(text.encode()).hexdigest())
    return ordered[:limit]


def split_texts(calibration_size: int, evaluation_size: int) -> TextSplit:
    """Select disjoint calibration and evaluation sentences, deterministically."""
    sentences = docstring_sentences(calibration_size + evaluation_size)
    if len(sentences) < calibration_size + evaluation_size:
        raise ValueError(
            f"the standard library yielded {len(sentences)} sentences, fewer than the "
            f"{calibration_size + evaluation_size} requested; request fewer texts"
        )
    return TextSplit(
        calibration=tuple(sentences[:calibration_size]),
        evaluation=tuple(sentences[calibration_size:]),
    )
