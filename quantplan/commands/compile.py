"""`quantplan compile CONFIG --model M -o plan.json`: write the plan, print summary and diagnostics.

Exit code 0 on success, 1 for an invalid config, a model that cannot be loaded or captured,
or a compile error (such as a `--strict` finding), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys

from quantplan.commands._errors import non_empty_path
from quantplan.commands._model_ref import MODEL_REFERENCE_HELP

__all__ = ["add_parser", "format_report", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `compile` subcommand."""
    parser = subparsers.add_parser(
        "compile",
        help="resolve a config against a model and write the quantization plan",
        description=(
            "Capture the model, resolve CONFIG against it and write the plan JSON. Prints the "
            "summary and the diagnostics. Exit code 0: success, 1: invalid config or compile "
            "error, 2: usage error."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="YAML config file")
    parser.add_argument("--model", required=True, metavar="M", help=MODEL_REFERENCE_HELP)
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PLAN",
        type=non_empty_path,
        help="path of the plan JSON to write",
    )
    parser.add_argument(
        "--mode",
        choices=("graph", "eager"),
        default=None,
        help="capture mode: graph (torch.export) or eager (default: the config's execution_mode)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on unmatched rules, skipped tensors and a plan that quantizes nothing",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Compile and write the plan; errors propagate to the CLI, which prints them and exits 1."""
    from quantplan.commands._errors import check_output_file
    from quantplan.commands._model_ref import check_reference, load_model_reference
    from quantplan.compiler.compile import compile_plan
    from quantplan.quantization.config import QuantizerConfig

    check_reference(args.model)
    check_output_file(args.output)
    config = QuantizerConfig.from_yaml(args.config)
    model, example_inputs = load_model_reference(args.model)
    plan = compile_plan(model, example_inputs, config, execution_mode=args.mode, strict=args.strict)
    plan.save(args.output)
    print(format_report(plan))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def format_report(plan) -> str:
    """Format the plan's summary and diagnostics for the terminal."""
    summary = plan.summary
    quantized = sum(count for label, count in summary.tensors.items() if label != "float")
    lines = [
        f"{len(plan.ops)} ops, {quantized} of {sum(summary.tensors.values())} candidate weights quantized "
        f"({', '.join(f'{label}: {count}' for label, count in summary.tensors.items()) or 'none'})",
        f"weight bytes {summary.weight_bytes_before:,} -> {summary.weight_bytes_after:,}; "
        f"bits per weight {summary.bits_per_weight_candidates} (quantized only: {summary.bits_per_weight_quantized})",
    ]
    if plan.skipped:
        lines.append(f"{len(plan.skipped)} tensors skipped (kept in float)")
    for diagnostic in plan.diagnostics:
        lines.append(f"{diagnostic.severity}: [{diagnostic.code}] {diagnostic.message}")
    return "\n".join(lines)
