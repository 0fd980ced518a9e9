"""Batch inference: every batch is stamped with what produced it and when."""

from datetime import datetime, timezone

from {{ cookiecutter.package_name }}.inference import new_batch, with_batch


def test_batch_ids_are_unique_and_sort_by_scoring_time():
    (first, first_time), (second, second_time) = new_batch(), new_batch()
    assert first != second
    assert first[:16] == f"{first_time:%Y%m%dT%H%M%SZ}"
    assert (first_time <= second_time) and (first[:16] <= second[:16])


def test_predictions_are_stamped_with_version_time_and_batch(spark):
    scored_at = datetime(2026, 5, 1, 6, 30, tzinfo=timezone.utc)
    predictions = spark.createDataFrame([(1, 12.5), (2, 30.0)], "trip_id long, prediction double")
    stamped = with_batch(predictions, "7", "20260501T063000Z-abc", scored_at).collect()
    assert [(row.trip_id, row.model_version, row.batch_id) for row in stamped] == [
        (1, 7, "20260501T063000Z-abc"),
        (2, 7, "20260501T063000Z-abc"),
    ]
    assert {row.scored_at for row in stamped} == {datetime(2026, 5, 1, 6, 30)}
