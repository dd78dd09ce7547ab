"""`quantplan schema config|plan`: print a JSON Schema (draft-07).

Keys are strings, as in JSON: an integer key such as `0` validates as `"0"`.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `schema` subcommand."""
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of configs or plans",
        description="Print the draft-07 JSON Schema of a config file or of a plan file.",
    )
    parser.add_argument("kind", choices=("config", "plan"), help="which schema to print")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the requested schema as indented JSON and return 0."""
    if args.kind == "config":
        from quantplan.schema.config_schema import render_config_schema

        print(render_config_schema(), end="")
        return 0
    from quantplan.schema.plan_schema import plan_schema

    print(json.dumps(plan_schema(), indent=2, sort_keys=True))
    return 0
