"""The demo job: compile, review, calibrate, apply with real kernels, save, reload and measure.

Every step goes through quantplan's public API, in the order a user runs it:
`compile_plan` -> `Plan.save` -> `diff` -> `apply_plan(mode="fake")` + `calibrate` ->
`collect_qparams` -> `apply_plan(mode="real")` -> `save` -> `load`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import attrs
import torch

from quantplan.demo import corpus, metrics
from quantplan.demo import model as minilm
from quantplan.demo.report import PlanResult, Reference, failed_goals, markdown_table, results_json
from quantplan.plan.io import atomic_write_text

__all__ = ["CONFIG_NAMES", "SIZES", "DemoSize", "config_path", "run_demo"]

CONFIG_NAMES = ("w8a8", "int4", "mxfp4")
# The two plans whose review diff the demo prints.
DIFF_PAIR = ("w8a8", "int4")
# Table rows of that diff printed to the terminal; the file has all of them.
DIFF_ROWS_SHOWN = 12


@attrs.frozen
class DemoSize:
    """How many texts the demo calibrates and evaluates on, and how it batches and times them."""

    calibration_texts: int
    evaluation_texts: int
    batch_size: int
    timing_batches: int
    timing_repeats: int


SIZES = {
    "small": DemoSize(
        calibration_texts=16, evaluation_texts=32, batch_size=8, timing_batches=1, timing_repeats=1
    ),
    "full": DemoSize(
        calibration_texts=64,
        evaluation_texts=192,
        batch_size=16,
        timing_batches=2,
        timing_repeats=2,
    ),
}

Batch = tuple[torch.Tensor, torch.Tensor]
Printer = Callable[[str], None]


def config_path(name: str) -> Path:
    """Return the path of the shipped config `name` (`w8a8`, `int4` or `mxfp4`)."""
    return Path(str(resources.files("quantplan.demo") / "configs" / f"{name}.yaml"))


def _batches(tokenizer, texts: Sequence[str], batch_size: int) -> list[Batch]:
    # Pad the last batch with empty texts: a graph-mode plan is captured at one static shape.
    padded = list(texts) + [""] * (-len(texts) % batch_size)
    chunks = [padded[start : start + batch_size] for start in range(0, len(padded), batch_size)]
    return [minilm.tokenize(tokenizer, chunk) for chunk in chunks]


def _state_bytes(model: torch.nn.Module) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())


def _predicted_bytes(plan, model: torch.nn.Module) -> int:
    """Return the plan's predicted artifact weight bytes: its candidate weights after
    quantization plus every other tensor of the model's state in float."""
    candidates = {
        entry.param for _, group, _, entry in plan.entries() if group == "state" and entry.param
    }
    others = sum(
        tensor.numel() * tensor.element_size()
        for name, tensor in model.state_dict().items()
        if name not in candidates
    )
    return plan.summary.weight_bytes_after + others


def _has_activation_quantizers(plan) -> bool:
    boundary = any(
        entry.quantized
        for module in plan.modules
        for entry in [*module.inputs.values(), *module.outputs.values()]
    )
    return boundary or any(
        entry.quantized for _, group, _, entry in plan.entries() if group != "state"
    )


def _compile_plans(
    model, example_inputs, names: Sequence[str], plan_dir: Path, echo: Printer
) -> dict:
    from quantplan import QuantizerConfig, compile_plan
    from quantplan.commands.compile import format_report

    plans = {}
    for name in names:
        config = QuantizerConfig.from_yaml(config_path(name))
        plan = compile_plan(copy.deepcopy(model), example_inputs, config)
        plan.save(plan_dir / f"{name}.json")
        echo(f"### {name}: {config_path(name).name} -> {plan_dir / (name + '.json')}")
        echo(format_report(plan))
        plans[name] = plan
    return plans


def _review_diff(plans: dict, plan_dir: Path, echo: Printer) -> None:
    from quantplan.plan.diff import diff

    old, new = DIFF_PAIR
    if old not in plans or new not in plans:
        return
    markdown = diff(plans[old], plans[new]).to_markdown()
    diff_file = plan_dir / f"{old}-vs-{new}.md"
    atomic_write_text(diff_file, markdown)
    echo(f"\n## Review: quantplan diff {old}.json {new}.json --format markdown\n")
    echo(_shorten_table(markdown, DIFF_ROWS_SHOWN, diff_file))


def _shorten_table(markdown: str, rows: int, full_file: Path) -> str:
    """Keep the first `rows` rows of each Markdown table and name the file with the full text."""
    kept, table_rows, hidden = [], 0, 0
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            table_rows += 1
            # The header and the separator row come before the data rows.
            if table_rows > rows + 2:
                hidden += 1
                continue
        elif hidden:
            kept.append(f"| … {hidden} more rows in {full_file} | | | | |")
            hidden = 0
        if not line.startswith("|"):
            table_rows = 0
        kept.append(line)
    return "\n".join(kept).rstrip()


def _calibrated_qparams(
    plan_name, model, plan, calibration: Sequence[Batch], echo: Printer
) -> dict | None:
    """Apply `plan` with fake quantization, calibrate it and return the frozen qparams."""
    from quantplan import apply_plan, calibrate
    from quantplan.runtime.frozen import collect_qparams

    if not _has_activation_quantizers(plan):
        echo("  weight-only plan: no activation ranges to calibrate")
        return None
    # NOTE: the example inputs are passed because capturing BERT again from the plan's recorded
    # signature (zeros, so an all-zero attention mask) traces two extra `add` ops.
    prepared = apply_plan(copy.deepcopy(model), plan, mode="fake", example_inputs=calibration[0])
    calibrate(prepared, calibration, description=f"calibrating {plan_name}")
    return collect_qparams(prepared)


def _quantize_and_reload(
    model, plan, qparams, artifact_dir: Path, example_inputs: Batch
) -> torch.nn.Module:
    from quantplan import apply_plan, load, save

    real = apply_plan(
        copy.deepcopy(model), plan, mode="real", qparams=qparams, example_inputs=example_inputs
    )
    save(real, plan, artifact_dir)
    return load(artifact_dir, lambda: (minilm.build_encoder(), example_inputs))


def _measure(
    name, plan, reloaded, reference_embeddings, evaluation, timing, size, artifact_dir, model
) -> PlanResult:
    embeddings = metrics.encode(reloaded, evaluation)
    seconds = metrics.time_encoding(lambda: metrics.encode(reloaded, timing), size.timing_repeats)
    return PlanResult(
        name=name,
        cosine=metrics.mean_cosine(reference_embeddings, embeddings),
        max_abs_difference=(reference_embeddings - embeddings).abs().max().item(),
        retrieval_agreement=metrics.retrieval_agreement(reference_embeddings, embeddings),
        artifact_bytes=metrics.tree_bytes(artifact_dir / "weights.safetensors"),
        predicted_bytes=_predicted_bytes(plan, model),
        encode_seconds=seconds,
    )


def run_demo(
    output: Path, size: DemoSize, names: Sequence[str] = CONFIG_NAMES, echo: Printer = print
) -> list[str]:
    """Run the whole demo, write plans, artifacts and results under `output`, and return
    the goals it missed (an empty list when every goal is met)."""
    plan_dir, artifact_root = output / "plans", output / "artifacts"
    plan_dir.mkdir(parents=True, exist_ok=True)
    artifact_root.mkdir(parents=True, exist_ok=True)

    echo("Loading all-MiniLM-L6-v2 and standard-library docstring sentences ...")
    tokenizer = minilm.load_tokenizer()
    model = minilm.load_encoder()
    texts = corpus.split_texts(size.calibration_texts, size.evaluation_texts)
    calibration = _batches(tokenizer, texts.calibration, size.batch_size)
    evaluation = _batches(tokenizer, texts.evaluation, size.batch_size)
    timing = evaluation[: size.timing_batches]
    example_inputs = calibration[0]
    echo(f"  {len(texts.calibration)} calibration texts, {len(texts.evaluation)} held-out texts")

    echo("\n## Compile\n")
    plans = _compile_plans(model, example_inputs, names, plan_dir, echo)
    _review_diff(plans, plan_dir, echo)

    reference_embeddings = metrics.encode(model, evaluation)
    reference = Reference(
        state_bytes=_state_bytes(model),
        encode_seconds=metrics.time_encoding(
            lambda: metrics.encode(model, timing), size.timing_repeats
        ),
    )

    results = []
    for name, plan in plans.items():
        echo(f"\n## Calibrate and apply {name} with real kernels\n")
        qparams = _calibrated_qparams(name, model, plan, calibration, echo)
        artifact_dir = artifact_root / name
        reloaded = _quantize_and_reload(model, plan, qparams, artifact_dir, example_inputs)
        echo(f"  artifact written to {artifact_dir} and reloaded")
        results.append(
            _measure(
                name,
                plan,
                reloaded,
                reference_embeddings,
                evaluation,
                timing,
                size,
                artifact_dir,
                model,
            )
        )

    table = markdown_table(results, reference)
    atomic_write_text(output / "results.md", table + "\n")
    atomic_write_text(output / "results.json", results_json(results, reference))
    echo(f"\n## Results on {len(texts.evaluation)} held-out texts\n")
    echo(table)
    return failed_goals(results)
