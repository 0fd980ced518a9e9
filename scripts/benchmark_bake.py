"""Time baking the default project in-process and print the figures.

Usage: python scripts/benchmark_bake.py [--runs N]
"""

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def quiet_stdout():
    """Silence the hooks' output: they run as child processes that share file descriptor 1."""
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def bake_once(output_dir: Path) -> float:
    started = time.perf_counter()
    with quiet_stdout():
        cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(output_dir))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        timings = [bake_once(Path(scratch) / f"run-{index}") for index in range(runs)]
    print(f"bake of the default project, {runs} runs (goal: median under 0.5 s)")
    print(f"  median {statistics.median(timings):.3f} s")
    print(f"  min    {min(timings):.3f} s")
    print(f"  max    {max(timings):.3f} s")


if __name__ == "__main__":
    main()
