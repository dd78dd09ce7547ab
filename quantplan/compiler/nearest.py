"""Nearest-candidate suggestions for names and keys that match nothing."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["nearest"]


def nearest(key: str, candidates: Iterable[str], count: int = 3) -> list[str]:
    """Return the candidates closest to `key`: those that contain it first, then similar spellings."""
    candidates = list(dict.fromkeys(candidates))
    try:
        pattern = re.compile(key)
        found = [name for name in candidates if pattern.search(name)]
    except re.error:
        found = [name for name in candidates if key in name]
    found.sort(key=lambda name: (not name.endswith(key), len(name)))
    for name in difflib.get_close_matches(key, candidates, n=count, cutoff=0.5):
        if name not in found:
            found.append(name)
    return found[:count]
