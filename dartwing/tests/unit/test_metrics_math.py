"""Pure metric arithmetic: windows, failure rates, hour buckets, failure clusters, per-type rows."""

from datetime import datetime, timedelta

import pytest

from dartwing.dartwing_core.background_jobs.metrics_math import (
	MAX_WINDOW_HOURS,
	FailureCell,
	failure_clusters,
	failure_rate,
	hour_bucket,
	hours_in_window,
	job_type_rows,
	window_bounds,
)

NOW = datetime(2026, 3, 10, 12, 30, 15, 123456)


def test_window_defaults_to_the_last_24_hours_ending_now():
	assert window_bounds(NOW) == (NOW - timedelta(hours=24), NOW)


def test_window_from_hours_counts_back_from_an_explicit_end():
	end = datetime(2026, 3, 1)
	assert window_bounds(NOW, hours=2, end=end) == (end - timedelta(hours=2), end)


def test_window_explicit_start_wins_over_hours():
	start = datetime(2026, 3, 10, 0, 0)
	assert window_bounds(NOW, hours=1, start=start) == (start, NOW)


@pytest.mark.parametrize("hours", [0, -1, MAX_WINDOW_HOURS + 1])
def test_window_rejects_hours_outside_1_to_90_days(hours):
	with pytest.raises(ValueError, match="hours must be between"):
		window_bounds(NOW, hours=hours)


def test_window_rejects_start_after_end():
	with pytest.raises(ValueError, match="before"):
		window_bounds(NOW, start=NOW, end=NOW - timedelta(seconds=1))


def test_window_rejects_explicit_dates_spanning_more_than_90_days():
	with pytest.raises(ValueError, match="at most"):
		window_bounds(NOW, start=NOW - timedelta(days=91), end=NOW)


def test_window_accepts_exactly_90_days():
	start = NOW - timedelta(hours=MAX_WINDOW_HOURS)
	assert window_bounds(NOW, start=start) == (start, NOW)


def test_failure_rate_is_failures_over_outcomes_and_none_without_outcomes():
	assert failure_rate(1, 3) == 0.25
	assert failure_rate(0, 5) == 0.0
	assert failure_rate(2, 0) == 1.0
	assert failure_rate(0, 0) is None
	assert failure_rate(1, 2) == 0.3333


def test_failure_rate_rejects_negative_counts():
	with pytest.raises(ValueError):
		failure_rate(-1, 3)


def test_hour_bucket_truncates_to_the_start_of_the_hour():
	assert hour_bucket(NOW) == datetime(2026, 3, 10, 12)


def test_hours_in_window_counts_partial_hours_at_both_ends():
	assert hours_in_window(datetime(2026, 1, 1, 10, 30), datetime(2026, 1, 1, 12, 15)) == 3
	assert hours_in_window(datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 12)) == 2
	assert hours_in_window(NOW - timedelta(hours=24), NOW) == 25


def _cell(job_type, hour, failures):
	return FailureCell(job_type, datetime(2026, 1, 1, hour), failures)


def test_failure_clusters_pick_cells_well_above_their_even_share_worst_first():
	cells = [_cell("ocr", 2, 30), _cell("ocr", 3, 12), _cell("ocr", 9, 1), _cell("email", 4, 2)]
	# 45 failures over 24 hours x 2 failing types: an even share is 0.94; threshold max(3, 1.875) = 3
	clusters = failure_clusters(cells, hours=24)
	assert [(c["job_type"], c["hour"], c["failures"]) for c in clusters] == [
		("ocr", "2026-01-01T02:00:00", 30),
		("ocr", "2026-01-01T03:00:00", 12),
	]
	assert clusters[0]["share"] == round(30 / 45, 4)
	assert clusters[0]["times_even_share"] == round(30 / (45 / 48), 2)


def test_failures_spread_evenly_are_no_cluster():
	cells = [_cell("ocr", hour, 5) for hour in range(24)]
	assert failure_clusters(cells, hours=24) == []


def test_a_lone_failure_is_never_a_cluster_and_limit_caps_the_list():
	assert failure_clusters([_cell("ocr", 1, 1)], hours=24) == []
	cells = [_cell(f"type{i}", i, 50 - i) for i in range(10)]
	assert len(failure_clusters(cells, hours=240, limit=3)) == 3
	assert failure_clusters([], hours=24) == []


def test_job_type_rows_sum_statuses_into_completed_failed_and_rate():
	counts = {
		("ocr", "Completed"): 6,
		("ocr", "Dead Letter"): 1,
		("ocr", "Failed"): 1,
		("ocr", "Canceled"): 2,
		("email", "Pending"): 3,
	}
	rows = job_type_rows(
		counts,
		success_status="Completed",
		failure_statuses=("Dead Letter", "Failed", "Timed Out"),
		dead_letter_status="Dead Letter",
	)
	assert rows == [
		{
			"job_type": "email",
			"total": 3,
			"completed": 0,
			"failed": 0,
			"dead_letter": 0,
			"failure_rate": None,
		},
		{"job_type": "ocr", "total": 10, "completed": 6, "failed": 2, "dead_letter": 1, "failure_rate": 0.25},
	]
