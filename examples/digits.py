"""Quantize a small CNN trained on scikit-learn's digits, through the Python API and the CLI.

Run from the repository root:

    .venv/bin/python examples/digits.py --output digits-out

The script trains the CNN in a few seconds (fixed seed), then quantizes it with each YAML config
in examples/configs/ twice: with `Quantizer` (prepare, calibrate, finalize) and with the CLI
(`quantplan compile` then `quantplan apply --real`). It prints the test accuracy of every model
and exits 1 when an accuracy drop exceeds its goal.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

EXAMPLES = Path(__file__).resolve().parent
CONFIGS = {name: EXAMPLES / "configs" / f"digits-{name}.yaml" for name in ("w8a8", "w4")}
# Largest accepted test-accuracy drop against float, in percentage points.
MAX_DROP = {"w8a8": 0.5, "w4": 2.0}
# Environment variable through which the CLI's `--model` callable finds the trained weights.
CHECKPOINT_VARIABLE = "DIGITS_CHECKPOINT"
SEED = 0
BATCH_SIZE = 64


def build_cnn() -> nn.Module:
    """Return the untrained CNN: two 3x3 convs and two linears over 8x8 images."""
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    ).eval()


def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return `(train_x, train_y, test_x, test_y)`: images `[N, 1, 8, 8]` scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.int64)
    split = train_test_split(images, labels, test_size=0.25, random_state=SEED, stratify=labels)
    train_x, test_x, train_y, test_y = split
    return train_x, train_y, test_x, test_y


def train(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int = 15
) -> nn.Module:
    """Train `model` with Adam on shuffled mini-batches of 32; return it in eval mode."""
    torch.manual_seed(SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the top-1 accuracy of `model` on `images`, in percent.

    Batches are always `BATCH_SIZE` images, the shape the plans were captured with: the last
    one is padded with blank images whose predictions are dropped.
    """
    padding = -len(images) % BATCH_SIZE
    padded = torch.cat([images, images.new_zeros(padding, *images.shape[1:])])
    logits = [
        model(padded[start : start + BATCH_SIZE]) for start in range(0, len(padded), BATCH_SIZE)
    ]
    predictions = torch.cat(logits).argmax(dim=1)[: len(images)]
    return 100.0 * (predictions == labels).float().mean().item()


def example_inputs() -> tuple[torch.Tensor]:
    """Return one batch of the fixed shape that the plans are compiled for."""
    return (torch.zeros(BATCH_SIZE, 1, 8, 8),)


def trained_model() -> tuple[nn.Module, tuple[torch.Tensor]]:
    """Return `(model, example_inputs)` with the weights saved by this script (`--model` target)."""
    from safetensors.torch import load_file

    model = build_cnn()
    model.load_state_dict(load_file(os.environ[CHECKPOINT_VARIABLE]))
    return model, example_inputs()


def calibration_batches():
    """Yield calibration batches `(images,)` of the compiled shape (`--calibrate` target)."""
    train_x, _, _, _ = load_data()
    for start in range(0, 4 * BATCH_SIZE, BATCH_SIZE):
        yield (train_x[start : start + BATCH_SIZE],)


def quantize_with_api(
    model: nn.Module, config_file: Path, calibration: list[tuple[torch.Tensor]]
) -> nn.Module:
    """Quantize a copy of `model` with `Quantizer`: prepare, calibrate, finalize (real kernels)."""
    import copy

    from quantplan import Quantizer, QuantizerConfig

    quantizer = Quantizer(copy.deepcopy(model), QuantizerConfig.from_yaml(config_file))
    prepared = quantizer.prepare(example_inputs())
    with quantizer.calibration_mode(), torch.no_grad():
        for batch in calibration:
            prepared(*batch)
    return quantizer.finalize()


def quantize_with_cli(name: str, config_file: Path, output: Path, checkpoint: Path) -> nn.Module:
    """Quantize with `quantplan compile` and `quantplan apply --real`, then load the artifact."""
    import quantplan

    plan_file = output / f"{name}.plan.json"
    artifact = output / f"{name}-artifact"
    environment = {**os.environ, CHECKPOINT_VARIABLE: str(checkpoint)}
    quantplan_cli = [sys.executable, "-m", "quantplan.cli"]
    model_ref = "examples.digits:trained_model"
    commands = [
        [*quantplan_cli, "compile", str(config_file), "--model", model_ref, "-o", str(plan_file)],
        [
            *quantplan_cli,
            "apply",
            str(plan_file),
            "--model",
            model_ref,
            "--calibrate",
            "examples.digits:calibration_batches",
            "--real",
            "-o",
            str(artifact),
        ],
    ]
    for command in commands:
        # The `--model` references resolve against the repository root, the working directory.
        subprocess.run(command, check=True, env=environment, cwd=EXAMPLES.parent)
    return quantplan.load(artifact, build_cnn)


def run(output: Path) -> dict[str, float]:
    """Train, quantize with each config both ways, print the accuracies and return them."""
    from safetensors.torch import save_file

    output.mkdir(parents=True, exist_ok=True)
    train_x, train_y, test_x, test_y = load_data()
    torch.manual_seed(SEED)  # the weight initialization too, so every run trains the same CNN
    model = train(build_cnn(), train_x, train_y)
    checkpoint = output / "cnn.safetensors"
    save_file(model.state_dict(), str(checkpoint))
    calibration = list(calibration_batches())

    results = {"float": accuracy(model, test_x, test_y)}
    for name, config_file in CONFIGS.items():
        results[f"{name} (Quantizer)"] = accuracy(
            quantize_with_api(model, config_file, calibration), test_x, test_y
        )
        results[f"{name} (CLI)"] = accuracy(
            quantize_with_cli(name, config_file, output, checkpoint), test_x, test_y
        )
    return results


def accuracy_table(results: dict[str, float]) -> str:
    """Render the accuracies and their drops against float as a Markdown table."""
    reference = results["float"]
    lines = ["| model | test accuracy % | drop (points) |", "|---|---:|---:|"]
    for name, value in results.items():
        lines.append(f"| {name} | {value:.2f} | {reference - value:.2f} |")
    return "\n".join(lines)


def missed_goals(results: dict[str, float]) -> list[str]:
    """List every quantized model whose accuracy drop exceeds `MAX_DROP` for its config."""
    missed = []
    for name, value in results.items():
        config = name.split(" ")[0]
        drop = results["float"] - value
        if config in MAX_DROP and drop > MAX_DROP[config]:
            missed.append(f"{name}: drop {drop:.2f} points exceeds {MAX_DROP[config]}")
    return missed


def main(argv: list[str] | None = None) -> int:
    """Run the example; return 1 when a drop exceeds its goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("digits-out"),
        help="folder for the checkpoint, plans and artifacts",
    )
    args = parser.parse_args(argv)
    results = run(args.output)
    print(accuracy_table(results))
    missed = missed_goals(results)
    for line in missed:
        print(f"goal missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
