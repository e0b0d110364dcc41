"""Jobs for later (``submit_job(..., run_at=...)``) on real MariaDB, Redis and workers.

The scheduler would call the due sweep on every tick; the tests call ``scheduler.release_due_jobs``
themselves, with ``run_at`` a second or two ahead, and wait on conditions (never a fixed sleep).
"""

import time
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_system_timezone, now_datetime

from dartwing.dartwing_core.background_jobs import engine, metrics, queries, scheduler
from dartwing.dartwing_core.background_jobs.errors import QueueFull
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	fresh_row,
	history,
	make_job_type,
	make_tenant,
	submit_as,
	wait_for_status,
)


def sweep() -> None:
	scheduler.release_due_jobs()
	frappe.db.commit()


class TestScheduledJobsRun(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type()

	def test_a_scheduled_job_never_starts_before_run_at_and_starts_after_it_is_due(self):
		run_at = now_datetime() + timedelta(seconds=2)
		job = submit_as(self.owner, self.job_type, self.org, {"n": 1}, run_at=run_at)
		self.assertEqual(fresh_row(job).status, JobStatus.SCHEDULED.value)
		# Sweeps before run_at leave it alone, however often they run.
		while now_datetime() < run_at - timedelta(milliseconds=300):
			sweep()
			self.assertEqual(fresh_row(job).status, JobStatus.SCHEDULED.value)
			time.sleep(0.1)
		row = wait_for_status(job, JobStatus.COMPLETED.value, tick=sweep)
		started = fresh_row(job, ("started_at", "run_at"))
		self.assertGreaterEqual(started.started_at, started.run_at)
		self.assertEqual(row.retry_count, 0)
		self.assertEqual(
			[(f, t) for f, t, _attempt in history(job)][:3],
			[("", "Scheduled"), ("Scheduled", "Pending"), ("Pending", "Queued")],
		)

	def test_a_run_at_in_the_past_or_now_runs_at_once(self):
		for run_at in (now_datetime() - timedelta(hours=1), now_datetime()):
			job = submit_as(self.owner, self.job_type, self.org, {"past": str(run_at)}, run_at=run_at)
			wait_for_status(job, JobStatus.COMPLETED.value)  # no sweep needed
			self.assertNotIn("Scheduled", [t for _f, t, _a in history(job)])

	def test_iso_text_with_an_offset_is_converted_to_the_site_time_zone(self):
		# now_datetime() is naive in the site's zone (System Settings), not in this process's zone
		local = (now_datetime() + timedelta(hours=2)).replace(tzinfo=ZoneInfo(get_system_timezone()))
		# an offset other than the site's, so the text must be converted to mean the same instant
		offset = next(
			timezone(delta)
			for delta in (timedelta(hours=-7), timedelta(hours=5, minutes=30))
			if delta != local.utcoffset()
		)
		text = local.astimezone(offset).isoformat()
		local = local.replace(tzinfo=None)
		job = submit_as(self.owner, self.job_type, self.org, {"iso": 1}, run_at=text)
		stored = fresh_row(job, ("run_at", "status"))
		self.assertEqual(stored.status, JobStatus.SCHEDULED.value)
		self.assertLess(abs((stored.run_at - local).total_seconds()), 1)

	def test_canceling_a_scheduled_job_ends_it_and_the_sweep_never_releases_it(self):
		run_at = now_datetime() + timedelta(seconds=1)
		job = submit_as(self.owner, self.job_type, self.org, {"cancel": 1}, run_at=run_at)
		frappe.set_user(self.owner)
		try:
			reply = engine.cancel_job(job)
			frappe.db.commit()
		finally:
			frappe.set_user("Administrator")
		self.assertEqual(reply.status, JobStatus.CANCELED.value)
		while now_datetime() < run_at + timedelta(seconds=1):
			sweep()
			time.sleep(0.2)
		self.assertEqual(fresh_row(job).status, JobStatus.CANCELED.value)


class TestScheduledJobsSubmit(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type(dedup_window_seconds=300, max_queued_per_org=2)

	def setUp(self):
		frappe.set_user(self.owner)

	def tearDown(self):
		frappe.set_user("Administrator")

	def _jobs(self) -> int:
		return frappe.db.count("Background Job", {"job_type": self.job_type})

	def test_bad_run_at_values_are_refused_and_nothing_is_written(self):
		before = self._jobs()
		for bad in ("tomorrow", "2026-13-01T00:00:00", "9999-01-01T00:00:00", "0202-01-01T00:00:00", 17, []):
			with self.subTest(run_at=bad), self.assertRaises(frappe.ValidationError):
				engine.submit_job(self.job_type, self.org, {"bad": repr(bad)}, run_at=bad)
		self.assertEqual(self._jobs(), before)

	def test_an_identical_submission_inside_the_window_returns_the_scheduled_job(self):
		run_at = now_datetime() + timedelta(hours=1)
		first = engine.submit_job(self.job_type, self.org, {"same": 1}, run_at=run_at)
		second = engine.submit_job(self.job_type, self.org, {"same": 1}, run_at=run_at + timedelta(hours=1))
		self.assertEqual(second.name, first.name)
		self.assertTrue(second.flags.deduplicated)
		self.assertEqual(second.status, JobStatus.SCHEDULED.value)

	def test_jobs_for_later_do_not_count_against_the_queued_cap(self):
		later = now_datetime() + timedelta(days=1)
		for n in range(4):
			engine.submit_job(self.job_type, self.org, {"later": n}, run_at=later)
		engine.submit_job(self.job_type, self.org, {"now": 1})
		engine.submit_job(self.job_type, self.org, {"now": 2})
		with self.assertRaises(QueueFull):  # two wait now: the cap
			engine.submit_job(self.job_type, self.org, {"now": 3})

	def test_scheduled_jobs_are_listed_with_run_at_and_counted_in_metrics(self):
		run_at = now_datetime().replace(microsecond=0) + timedelta(hours=3)
		before = metrics.get_job_metrics(self.org)
		job = engine.submit_job(self.job_type, self.org, {"listed": 1}, run_at=run_at)
		listed = queries.list_jobs({"organization": self.org, "status": "Scheduled"}, limit=100)
		mine = [j for j in listed["jobs"] if j["job_id"] == job.name]
		self.assertEqual(mine[0]["run_at"], run_at.isoformat())
		counted = metrics.get_job_metrics(self.org)
		self.assertEqual(counted["scheduled"], before["scheduled"] + 1)
		self.assertEqual(counted["by_status"]["Scheduled"], before["by_status"]["Scheduled"] + 1)
		self.assertEqual(counted["queue_depth"], before["queue_depth"])  # not waiting in the queue

	def test_the_due_sweep_reads_the_status_run_at_index(self):
		plan = frappe.db.sql(
			"""EXPLAIN SELECT name FROM `tabBackground Job`
			WHERE status = 'Scheduled' AND run_at <= NOW() ORDER BY run_at LIMIT 200""",
			as_dict=True,
		)
		self.assertIn("run_at", plan[0].key or "")
