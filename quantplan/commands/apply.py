"""`quantplan apply PLAN --model M [--calibrate M2] [--real] -o DIR`: apply a plan and write a frozen plan.

Writes DIR/plan.json and DIR/qparams.safetensors, and with `--real` also
DIR/weights.safetensors (packed weights, see `quantplan.runtime.artifact`). Without `--calibrate`, activation qparams
come from one pass over the model's example inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from quantplan.commands._errors import non_empty_path
from quantplan.commands._model_ref import MODEL_REFERENCE_HELP, is_model_reference
from quantplan.errors import ConfigError, ErrorDetail, PlanError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `apply` subcommand."""
    parser = subparsers.add_parser(
        "apply",
        help="apply a plan to a model, calibrate it and write the frozen plan",
        description=(
            "Apply PLAN to the model with fake quantization, observe calibration batches and "
            "write DIR/plan.json and DIR/qparams.safetensors. Exit code 0: success, 1: invalid "
            "plan or a model that does not match it, 2: usage error."
        ),
    )
    parser.add_argument(
        "plan", metavar="PLAN", help="plan JSON file written by `quantplan compile`"
    )
    parser.add_argument("--model", required=True, metavar="M", help=MODEL_REFERENCE_HELP)
    parser.add_argument(
        "--calibrate",
        metavar="MODULE:CALLABLE",
        help=(
            "calibration data as package.module:callable; the callable takes no arguments and "
            "returns an iterable of batches (a tuple of positional arguments, a dict of keyword "
            "arguments, or one tensor). Default: the model's example inputs, once."
        ),
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        type=non_empty_path,
        help="output folder (created if missing)",
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="also pack the weights for real kernels and write DIR/weights.safetensors (a deployable artifact)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the calibration progress bar"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load plan and model, apply, calibrate, and write the frozen plan."""
    for option, value in (("--model", args.model), ("--calibrate", args.calibrate)):
        if value is not None and not is_model_reference(value):
            print(
                f"error: {option} {value!r} is invalid: expected package.module:callable",
                file=sys.stderr,
            )
            return 2
    from quantplan.commands._model_ref import load_model_reference
    from quantplan.plan.model import Plan
    from quantplan.runtime.apply import apply_plan
    from quantplan.runtime.frozen import PLAN_FILE, collect_qparams, save_qparams

    plan = Plan.load(args.plan)
    model, example_inputs = load_model_reference(args.model)
    prepared = apply_plan(model, plan, example_inputs=example_inputs)
    output = _output_folder(args.output)
    batches = _load_batches(args.calibrate) if args.calibrate else [example_inputs]
    with _observer_warnings_silenced():
        report = _calibrate(prepared, batches, args)
    qparams = collect_qparams(prepared)
    save_qparams(output, plan, qparams)
    plan.save(output / PLAN_FILE)
    if args.real:
        _write_real(prepared, plan, qparams, output)
    for line in report.diagnostics:
        print(f"warning: {line}", file=sys.stderr)
    print(
        f"wrote {output / PLAN_FILE} and {output / 'qparams.safetensors'} ({report.batches} calibration batches)"
    )
    return 0


def _write_real(prepared: Any, plan: Any, qparams: dict, output: Path) -> None:
    from quantplan.runtime.artifact import save
    from quantplan.runtime.fake.control import freeze_activations
    from quantplan.runtime.real import convert

    freeze_activations(prepared)
    save(convert(prepared, plan, qparams), plan, output)
    print(f"wrote {output / 'weights.safetensors'} (packed weights)")


def _output_folder(value: str) -> Path:
    output = Path(value)
    if output.exists() and not output.is_dir():
        raise PlanError(
            ErrorDetail(
                path="-o",
                message=f"{value!r} is an existing file; name a folder for the frozen plan.",
            )
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PlanError(
            ErrorDetail(
                path="-o",
                message=f"cannot create folder {value!r}: {error.strerror}; name a writable folder.",
            )
        ) from None
    return output


@contextlib.contextmanager
def _observer_warnings_silenced():
    # The calibration report prints each tensor's NaN and inf counts once as a `warning:` line,
    # so the observers' own log records would repeat them.
    observer_logger = logging.getLogger("quantplan.runtime.numerics.observers")
    previous = observer_logger.disabled
    observer_logger.disabled = True
    try:
        yield
    finally:
        observer_logger.disabled = previous


class _BatchCounter:
    """Iterate over batches and record the index of the batch being produced or run."""

    def __init__(self, batches: Any) -> None:
        self.batches = batches
        self.index = 0
        self.producing = False

    def __iter__(self):
        iterator = iter(self.batches)
        while True:
            self.producing = True
            try:
                batch = next(iterator)
            except StopIteration:
                return
            self.producing = False
            yield batch
            self.index += 1


def _calibrate(prepared: Any, batches: Any, args: argparse.Namespace) -> Any:
    from quantplan.runtime.calibrate import calibrate

    if not args.calibrate:
        return calibrate(prepared, batches, progress=not args.no_progress)
    counter = _BatchCounter(batches)
    try:
        return calibrate(prepared, counter, progress=not args.no_progress)
    except (PlanError, ConfigError):
        raise
    except Exception as error:  # user code may raise anything; report it as one error line
        # Only the first line: torch errors append the whole aten declaration list.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        step = "producing" if counter.producing else "running the model on"
        raise PlanError(
            ErrorDetail(
                path="--calibrate",
                message=(
                    f"calibration with {args.calibrate!r} failed while {step} batch {counter.index} (counting from 0): "
                    f"{type(error).__name__}: {first_line}. "
                    "The callable must return an iterable of batches: tuples of tensors, dicts of tensors, or tensors."
                ),
            )
        ) from None


def _load_batches(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise PlanError(
            ErrorDetail(
                path="--calibrate", message=f"cannot import module {module_name!r}: {error}"
            )
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise PlanError(
                ErrorDetail(
                    path="--calibrate",
                    message=f"module {module_name!r} has no attribute {attribute!r}.",
                )
            )
        target = getattr(target, part)
    if not callable(target):
        raise PlanError(ErrorDetail(path="--calibrate", message=f"{reference!r} is not callable."))
    try:
        return target()
    except Exception as error:  # user code may raise anything; report it as one error line
        raise PlanError(
            ErrorDetail(
                path="--calibrate",
                message=f"calling {reference!r} failed: {type(error).__name__}: {error}.",
            )
        ) from None
