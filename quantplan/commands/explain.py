"""`quantplan explain PLAN NAME`: which rule decided an op or parameter, and what it shadowed.

Exit code 0 on success, 1 when the plan cannot be read or has no such op or parameter.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `explain` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help="show which config rule decided an op or parameter, and which rules it shadowed",
        description=(
            "Print the deciding rule and the shadowed rules for an op name or a parameter path "
            "of a plan. Exit code 0: success, 1: unreadable plan or unknown name, 2: usage error."
        ),
    )
    parser.add_argument("plan", metavar="PLAN", help="plan JSON file")
    parser.add_argument(
        "name",
        metavar="NAME",
        help="op name (such as linear_1) or parameter path (such as fc2.weight)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the plan and print the explanation."""
    from quantplan.compiler.explain import explain
    from quantplan.plan.model import Plan

    print(explain(Plan.load(args.plan), args.name))
    return 0
