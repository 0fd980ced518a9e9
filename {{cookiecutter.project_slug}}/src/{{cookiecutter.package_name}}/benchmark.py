"""Time each step and the whole local pipeline, in a fresh local store.

    python -m {{ cookiecutter.package_name }}.benchmark [--trips N] [--runs 2]
    python -m {{ cookiecutter.package_name }}.benchmark --bootstrap

Each run is `make pipeline` (`python -m {{ cookiecutter.package_name }}.pipeline`) in a new process,
so its wall time includes starting Python, the imports and Spark. The first run starts from an
empty store (sample generation and MLflow set-up included); later runs validate against the
champion of the runs before.

With --bootstrap it times instead the paired bootstrap of validation (comparison.py) with the
settings' number of resamples, on as many rows as the sample's hold-out, 100,000 and 1,000,000, and
counts how many of 20 seeds promote a challenger exactly as good as the champion under each rule.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from . import settings
from .comparison import RULES, Comparison, compare
from .platform.environment import LOCAL_DIR_VARIABLE


def run_pipeline(local_dir: Path, timings: Path) -> tuple[float, dict[str, float]]:
    env = os.environ | {LOCAL_DIR_VARIABLE: str(local_dir)}
    command = [sys.executable, "-m", f"{__package__}.pipeline", "--timings", str(timings)]
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        print(finished.stdout, finished.stderr, sep="\n")
        raise SystemExit(f"The pipeline failed (exit status {finished.returncode}); see above.")
    return wall, json.loads(timings.read_text())


def report(trips: int, runs: list[tuple[float, dict[str, float]]]) -> str:
    steps = list(runs[0][1])
    header = f"{'':<18}" + "".join(f"{f'run {i + 1}':>10}" for i in range(len(runs)))
    lines = [
        f"Local pipeline benchmark: {trips:,} trips, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pyspark {version('pyspark')}, "
        f"delta-spark {version('delta-spark')}, mlflow {version('mlflow')}",
        header,
    ]
    for step in steps:
        cells = "".join(f"{timings.get(step, float('nan')):>9.1f}s" for _, timings in runs)
        lines.append(f"{step:<18}{cells}")
    lines.append(f"{'whole run (wall)':<18}" + "".join(f"{wall:>9.1f}s" for wall, _ in runs))
    lines.append("(whole run: from starting Python to the summary, Spark start-up included)")
    return "\n".join(lines)


def equal_quality_holdout(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Made-up fares, and two models' predictions as good as each other (most error shared)."""
    rng = np.random.default_rng(seed)
    actual = 5 + rng.gamma(2.0, 6.0, rows)
    shared = rng.normal(0, 2.5, rows)
    return (
        actual,
        actual + shared + rng.normal(0, 2.0, rows),
        actual + shared + rng.normal(0, 2.0, rows),
    )


def bootstrap_verdict(holdout: tuple[np.ndarray, ...], seed: int, rule: str) -> Comparison:
    return compare(
        *holdout,
        settings.VALIDATION_THRESHOLDS,
        rule=rule,
        resamples=settings.BOOTSTRAP_RESAMPLES,
        seed=seed,
        confidence=settings.BOOTSTRAP_CONFIDENCE,
        min_win_rate=settings.BOOTSTRAP_MIN_WIN_RATE,
    )


def bootstrap_report(seeds: int = 20) -> str:
    holdout_rows = int(settings.SAMPLE_TRIPS * settings.HOLDOUT_FRACTION)
    lines = [
        f"Paired bootstrap: {settings.BOOTSTRAP_RESAMPLES:,} resamples, "
        f"{len(settings.VALIDATION_THRESHOLDS)} metrics, {os.cpu_count()} cores, "
        f"numpy {version('numpy')}"
    ]
    sizes = ((holdout_rows, " (the sample's hold-out)"), (100_000, ""), (1_000_000, ""))
    for rows, what in sizes:
        holdout = equal_quality_holdout(rows, seed=0)
        started = time.perf_counter()
        bootstrap_verdict(holdout, 0, settings.PROMOTION_RULE)
        elapsed = time.perf_counter() - started
        lines.append(f"{rows:>10,} rows: {elapsed:6.2f}s{what}")
    for rule in RULES:
        promoted = sum(
            bootstrap_verdict(equal_quality_holdout(holdout_rows, seed), seed, rule).passed
            for seed in range(seeds)
        )
        lines.append(
            f"{rule}: {promoted} of {seeds} seeds promote a challenger as good as the champion "
            f"({holdout_rows:,} rows)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time the local pipeline in a fresh local store.")
    parser.add_argument("--trips", type=int, default=settings.SAMPLE_TRIPS)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--bootstrap", action="store_true", help="time validation's paired bootstrap instead"
    )
    args = parser.parse_args(argv)
    if args.bootstrap:
        print(bootstrap_report())
        return
    with tempfile.TemporaryDirectory(prefix="benchmark-") as scratch:
        local_dir = Path(scratch)
        if args.trips != settings.SAMPLE_TRIPS:  # otherwise the first run generates it
            env = os.environ | {LOCAL_DIR_VARIABLE: str(local_dir)}
            sample = [sys.executable, "-m", f"{__package__}.sample_data", f"--trips={args.trips}"]
            subprocess.run(sample, env=env, check=True, stdout=subprocess.DEVNULL)
        runs = []
        for run in range(args.runs):
            print(f"run {run + 1} of {args.runs}...", flush=True)
            runs.append(run_pipeline(local_dir, local_dir / f"timings-{run}.json"))
    print(report(args.trips, runs))


if __name__ == "__main__":
    main()
