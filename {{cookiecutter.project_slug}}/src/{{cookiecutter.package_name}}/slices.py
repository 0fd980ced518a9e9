"""Slices of the hold-out: the challenger against the champion on each kind of trip.

A challenger can be as good as the champion on the whole hold-out and much worse on, say, long
trips, which a total hides when they are few. Each band of settings.SLICES is compared on its own
bootstrap resamples; the challenger fails on a slice only when it is, with the bootstrap's
confidence, worse than the champion by more than the slice's tolerance, so the noise of a small
slice does not refuse a good model. Pure functions of pandas and numpy.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .comparison import Comparison, compare, point_metrics
from .platform.errors import UserError
from .settings import Threshold


@dataclass(frozen=True)
class Slice:
    column: str
    low: float
    high: float

    @property
    def label(self) -> str:
        return f"{self.column} in [{self.low:g}, {self.high:g})"

    def mask(self, data: pd.DataFrame) -> np.ndarray:
        values = data[self.column].to_numpy(dtype=float)
        return (values >= self.low) & (values < self.high)


def slices_of(bands: Mapping[str, Sequence[float]], data: pd.DataFrame) -> list[Slice]:
    """Every band of every slicing column, checked against the hold-out's columns."""
    missing = [column for column in bands if column not in data.columns]
    if missing:
        raise UserError(
            f"settings.SLICES names {', '.join(missing)}, which the hold-out does not have; "
            f"slice by model inputs or the label: {', '.join(data.columns)}."
        )
    return [
        Slice(column, float(low), float(high))
        for column, edges in bands.items()
        for low, high in zip(edges, edges[1:], strict=False)
    ]


@dataclass(frozen=True)
class SliceResult:
    slice: Slice
    rows: int
    metrics: dict[str, float]  # the candidate's
    champion_metrics: dict[str, float] | None = None
    comparison: Comparison | None = None  # None: no champion, or fewer rows than the minimum
    failures: tuple[str, ...] = ()


def slice_failures(
    where: Slice, rows: int, comparison: Comparison, max_relative_worsening: float
) -> tuple[str, ...]:
    """The metrics on which the challenger is surely worse than tolerated on this slice."""
    return tuple(
        f"slice {where.label} ({rows:,} trips): {m.metric} is at least {m.worsening_low:.4g} worse "
        f"than the champion's {m.champion:.4g} ({comparison.confidence:.0%} confidence), more "
        f"than the {m.tolerance:.4g} tolerated on a slice ({max_relative_worsening:.0%})"
        for m in comparison.metrics
        if m.worsening_low > m.tolerance
    )


def compare_slices(
    data: pd.DataFrame,
    actual: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    thresholds: Sequence[Threshold],
    *,
    bands: Mapping[str, Sequence[float]],
    min_rows: int,
    max_relative_worsening: float,
    resamples: int,
    seed: int,
    confidence: float,
) -> list[SliceResult]:
    """Each slice's metrics and, with a champion and enough rows, its verdict."""
    tolerated = [replace(t, max_relative_worsening=max_relative_worsening) for t in thresholds]
    results = []
    for where in slices_of(bands, data):
        mask = where.mask(data)
        rows = int(mask.sum())
        if rows == 0:
            results.append(SliceResult(where, 0, {}))
            continue
        metrics = point_metrics(actual[mask], candidate[mask])
        if champion is None:
            results.append(SliceResult(where, rows, metrics))
            continue
        champion_metrics = point_metrics(actual[mask], champion[mask])
        if rows < min_rows:
            results.append(SliceResult(where, rows, metrics, champion_metrics))
            continue
        comparison = compare(
            actual[mask],
            candidate[mask],
            champion[mask],
            tolerated,
            rule="non_inferiority",
            resamples=resamples,
            seed=seed,
            confidence=confidence,
            min_win_rate=0.0,
        )
        failures = slice_failures(where, rows, comparison, max_relative_worsening)
        results.append(SliceResult(where, rows, metrics, champion_metrics, comparison, failures))
    return results


def slice_table(results: Sequence[SliceResult], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per slice: trips, each metric of candidate and champion, and the verdict."""
    records = []
    for result in results:
        record: dict[str, object] = {"slice": result.slice.label, "trips": result.rows}
        for metric in metrics:
            record[f"{metric} (candidate)"] = result.metrics.get(metric, np.nan)
            if result.champion_metrics is not None:
                record[f"{metric} (champion)"] = result.champion_metrics.get(metric, np.nan)
        if result.comparison is not None:
            record["verdict"] = "FAILED" if result.failures else "ok"
        elif result.champion_metrics is not None:
            record["verdict"] = "too few trips to judge"
        else:
            record["verdict"] = "no champion to compare"
        records.append(record)
    return pd.DataFrame(records)
