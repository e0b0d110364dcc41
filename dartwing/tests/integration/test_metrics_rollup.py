"""The metrics rollup kept by the engine equals a recount of the job table, through real transitions.

Each test checks the rollup rows the transitions wrote (incrementally, in Python, before each commit)
against `metrics_rollup.rebuild` (a recount in SQL from the job table) row by row, every column including
the histogram, and `get_job_metrics` against the live table. Real RQ workers run the jobs; the concurrent
transitions are real threads with their own connections. Every tenant and job type is unique.
"""

import threading
from datetime import timedelta
from unittest import mock

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from dartwing.dartwing_core.api import jobs as api
from dartwing.dartwing_core.background_jobs import engine, metrics_rollup, scheduler, state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	make_job_type,
	make_tenant,
	submit_as,
	update_jobs_directly,
	wait_for_status,
)

COLUMNS = ("period", "period_start", "job_type", "status", "failed_hour", "jobs", "durations")
COLUMNS += ("duration_sum_us", "duration_max_us", *metrics_rollup.HISTOGRAM_COLUMNS)


def rollup_rows(org: str) -> dict[str, tuple]:
	"""The organization's rollup rows that count something, by primary key."""
	rows = frappe.db.sql(
		f"SELECT name, {', '.join(f'`{c}`' for c in COLUMNS)} FROM `tabJob Metrics Rollup` "
		"WHERE organization = %s",
		(org,),
	)
	return {row[0]: tuple(row[1:]) for row in rows if row[6] or row[7]}


def recounted_rows(org: str) -> dict[str, tuple]:
	"""What a recount from the job table writes for the organization (rolled back afterwards)."""
	frappe.db.savepoint("recount")
	try:
		metrics_rollup.rebuild((org,), commit=False)
		return rollup_rows(org)
	finally:
		frappe.db.rollback(save_point="recount")


def live_counts(org: str) -> dict[tuple[str, str], int]:
	rows = frappe.db.sql(
		"SELECT job_type, status, COUNT(*) FROM `tabBackground Job` WHERE organization = %s "
		"GROUP BY job_type, status",
		(org,),
	)
	return {(job_type, status): n for job_type, status, n in rows}


def rollup_counts(org: str) -> dict[tuple[str, str], int]:
	rows = frappe.db.sql(
		"SELECT job_type, status, SUM(jobs) FROM `tabJob Metrics Rollup` WHERE organization = %s "
		"AND period = 'Day' GROUP BY job_type, status HAVING SUM(jobs) <> 0",
		(org,),
	)
	return {(job_type, status): int(n) for job_type, status, n in rows}


def tick() -> None:
	scheduler.retry_due_jobs()
	frappe.db.commit()


class RollupAssertions:
	def assert_rollup_is_exact(self, org: str) -> None:
		frappe.db.rollback()  # a fresh snapshot: what is committed now
		self.assertEqual(rollup_counts(org), live_counts(org))
		kept = rollup_rows(org)
		self.assertTrue(kept)
		self.assertEqual(kept, recounted_rows(org))


class TestRollupThroughWorkers(RollupAssertions, WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.noop = make_job_type("dartwing.demo.demo_noop", max_running_per_org=10)
		cls.flaky = make_job_type("dartwing.demo.demo_flaky", max_retries=3)
		cls.failing = make_job_type("dartwing.demo.demo_fail")

	def test_counts_and_durations_equal_a_recount_after_runs_retries_failures_cancels_and_user_retries(self):
		done = [submit_as(self.owner, self.noop, self.org, {"n": i}) for i in range(8)]
		flaky = submit_as(self.owner, self.flaky, self.org, {"fail_times": 2})
		dead = submit_as(self.owner, self.failing, self.org, {"n": 1})
		later = submit_as(
			self.owner, self.noop, self.org, {"later": 1}, run_at=now_datetime() + timedelta(days=2)
		)
		for job in done:
			wait_for_status(job, "Completed")
		wait_for_status(dead, "Dead Letter")
		wait_for_status(flaky, "Failed")  # waiting for its retry: counted in its failure hour
		self.assert_rollup_is_exact(self.org)
		wait_for_status(flaky, "Completed", timeout=60, tick=tick)  # Failed -> Pending -> ... -> Completed
		self.assert_rollup_is_exact(self.org)
		# a person retries the dead letter (Dead Letter -> Pending: its failure hour row goes down)
		frappe.set_user(self.owner)
		engine.retry_job(dead)
		frappe.db.commit()
		frappe.set_user("Administrator")
		wait_for_status(dead, "Dead Letter")
		frappe.set_user(self.owner)
		engine.cancel_job(later)  # Scheduled -> Canceled
		frappe.db.commit()
		frappe.set_user("Administrator")
		self.assert_rollup_is_exact(self.org)
		reply = api.get_job_metrics(organization=self.org, hours=24)
		self.assertEqual(reply["by_status"]["Completed"], 9)
		self.assertEqual(reply["by_status"]["Dead Letter"], 1)
		self.assertEqual(reply["by_status"]["Canceled"], 1)
		self.assertEqual(sum(c["failures"] for c in reply["failures_per_hour"]), 1)


class TestRollupTransactions(RollupAssertions, FrappeTestCase):
	"""Commits, rollbacks, savepoints and concurrent transitions, made in this process (no workers)."""

	def setUp(self):
		self.owner, self.org = make_tenant("Owner")
		# paused: nothing is dispatched, so no worker of this slot (a bench's, say) runs these jobs (D22)
		self.job_type = make_job_type(max_running_per_org=100, paused=1)
		frappe.db.commit()

	def submit(self, count: int) -> list[str]:
		return [submit_as(self.owner, self.job_type, self.org, {"n": i}) for i in range(count)]

	def test_a_rolled_back_change_and_a_change_undone_by_a_savepoint_are_not_counted(self):
		first, second = self.submit(2)
		job = state.load(first, for_update=True)
		state.transition(job, JobStatus.CANCELED, message="rolled back")
		frappe.db.rollback()
		with self.assertRaises(RuntimeError):
			with state.savepoint("rollup_test"):
				state.transition(state.load(second, for_update=True), JobStatus.CANCELED, message="undone")
				raise RuntimeError("the caller changes its mind")
		frappe.db.commit()
		self.assertNotIn((self.job_type, "Canceled"), rollup_counts(self.org))
		self.assertEqual(sum(rollup_counts(self.org).values()), 2)
		self.assert_rollup_is_exact(self.org)

	def test_a_failing_rollup_write_fails_the_commit_and_rolls_the_change_back(self):
		(job_name,) = self.submit(1)
		job = state.load(job_name, for_update=True)
		state.transition(job, JobStatus.CANCELED, message="not counted")
		with mock.patch.object(metrics_rollup, "upsert", side_effect=RuntimeError("rollup down")):
			with self.assertRaises(RuntimeError):
				frappe.db.commit()
		frappe.db.rollback()
		self.assertEqual(frappe.db.get_value("Background Job", job_name, "status"), job.status)
		self.assert_rollup_is_exact(self.org)
		# the next transaction of this process is counted again (nothing stale was left behind)
		state.transition(state.load(job_name, for_update=True), JobStatus.CANCELED, message="counted")
		frappe.db.commit()
		self.assertEqual(rollup_counts(self.org), {(self.job_type, "Canceled"): 1})

	def test_concurrent_transitions_on_the_same_rollup_rows_are_each_counted_once(self):
		jobs = self.submit(24)
		site, errors, barrier = frappe.local.site, [], threading.Barrier(4)

		def cancel(names):
			frappe.init(site)
			frappe.connect()
			try:
				barrier.wait()
				for name in names:
					# Pending -> Canceled -> Pending -> Canceled: three counted moves per job, each committed
					for target in (JobStatus.CANCELED, JobStatus.PENDING, JobStatus.CANCELED):
						state.transition(state.load(name, for_update=True), target, message="race")
						frappe.db.commit()
			except Exception as exc:  # reported below: a thread's failure must fail the test
				errors.append(exc)
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=cancel, args=(jobs[i::4],)) for i in range(4)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join()
		self.assertEqual(errors, [])
		frappe.db.rollback()  # a fresh snapshot: the threads' commits
		self.assertEqual(rollup_counts(self.org), {(self.job_type, "Canceled"): 24})
		self.assert_rollup_is_exact(self.org)

	def test_two_racing_transitions_of_one_job_count_only_the_winner(self):
		(job_name,) = self.submit(1)
		site, results, barrier = frappe.local.site, [], threading.Barrier(2)
		row = state.load(job_name)

		def race(target):
			frappe.init(site)
			frappe.connect()
			try:
				barrier.wait()
				results.append(state.transition(row, target, message="race") is not None)
				frappe.db.commit()
			finally:
				frappe.destroy()

		threads = [
			threading.Thread(target=race, args=(t,)) for t in (JobStatus.CANCELED, JobStatus.DEAD_LETTER)
		]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join()
		self.assertEqual(sorted(results), [False, True])
		self.assert_rollup_is_exact(self.org)

	def test_purged_jobs_keep_their_counts_and_metrics_still_count_them(self):
		jobs = self.submit(3)
		for name in jobs:
			state.transition(state.load(name, for_update=True), JobStatus.CANCELED, message="ended")
		frappe.db.commit()
		before = rollup_counts(self.org)
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET completed_at = %s WHERE name IN %s",
			(now_datetime() - timedelta(days=40), tuple(jobs)),
		)
		frappe.db.commit()
		scheduler.purge_old_jobs(days=30)
		frappe.db.rollback()
		self.assertEqual(live_counts(self.org), {})
		self.assertEqual(rollup_counts(self.org), before)
		day = now_datetime().replace(hour=0, minute=0, second=0, microsecond=0)
		reply = api.get_job_metrics(
			organization=self.org, from_date=str(day), to_date=str(day + timedelta(days=1))
		)
		self.assertEqual(reply["by_status"]["Canceled"], 3)

	def test_rows_changed_past_the_engine_then_moved_by_a_transition_stay_exact_after_the_recount(self):
		jobs = self.submit(2)
		update_jobs_directly(
			self.org, "UPDATE `tabBackground Job` SET status = 'Failed' WHERE name IN %s", (tuple(jobs),)
		)
		state.transition(state.load(jobs[0], for_update=True), JobStatus.PENDING, message="retried")
		frappe.db.commit()
		self.assertEqual(
			rollup_counts(self.org), {(self.job_type, "Pending"): 1, (self.job_type, "Failed"): 1}
		)
		self.assert_rollup_is_exact(self.org)

	def test_a_count_below_zero_reads_as_zero_and_the_metrics_still_answer(self):
		# what a status changed by hand in SQL, then moved by the engine, leaves in a whole hour
		self.submit(1)
		hour = now_datetime().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
		keys = metrics_rollup.keys_for(self.org, self.job_type, "Failed", hour, hour)
		metrics_rollup.upsert({key: metrics_rollup.Delta(jobs=-2) for key in keys})
		self.addCleanup(frappe.db.rollback)  # never committed
		with mock.patch.object(frappe, "logger", wraps=frappe.logger) as logger:
			reply = api.get_job_metrics(organization=self.org, hours=24)
		self.assertEqual(reply["by_status"]["Failed"], 0)
		self.assertEqual(reply["by_status"]["Pending"], 1)
		self.assertEqual(reply["failures_per_hour"], [])
		[row] = reply["by_job_type"]
		self.assertEqual((row["failed"], row["failure_rate"]), (0, None))
		self.assertEqual(logger.call_args.args, ("dartwing",))

	def test_members_see_only_their_organizations_rollup_rows(self):
		self.submit(1)
		other_owner, other_org = make_tenant("Owner")
		submit_as(other_owner, self.job_type, other_org, {"other": 1})
		frappe.db.commit()
		frappe.set_user(self.owner)
		try:
			visible = frappe.get_list("Job Metrics Rollup", fields=["organization"], limit_page_length=0)
			self.assertEqual({row.organization for row in visible}, {self.org})
			other_row = frappe.db.get_value("Job Metrics Rollup", {"organization": other_org}, "name")
			self.assertFalse(frappe.has_permission("Job Metrics Rollup", "read", other_row))
			mine = frappe.db.get_value("Job Metrics Rollup", {"organization": self.org}, "name")
			self.assertTrue(frappe.has_permission("Job Metrics Rollup", "read", mine))
			self.assertFalse(frappe.has_permission("Job Metrics Rollup", "write", mine))
		finally:
			frappe.set_user("Administrator")
