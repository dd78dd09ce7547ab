"""Command-line errors that are not about a config or a plan: bad references and output paths."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from quantplan.errors import ConfigError, PlanError

__all__ = ["CommandError", "check_output_file", "format_error", "non_empty_path"]


class CommandError(Exception):
    """An error that the CLI prints as one `error:` line before exiting with `exit_code`.

    The exit code is 1 for invalid input and 2 for a usage error.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def non_empty_path(value: str) -> str:
    """Return `value`; as an argparse `type`, it makes an empty path a usage error (exit 2)."""
    if not value:
        raise argparse.ArgumentTypeError("the path is empty; give a file or folder path")
    return value


def check_output_file(path: str, option: str = "-o") -> None:
    """Raise CommandError unless `path` can be written as a file.

    The path must not be a directory, and its parent folder must exist and be writable.
    """
    target = Path(path)
    if target.is_dir():
        raise CommandError(
            f"{option} {path!r} is a directory; give a file path, "
            f"such as {str(target / 'plan.json')!r}."
        )
    parent = target.parent
    if not parent.is_dir():
        raise CommandError(
            f"{option} {path!r}: folder {str(parent)!r} does not exist; "
            "create it or choose another path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(
            f"{option} {path!r}: folder {str(parent)!r} is not writable; choose another path."
        )


def format_error(error: ConfigError | PlanError) -> str:
    """Format an error; one problem with no path or source position prints its message alone."""
    details = error.errors
    if len(details) == 1 and not details[0].path and details[0].position is None:
        return details[0].format().removeprefix("<root>: ")
    return str(error)
