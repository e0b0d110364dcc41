"""Pure metric arithmetic: windows, failure rates, hour buckets, failure clusters, per-type rows."""

import unittest
from datetime import datetime, timedelta

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


class TestWindowBounds(unittest.TestCase):
	def test_window_defaults_to_the_last_24_hours_ending_now(self):
		self.assertEqual(window_bounds(NOW), (NOW - timedelta(hours=24), NOW))

	def test_window_from_hours_counts_back_from_an_explicit_end(self):
		end = datetime(2026, 3, 1)
		self.assertEqual(window_bounds(NOW, hours=2, end=end), (end - timedelta(hours=2), end))

	def test_window_explicit_start_wins_over_hours(self):
		start = datetime(2026, 3, 10, 0, 0)
		self.assertEqual(window_bounds(NOW, hours=1, start=start), (start, NOW))

	def test_window_rejects_hours_outside_1_to_90_days(self):
		for hours in [0, -1, MAX_WINDOW_HOURS + 1]:
			with self.subTest(hours=hours), self.assertRaisesRegex(ValueError, "hours must be between"):
				window_bounds(NOW, hours=hours)

	def test_window_rejects_start_after_end(self):
		with self.assertRaisesRegex(ValueError, "before"):
			window_bounds(NOW, start=NOW, end=NOW - timedelta(seconds=1))

	def test_window_rejects_explicit_dates_spanning_more_than_90_days(self):
		with self.assertRaisesRegex(ValueError, "at most"):
			window_bounds(NOW, start=NOW - timedelta(days=91), end=NOW)

	def test_window_accepts_exactly_90_days(self):
		start = NOW - timedelta(hours=MAX_WINDOW_HOURS)
		self.assertEqual(window_bounds(NOW, start=start), (start, NOW))


class TestFailureRateAndHourBuckets(unittest.TestCase):
	def test_failure_rate_is_failures_over_outcomes_and_none_without_outcomes(self):
		self.assertEqual(failure_rate(1, 3), 0.25)
		self.assertEqual(failure_rate(0, 5), 0.0)
		self.assertEqual(failure_rate(2, 0), 1.0)
		self.assertIsNone(failure_rate(0, 0))
		self.assertEqual(failure_rate(1, 2), 0.3333)

	def test_failure_rate_rejects_negative_counts(self):
		with self.assertRaises(ValueError):
			failure_rate(-1, 3)

	def test_hour_bucket_truncates_to_the_start_of_the_hour(self):
		self.assertEqual(hour_bucket(NOW), datetime(2026, 3, 10, 12))

	def test_hours_in_window_counts_partial_hours_at_both_ends(self):
		self.assertEqual(hours_in_window(datetime(2026, 1, 1, 10, 30), datetime(2026, 1, 1, 12, 15)), 3)
		self.assertEqual(hours_in_window(datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 12)), 2)
		self.assertEqual(hours_in_window(NOW - timedelta(hours=24), NOW), 25)


def failure_cell(job_type, hour, failures):
	return FailureCell(job_type, datetime(2026, 1, 1, hour), failures)


class TestFailureClusters(unittest.TestCase):
	def test_failure_clusters_pick_cells_well_above_their_even_share_worst_first(self):
		cells = [
			failure_cell("ocr", 2, 30),
			failure_cell("ocr", 3, 12),
			failure_cell("ocr", 9, 1),
			failure_cell("email", 4, 2),
		]
		# 45 failures over 24 hours x 2 failing types: an even share is 0.94; threshold max(3, 1.875) = 3
		clusters = failure_clusters(cells, hours=24)
		self.assertEqual(
			[(c["job_type"], c["hour"], c["failures"]) for c in clusters],
			[
				("ocr", "2026-01-01T02:00:00", 30),
				("ocr", "2026-01-01T03:00:00", 12),
			],
		)
		self.assertEqual(clusters[0]["share"], round(30 / 45, 4))
		self.assertEqual(clusters[0]["times_even_share"], round(30 / (45 / 48), 2))

	def test_failures_spread_evenly_are_no_cluster(self):
		cells = [failure_cell("ocr", hour, 5) for hour in range(24)]
		self.assertEqual(failure_clusters(cells, hours=24), [])

	def test_a_lone_failure_is_never_a_cluster_and_limit_caps_the_list(self):
		self.assertEqual(failure_clusters([failure_cell("ocr", 1, 1)], hours=24), [])
		cells = [failure_cell(f"type{i}", i, 50 - i) for i in range(10)]
		self.assertEqual(len(failure_clusters(cells, hours=240, limit=3)), 3)
		self.assertEqual(failure_clusters([], hours=24), [])


class TestJobTypeRows(unittest.TestCase):
	def test_job_type_rows_sum_statuses_into_completed_failed_and_rate(self):
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
		self.assertEqual(
			rows,
			[
				{
					"job_type": "email",
					"total": 3,
					"completed": 0,
					"failed": 0,
					"dead_letter": 0,
					"failure_rate": None,
				},
				{
					"job_type": "ocr",
					"total": 10,
					"completed": 6,
					"failed": 2,
					"dead_letter": 1,
					"failure_rate": 0.25,
				},
			],
		)
