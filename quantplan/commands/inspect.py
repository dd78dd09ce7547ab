"""`quantplan inspect --model M`: module names and types, op names and types."""

from __future__ import annotations

import argparse

from quantplan.commands._model_ref import MODEL_REFERENCE_HELP

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `inspect` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help="list a model's module names and types and its op names and types",
        description=(
            "Capture a model and print the module and op names and types that config keys "
            "match. Exit code 0: success, 1: the model cannot be loaded or captured, "
            "2: usage error."
        ),
    )
    parser.add_argument("--model", required=True, metavar="M", help=MODEL_REFERENCE_HELP)
    parser.add_argument(
        "--mode",
        choices=("graph", "eager"),
        default="graph",
        help="capture mode: graph (torch.export) or eager (default: graph)",
    )
    parser.add_argument(
        "--config", metavar="CONFIG", help="YAML config; adds the resolved spec per op"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, capture it and print its summary."""
    from quantplan.commands._model_ref import load_model_reference
    from quantplan.inspection import ModelInspector

    model, example_inputs = load_model_reference(args.model)
    config = _load_config(args.config) if args.config else None
    inspector = ModelInspector(model, example_inputs, execution_mode=args.mode, config=config)
    print(inspector.format_summary())
    return 0


def _load_config(path: str):
    from quantplan.quantization.config import QuantizerConfig

    return QuantizerConfig.from_yaml(path)
