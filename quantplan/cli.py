"""The `quantplan` command: a thin dispatcher over one module per subcommand.

Each module in `quantplan.commands` exposes `add_parser(subparsers)` and `run(args) -> int`.
Exit codes: 0 success, 1 invalid input or a plan that does not match its model, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from quantplan.commands._errors import CommandError, format_error
from quantplan.errors import ConfigError, PlanError, UnsupportedError

__all__ = ["main"]

COMMANDS = ("validate", "schema", "inspect", "compile", "explain", "diff", "apply", "demo")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="quantplan",
        description="Declarative quantization compiler for PyTorch: config -> reviewable plan -> model.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"quantplan.commands.{name}")
        module.add_parser(subparsers)
    parser.set_defaults(subcommand_parsers=subparsers.choices)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv`; an unknown option is reported with its subcommand's usage (exit 2)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        subcommand = args.subcommand_parsers.get(args.command, parser)
        subcommand.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user mistakes never show a traceback."""
    parser = build_parser()
    args = _parse(parser, argv)
    try:
        return int(args.handler(args))
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except (ConfigError, PlanError) as error:
        print(f"error: {format_error(error)}", file=sys.stderr)
        return 1
    except UnsupportedError as error:
        print(f"error: unsupported: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
