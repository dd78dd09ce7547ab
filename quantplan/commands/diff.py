"""`quantplan diff OLD NEW`: show how a plan changed, grouped by kind with counts.

Exit codes: 0 when the plans are the same (metadata changes are printed as notes), 1 when they
differ, 2 when a plan file cannot be read or is not a valid plan.
"""

from __future__ import annotations

import argparse
import sys

from quantplan.errors import PlanError

__all__ = ["add_parser", "run"]

FORMATS = ("text", "markdown", "json")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `diff` subcommand."""
    parser = subparsers.add_parser(
        "diff",
        help="compare two plans",
        description="Compare two plan files. Exit code 0: same, 1: different, 2: error.",
    )
    parser.add_argument("old", metavar="OLD", help="the plan before the change (JSON file)")
    parser.add_argument("new", metavar="NEW", help="the plan after the change (JSON file)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="output format: text (terminal), markdown (pull-request comment) or json (default: text)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the diff of two plan files and return 0 (same), 1 (different) or 2 (error)."""
    from quantplan.commands._errors import format_error
    from quantplan.plan.diff import diff
    from quantplan.plan.model import Plan

    try:
        old = Plan.load(args.old)
        new = Plan.load(args.new)
    except PlanError as error:
        print(f"error: {format_error(error)}", file=sys.stderr)
        return 2
    result = diff(old, new)
    render = {"text": result.to_text, "markdown": result.to_markdown, "json": result.to_json}[
        args.format
    ]
    sys.stdout.write(render())
    return 1 if result.changed else 0
