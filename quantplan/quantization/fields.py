"""Field names of the config classes and the error for a key that is not one of them."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

import attrs

from quantplan.errors import ConfigError, ErrorDetail

__all__ = [
    "MAX_EXCERPT",
    "closest",
    "excerpt",
    "reject_unknown_keywords",
    "unknown_key_detail",
    "user_fields",
]


# Longest repr of a user value shown in an error message, so a huge value stays readable.
MAX_EXCERPT = 80


def excerpt(value: object) -> str:
    """Return `repr(value)`, cut to MAX_EXCERPT characters with "..." when longer."""
    text = _SHORT_REPR.repr(value)
    if len(text) <= MAX_EXCERPT:
        return text
    return text[: MAX_EXCERPT - 3] + "..."


def _short_repr() -> reprlib.Repr:
    # reprlib stops early inside large or deeply nested containers, so the cost stays bounded.
    short = reprlib.Repr()
    short.maxlevel = 4
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 12
    short.maxstring = short.maxother = MAX_EXCERPT
    return short


_SHORT_REPR = _short_repr()


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
        message=f"unknown key {excerpt(key)} in {where}; valid keys: {', '.join(allowed)}.",
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
