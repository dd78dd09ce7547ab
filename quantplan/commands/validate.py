"""`quantplan validate FILE...`: schema and semantic checks of config files.

Prints `file:line:col: path: message` for every problem in every file (a file that cannot be
read is one problem, `file:1:1: <root>: cannot read ...`). Exit code 0 when every file is
valid, 1 when any file is invalid or unreadable, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `validate` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check config files against the schema and the semantic rules",
        description=(
            "Check quantization config files and print every problem as "
            "file:line:col: path: message. Exit code 0: all valid, 1: a file is invalid "
            "or cannot be read, 2: usage error."
        ),
    )
    parser.add_argument("files", metavar="FILE", nargs="+", help="YAML config files to check")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate each file, print its problems and return 0 (all valid) or 1."""
    from quantplan.schema.validate import validate_config_file

    invalid = 0
    for file in args.files:
        problems = validate_config_file(file)
        for detail in problems:
            print(detail.format())
        if problems:
            invalid += 1
        else:
            print(f"{file}: valid")
    if invalid:
        print(f"{invalid} of {len(args.files)} files invalid", file=sys.stderr)
        return 1
    return 0
