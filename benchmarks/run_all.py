"""Run every benchmark in one process tree and write benchmarks/RESULTS.md.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/run_all.py      # what `make bench` runs

Each benchmark script prints its own ratio tables; this script runs them one after another on
the same machine, adds the demo's accuracy table, and records the machine and the torch version
beside the numbers. The prepare comparison with coreai-opt needs the separate environment
benchmarks/.venv-coreai (torch 2.13.0 + coreai-opt + quantplan) that `make bench` creates; when
it is missing or broken, the page says so and the rest still runs.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

BENCHMARKS = Path(__file__).resolve().parent
REPOSITORY = BENCHMARKS.parent
RESULTS = BENCHMARKS / "RESULTS.md"
COREAI_PYTHON = BENCHMARKS / ".venv-coreai" / "bin" / "python"
TIMEOUT_SECONDS = 1800


@attrs.frozen
class Section:
    """One benchmark's output, or the reason it did not run."""

    title: str
    command: str
    output: str
    seconds: float
    returncode: int | None
    note: str = ""


def _environment() -> dict[str, str]:
    # Spinning OpenMP threads distort 2-thread timings on small VMs; every child runs passive.
    return {
        **os.environ,
        "OMP_WAIT_POLICY": "PASSIVE",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPOSITORY),
    }


def run_script(title: str, command: list[str], note: str = "") -> Section:
    """Run one benchmark command from the repository root and capture its output.

    Scripts run with `python -P`, so benchmarks/ is not put on sys.path: there
    benchmarks/kernels.py would shadow the `kernels` package that transformers imports.
    """
    if command[1].endswith(".py"):
        command = [command[0], "-P", *command[1:]]
    shown = " ".join(Path(part).name if part.endswith("python") else part for part in command)
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command,
            cwd=REPOSITORY,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as error:
        output = (
            (error.stdout or b"").decode()
            if isinstance(error.stdout, bytes)
            else (error.stdout or "")
        )
        return Section(
            title,
            shown,
            output,
            time.perf_counter() - start,
            None,
            f"timed out after {TIMEOUT_SECONDS} s",
        )
    output = (
        result.stdout if result.returncode == 0 else f"{result.stdout}\n{result.stderr[-4000:]}"
    )
    return Section(title, shown, output, time.perf_counter() - start, result.returncode, note)


def coreai_environment_problem() -> str | None:
    """Return why the coreai-opt environment cannot run the prepare comparison, or None."""
    if not COREAI_PYTHON.exists():
        return f"{COREAI_PYTHON.relative_to(REPOSITORY)} does not exist (`make bench` creates it)"
    check = subprocess.run(
        [str(COREAI_PYTHON), "-c", "import coreai_opt, quantplan"],
        cwd=REPOSITORY,
        env=_environment(),
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        return f"importing coreai_opt and quantplan there failed: {check.stderr.strip().splitlines()[-1:]}"
    return None


def demo_section(size: str) -> Section:
    """Run the demo at `size` into a temporary folder and return its results table."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "quantplan.cli",
            "demo",
            "--size",
            size,
            "--output",
            folder,
        ]
        section = run_script(f"Demo accuracy (all-MiniLM-L6-v2, --size {size})", command)
        table = Path(folder) / "results.md"
        if table.exists():
            return attrs.evolve(section, output=table.read_text(encoding="utf-8"))
    return section


def machine_lines() -> list[str]:
    """Describe the machine: CPU model, cores, memory, OS, Python and torch versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split()[1])
        memory = f", {total_kib / 1024 / 1024:.1f} GiB memory"
    return [
        f"- Machine: {cpu}, {os.cpu_count()} logical CPUs{memory}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads",
        f"- Date: {datetime.date.today().isoformat()}; `OMP_WAIT_POLICY=PASSIVE` for every benchmark",
    ]


def render_section(section: Section) -> list[str]:
    """Render one section: Markdown tables as they are, any other output in a text block."""
    lines = [f"## {section.title}", "", f"`{section.command}` ({section.seconds:.0f} s)", ""]
    if section.note:
        lines += [f"Note: {section.note}.", ""]
    if section.returncode not in (0,):
        status = (
            "timed out"
            if section.returncode is None
            else f"exited with status {section.returncode}"
        )
        lines += [f"The benchmark {status}; its output follows.", ""]
    output = section.output.strip()
    if not output:
        return [*lines, "(no output)", ""]
    if all(
        line.startswith("|") or not line.strip() or line.startswith("#")
        for line in output.splitlines()
    ):
        return [*lines, output, ""]
    return [*lines, "```text", output, "```", ""]


def render(sections: list[Section]) -> str:
    """Render RESULTS.md."""
    lines = [
        "# Benchmark results",
        "",
        "Measured side by side in one run of `make bench` (`benchmarks/run_all.py`).",
        "Ratios below 1 mean quantplan is faster or smaller than the baseline it is divided by.",
        "",
        *machine_lines(),
        "",
    ]
    for section in sections:
        lines += render_section(section)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, write RESULTS.md and return 1 if any benchmark failed."""
    parser = argparse.ArgumentParser(
        description="Run all benchmarks and write benchmarks/RESULTS.md."
    )
    parser.add_argument(
        "--demo-size",
        choices=("small", "full"),
        default="full",
        help="size of the demo accuracy run (default: full)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="Markdown file to write (default: benchmarks/RESULTS.md)",
    )
    args = parser.parse_args(argv)

    python = sys.executable
    sections = [run_script("Compile vs torch.export", [python, "benchmarks/compile.py"])]
    problem = coreai_environment_problem()
    if problem is None:
        sections.append(
            run_script(
                "Fake quantization and prepare vs coreai-opt",
                [str(COREAI_PYTHON), "benchmarks/fake_quant.py"],
            )
        )
    else:
        note = f"the coreai-opt environment is unavailable, so the prepare comparison did not run: {problem}"
        sections.append(
            run_script("Fake quantization overhead", [python, "benchmarks/fake_quant.py"], note)
        )
    sections.append(
        run_script(
            "Kernels vs fp32, bf16 and the raw torch kernel", [python, "benchmarks/kernels.py"]
        )
    )
    sections.append(demo_section(args.demo_size))

    text = render(sections)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0 if all(section.returncode == 0 for section in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
