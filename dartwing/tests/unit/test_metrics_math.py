"""Pure metric arithmetic: windows, failure rates, hour buckets, failure clusters, per-type rows."""

import itertools
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


class TestDurationHistogram(unittest.TestCase):
	def test_buckets_are_half_open_and_cover_every_duration(self):
		from dartwing.dartwing_core.background_jobs import metrics_math as m

		self.assertEqual(m.duration_bucket(0), 0)
		self.assertEqual(m.duration_bucket(9_999), 0)
		self.assertEqual(m.duration_bucket(10_000), 1)
		self.assertEqual(m.duration_bucket(-5), 0)  # a clock step; SQL's INTERVAL() agrees
		self.assertEqual(m.duration_bucket(10**15), m.HISTOGRAM_BUCKETS - 1)
		widths = [
			b / a for a, b in zip(m.HISTOGRAM_BOUNDARIES_US, m.HISTOGRAM_BOUNDARIES_US[1:], strict=False)
		]
		self.assertLess(max(widths), 1.2601)
		self.assertGreater(m.HISTOGRAM_BOUNDARIES_US[-1], 86_400 * 10**6)  # beyond the longest timeout

	def test_p95_is_never_below_the_exact_nearest_rank_and_in_its_bucket(self):
		import math
		import random

		from dartwing.dartwing_core.background_jobs import metrics_math as m

		rng = random.Random(7)
		for trial in range(300):
			durations = [int(rng.lognormvariate(13, 2)) for _ in range(rng.randint(1, 400))]
			buckets = [0] * m.HISTOGRAM_BUCKETS
			for d in durations:
				buckets[m.duration_bucket(d)] += 1
			exact = sorted(durations)[math.ceil(0.95 * len(durations) - 1e-9) - 1]
			estimate = m.histogram_percentile(buckets, max(durations))
			self.assertGreaterEqual(estimate, exact, trial)
			self.assertEqual(m.duration_bucket(estimate - 1), m.duration_bucket(exact), trial)

	def test_p95_is_exact_when_the_rank_is_the_longest_duration(self):
		from dartwing.dartwing_core.background_jobs import metrics_math as m

		durations = [2_000_000, 2_000_000, 2_000_000, 10_000_000]
		buckets = [0] * m.HISTOGRAM_BUCKETS
		for d in durations:
			buckets[m.duration_bucket(d)] += 1
		self.assertEqual(m.histogram_percentile(buckets, max(durations)), 10_000_000)
		self.assertIsNone(m.histogram_percentile([0] * m.HISTOGRAM_BUCKETS, 0))
		self.assertEqual(m.nearest_rank(20), 19)
		self.assertEqual(m.nearest_rank(21), 20)


class TestSplitWindow(unittest.TestCase):
	def test_whole_days_whole_hours_and_live_edges(self):
		from dartwing.dartwing_core.background_jobs.metrics_math import split_window

		parts = split_window(datetime(2026, 3, 1, 13, 5), datetime(2026, 3, 4, 1, 20))
		self.assertEqual(
			parts.live,
			(
				(datetime(2026, 3, 1, 13, 5), datetime(2026, 3, 1, 14)),
				(datetime(2026, 3, 4, 1), datetime(2026, 3, 4, 1, 20)),
			),
		)
		self.assertEqual(
			parts.hours,
			(
				(datetime(2026, 3, 1, 14), datetime(2026, 3, 2)),
				(datetime(2026, 3, 4), datetime(2026, 3, 4, 1)),
			),
		)
		self.assertEqual(parts.days, ((datetime(2026, 3, 2), datetime(2026, 3, 4)),))

	def test_aligned_and_short_windows(self):
		from dartwing.dartwing_core.background_jobs.metrics_math import split_window

		day = split_window(datetime(2026, 3, 1), datetime(2026, 3, 2))
		self.assertEqual(
			(day.live, day.hours, day.days), ((), (), ((datetime(2026, 3, 1), datetime(2026, 3, 2)),))
		)
		short = split_window(datetime(2026, 3, 1, 1, 5), datetime(2026, 3, 1, 2, 2))
		self.assertEqual(
			(short.live, short.hours, short.days),
			(((datetime(2026, 3, 1, 1, 5), datetime(2026, 3, 1, 2, 2)),), (), ()),
		)

	def test_the_parts_tile_the_window(self):
		import random

		from dartwing.dartwing_core.background_jobs.metrics_math import split_window

		rng = random.Random(3)
		for _ in range(500):
			start = datetime(2026, 1, 1) + timedelta(seconds=rng.randint(0, 90 * 86400))
			end = start + timedelta(seconds=rng.randint(1, 90 * 86400))
			parts = split_window(start, end)
			pieces = sorted(parts.live + parts.hours + parts.days)
			self.assertEqual(pieces[0][0], start)
			self.assertEqual(pieces[-1][1], end)
			for (_a, b), (c, _d) in itertools.pairwise(pieces):
				self.assertEqual(b, c)
			for a, b in parts.hours:
				self.assertEqual((a.minute, a.second, a.microsecond, b.minute, b.second), (0, 0, 0, 0, 0))
			for a, b in parts.days:
				self.assertEqual((a.hour, a.minute, b.hour, b.minute), (0, 0, 0, 0))
			self.assertLessEqual(len(parts.live), 2)
