"""Field names of the config classes and the error for a key that is not one of them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import attrs

from quantplan.errors import ConfigError, ErrorDetail

__all__ = ["closest", "reject_unknown_keywords", "unknown_key_detail", "user_fields"]


def user_fields(cls: type) -> tuple[str, ...]:
    """Return the names a user may write for an attrs class (its public init fields)."""
    return tuple(
        field.name for field in attrs.fields(cls) if field.init and not field.name.startswith("_")
    )


def closest(word: object, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the candidate nearest to `word` by difflib ratio, or None when none is close."""
    matches = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def unknown_key_detail(key: object, allowed: Iterable[str], where: str, path: str) -> ErrorDetail:
    """Describe `key`, which is not a field of `where`, with the valid keys and the closest."""
    allowed = tuple(allowed)
    return ErrorDetail(
        path=path,
        message=f"unknown key {key!r} in {where}; valid keys: {', '.join(allowed)}.",
        value=key,
        expected=allowed,
        suggestion=closest(key, allowed),
    )


def reject_unknown_keywords(cls: type, unknown: dict, where: str | None = None) -> None:
    """Raise ConfigError for keyword arguments that are not fields of `cls`."""
    if not unknown:
        return
    allowed = user_fields(cls)
    where = where or cls.__name__
    raise ConfigError([unknown_key_detail(key, allowed, where, str(key)) for key in unknown])
