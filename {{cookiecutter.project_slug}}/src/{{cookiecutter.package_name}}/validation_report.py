"""The validation report: the verdict with its reasons, and the pictures that justify it.

Pure functions: arrays and results in, matplotlib figures and a Report out. validation.py logs the
report to its MLflow run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from . import settings
from .comparison import Comparison
from .platform.reports import Report
from .slices import slice_table

if TYPE_CHECKING:
    from .validation import ValidationResult

# Points drawn in the scatter plot: enough to see the shape, few enough to stay a small PNG.
MAX_POINTS = 5_000
CANDIDATE_COLOR, CHAMPION_COLOR = "tab:blue", "tab:orange"


def _shown(count: int, seed: int = 0) -> np.ndarray:
    """Indices of at most MAX_POINTS rows, the same for both models."""
    if count <= MAX_POINTS:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, MAX_POINTS, replace=False))


def predicted_vs_actual(
    actual: np.ndarray, candidate: np.ndarray, champion: np.ndarray | None
) -> Figure:
    figure = Figure(figsize=(6, 6))
    axes = figure.subplots()
    rows = _shown(len(actual))
    if champion is not None:
        axes.scatter(
            actual[rows], champion[rows], s=4, alpha=0.3, c=CHAMPION_COLOR, label="champion"
        )
    axes.scatter(
        actual[rows], candidate[rows], s=4, alpha=0.3, c=CANDIDATE_COLOR, label="candidate"
    )
    low, high = float(np.min(actual)), float(np.max(actual))
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="predicted = actual")
    axes.set(title="Predicted against actual", xlabel="actual", ylabel="predicted")
    axes.legend(loc="upper left")
    return figure


def residuals(actual: np.ndarray, candidate: np.ndarray, champion: np.ndarray | None) -> Figure:
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    errors = {"candidate": candidate - actual}
    if champion is not None:
        errors["champion"] = champion - actual
    spread = np.quantile(np.abs(np.concatenate(list(errors.values()))), 0.99)
    bins = np.linspace(-spread, spread, 60)
    colors = {"candidate": CANDIDATE_COLOR, "champion": CHAMPION_COLOR}
    for label, values in errors.items():
        axes.hist(values, bins=bins, alpha=0.5, color=colors[label], label=label)
    axes.axvline(0, color="black", linewidth=1)
    axes.set(title="Residuals (predicted - actual)", xlabel="residual", ylabel="trips")
    axes.legend()
    return figure


def bootstrap_differences(comparison: Comparison) -> Figure:
    """Per metric, how much worse the candidate is on each resample, with the tolerance."""
    metrics = comparison.metrics
    figure = Figure(figsize=(5 * len(metrics), 4.5), layout="constrained")
    panels = np.atleast_1d(figure.subplots(1, len(metrics)))
    for axes, metric in zip(panels, metrics, strict=True):
        # Centred on "as good as the champion", wide enough to show the tolerance.
        reach = 1.3 * max(float(np.max(np.abs(metric.worsening))), metric.tolerance) or 1.0
        axes.hist(metric.worsening, bins=np.linspace(-reach, reach, 41), color=CANDIDATE_COLOR)
        axes.axvline(0, color="black", linewidth=1, label="as good as the champion")
        axes.axvline(metric.tolerance, color="tab:red", linestyle="--", label="tolerance")
        interval = f"{1 - comparison.confidence:.0%} to {comparison.confidence:.0%} quantiles"
        axes.axvspan(
            metric.worsening_low, metric.worsening_high, color="grey", alpha=0.2, label=interval
        )
        axes.set(
            title=f"{metric.metric}\nbetter on {metric.win_rate:.0%} of resamples",
            xlabel="candidate worse by (metric units)",
            ylabel="resamples",
        )
        axes.legend(fontsize="small")
    figure.suptitle(f"Paired bootstrap: {comparison.describe_rule()}")
    return figure


def build_report(
    result: ValidationResult,
    actual: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
) -> Report:
    report = Report(f"Validation of {result.model_name} version {result.version}")
    report.heading("Verdict")
    report.paragraph(result.status, css_class=result.status.lower())
    against = (
        f"Compared with champion version {result.champion_version}."
        if result.champion_version
        else "No champion yet: only the absolute limits, slices and compliance apply."
    )
    report.paragraph(against)
    if result.comparison is not None:
        report.paragraph(f"Decided by {result.comparison.describe_rule()}.")
    report.items(list(result.failures) or ["Every check passed."])

    report.heading("Metrics on the hold-out")
    report.table(result.metric_table())
    report.figure(
        "predicted_vs_actual",
        predicted_vs_actual(actual, candidate, champion),
        "Each held-out trip's predicted fare against the fare it had.",
    )
    report.figure(
        "residuals",
        residuals(actual, candidate, champion),
        "Distribution of the prediction errors.",
    )
    if result.comparison is not None and result.comparison.metrics:
        report.heading("Bootstrap comparison with the champion")
        report.figure(
            "bootstrap_differences",
            bootstrap_differences(result.comparison),
            "How much worse the candidate is on each resample; right of the dashed line is "
            "worse than tolerated.",
        )
    report.heading("Slices")
    metrics = [threshold.metric for threshold in settings.VALIDATION_THRESHOLDS]
    report.table(slice_table(result.slices, metrics))
    report.heading("Compliance")
    present = "The signature, the input example, the description and the required tags are there."
    report.items(list(result.compliance_failures) or [present])
    return report
