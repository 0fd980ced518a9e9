"""The monitoring report: what the monitoring step measured, as figures on one page.

The figure functions take the frames monitoring.py computes and return matplotlib Figures, drawn
without pyplot: no display, backend or global state, so they run alike on a job cluster, on a
laptop and in tests. `monitoring_report` puts them on a page (platform/reports.py) with the
retraining signal, its alerts and the verdict on the latest judged window.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from . import settings
from .platform.reports import Report

if TYPE_CHECKING:  # monitoring.py builds its report with this module
    from .monitoring import Watched

BASELINE_COLOR, CURRENT_COLOR, THRESHOLD_COLOR = "#9a9a9a", "#1f6feb", "#cf222e"
PANELS_PER_ROW = 3
VERDICT_COLUMNS = ["metric", "subject", "value", "threshold", "rows"]


def bin_label(lower: float, upper: float) -> str:
    """How a decile bin reads on an axis: values above `lower` up to `upper`."""
    if np.isnan(lower) and np.isnan(upper):
        return "missing"
    if np.isinf(lower):
        return f"≤ {upper:.3g}"
    if np.isinf(upper):
        return f"> {lower:.3g}"
    return f"{lower:.3g} – {upper:.3g}"


def _panels(count: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    """A figure with `count` panels, PANELS_PER_ROW to a row."""
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // columns)
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).ravel())
    for unused in axes[count:]:
        figure.delaxes(unused)
    return figure, axes[:count]


def feature_distributions(distributions: pd.DataFrame, window: str) -> Figure:
    """One panel per feature: its share of rows per decile bin of the baseline, in the baseline
    and in `window` (the legend's name for the window), side by side.

    `distributions` has the columns feature, bin, lower, upper, baseline and current."""
    features = list(dict.fromkeys(distributions.feature))
    figure, axes = _panels(len(features), width=4.4, height=3.4)
    for ax, feature in zip(axes, features, strict=True):
        bins = distributions[distributions.feature == feature].sort_values("bin")
        position = np.arange(len(bins))
        ax.bar(position - 0.2, bins.baseline, 0.4, color=BASELINE_COLOR, label="baseline")
        ax.bar(position + 0.2, bins.current, 0.4, color=CURRENT_COLOR, label=window)
        bounds = zip(bins.lower, bins.upper, strict=True)
        labels = [bin_label(lower, upper) for lower, upper in bounds]
        ax.set_xticks(position, labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(feature)
        ax.set_ylabel("share of rows")
    axes[0].legend(fontsize=8)
    figure.suptitle("Distribution of each feature: baseline and latest window")
    return figure


def over_time(metrics: pd.DataFrame, title: str) -> Figure:
    """One panel per metric: a line per subject over the windows, the threshold as a dashed
    horizontal line, and the windows where the metric broke it marked with a cross.

    `metrics` has the columns window_start, metric, subject, value, threshold and violated;
    a metric without any value gets no panel, a frame without values no figure to draw."""
    valued = metrics.groupby("metric", sort=False).value.count()
    names = [name for name, count in valued.items() if count > 0]
    if not names:
        raise ValueError(f"{title}: no metric has a value to draw.")
    figure, axes = _panels(len(names), width=5.6, height=3.6)
    for ax, name in zip(axes, names, strict=True):
        rows = metrics[metrics.metric == name].sort_values("window_start")
        for subject, series in rows.groupby("subject", sort=False):
            ax.plot(series.window_start, series.value, marker="o", markersize=3, label=subject)
        # One threshold per metric: settings' for drift, the monitored version's for quality.
        threshold = float(rows.threshold.iloc[-1])
        ax.axhline(
            threshold, color=THRESHOLD_COLOR, linestyle="--", label=f"threshold {threshold:.3g}"
        )
        broken = rows[rows.violated.astype(bool)]
        if not broken.empty:
            ax.plot(
                broken.window_start,
                broken.value,
                linestyle="none",
                marker="x",
                markersize=9,
                color=THRESHOLD_COLOR,
                label="over threshold",
            )
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_title(name)
        ax.legend(fontsize=7)
    figure.suptitle(title)
    return figure


def drift_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics[metrics.metric.isin(settings.DRIFT_THRESHOLDS)]


def quality_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics[~metrics.metric.isin(settings.DRIFT_THRESHOLDS)]


def verdict(metrics: pd.DataFrame) -> pd.DataFrame:
    """The judged rows of the latest window that has any, and whether each broke its threshold."""
    judged = metrics[metrics.judged.astype(bool)]
    latest = judged[judged.window_start == judged.window_start.max()]
    shown = latest[VERDICT_COLUMNS].copy()
    shown["over threshold"] = np.where(latest.violated.astype(bool), "yes", "no")
    return shown.sort_values(["metric", "subject"], ignore_index=True)


def monitoring_report(
    model_name: str, version: str, batch_id: str, watched: Sequence["Watched"], retrain: bool
) -> Report:
    """The page of one monitoring run: the retraining signal first, then each watched table."""
    granularity = settings.MONITORING_GRANULARITY
    report = Report(f"Monitoring of {model_name} version {version}")
    report.paragraph(
        f"Latest batch of predictions: {batch_id}. Metrics are measured per window of "
        f"{granularity}; a window with fewer than {settings.MONITORING_MIN_ROWS} rows is drawn "
        "but not judged. Drift is measured against the trips the version was trained on."
    )
    report.heading("Retraining signal")
    report.paragraph(
        f"Retraining signal: {'true' if retrain else 'false'}", "failed" if retrain else "passed"
    )
    report.paragraph(
        f"Raised when a metric broke its threshold in at least {settings.ALERT_MIN_VIOLATIONS} "
        f"of the last {settings.ALERT_WINDOWS} judged windows, the latest included."
    )
    alerts = [str(alert) for table in watched for alert in table.alerts]
    report.items(alerts)
    if not alerts:
        report.paragraph("No metric broke its threshold often enough to signal retraining.")
    for table in watched:
        add_watched_table(report, table)
    return report


def add_watched_table(report: Report, table: "Watched") -> None:
    report.heading(f"{table.kind.capitalize()}: {table.table}")
    report.paragraph(
        f"Monitor: {table.monitor}. Metric tables: {' and '.join(table.metric_tables)}."
    )
    distributions = table.distributions
    if distributions.empty:
        report.paragraph("No rows of this model version in the table yet.")
    else:
        start = pd.Timestamp(distributions.window_start.iloc[0])
        window = f"{settings.MONITORING_GRANULARITY} from {start:%Y-%m-%d}"
        report.figure(
            f"{table.prefix}feature_distributions",
            feature_distributions(distributions, window),
            "Share of rows per decile bin of the baseline, in the baseline and in the latest "
            f"window with rows ({window}).",
        )
    drift = drift_metrics(table.metrics)
    if drift.value.notna().any():
        report.figure(
            f"{table.prefix}drift_over_time",
            over_time(drift, "Drift of each feature from the baseline"),
            "Drift of each feature per window against its threshold; crosses mark the "
            "windows that broke it.",
        )
    quality = quality_metrics(table.metrics)
    if quality.value.notna().any():
        report.figure(
            f"{table.prefix}quality_over_time",
            over_time(quality, "Quality of the predictions"),
            "Errors of the predictions per window, where fares arrived, against the "
            "thresholds of this version; crosses mark the windows that broke them.",
        )
    else:
        report.paragraph("No fares in this table: the model's quality is not measured here.")
    if table.metrics.judged.any():
        judged = table.metrics[table.metrics.judged.astype(bool)]
        report.paragraph(
            f"Verdict on the latest judged window, from {judged.window_start.max():%Y-%m-%d}:"
        )
        report.table(verdict(table.metrics))
    else:
        report.paragraph(
            f"No window has {settings.MONITORING_MIN_ROWS} rows or more yet: nothing is judged."
        )
    report.items([str(alert) for alert in table.alerts])
