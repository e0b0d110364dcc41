"""Guaranteed execution on real workers: retries, dead letter, dependencies, cancellation, retention.

The scheduler would run the sweeps every minute; these tests call the same sweep functions
in-process (``tick``) so they finish in seconds. Workers are real processes; data is committed.
"""

import time
from datetime import timedelta

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import dead_letter, engine, scheduler
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	end_unfinished_jobs,
	fresh_row,
	history,
	make_job_type,
	make_tenant,
	submit_as,
	update_jobs_directly,
	wait_for_status,
)
from dartwing.tests.utils import wait_until


def tick() -> None:
	scheduler.retry_due_jobs()
	frappe.db.commit()


class TestRetriesAndDeadLetter(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")

	def test_a_flaky_job_completes_on_its_third_attempt_with_each_retry_logged(self):
		job_type = make_job_type("dartwing.demo.demo_flaky", max_retries=5)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"fail_times": 2})
		failed = wait_for_status(job, "Failed")
		self.assertIsNotNone(failed.next_retry_at)
		self.assertEqual(failed.error_type, "TransientError")
		done = wait_for_status(job, "Completed", tick=tick)
		self.assertEqual(done.retry_count, 2)
		self.assertEqual(frappe.parse_json(fresh_row(job, ("result",)).result), {"attempt": 3})
		transitions = history(job)
		self.assertIn(("Running", "Failed", 1), transitions)
		self.assertIn(("Running", "Failed", 2), transitions)
		self.assertIn(("Failed", "Pending", 2), transitions)
		self.assertEqual(transitions[-1], ("Running", "Completed", 3))
		attempts = frappe.parse_json(fresh_row(job, ("attempts",)).attempts)
		self.assertEqual([a["attempt"] for a in attempts], [1, 2])

	def test_a_permanent_error_goes_straight_to_dead_letter_with_full_context(self):
		job_type = make_job_type("dartwing.demo.demo_fail", max_retries=5)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org)
		row = wait_for_status(job, "Dead Letter")
		self.assertEqual(row.error_type, "PermanentError")
		self.assertEqual(row.retry_count, 0)
		detail = fresh_row(job, ("error_traceback", "attempts"))
		self.assertIn("demo_fail always fails", detail.error_traceback)
		self.assertEqual(len(frappe.parse_json(detail.attempts)), 1)
		self.assertEqual(history(job)[-1], ("Running", "Dead Letter", 1))

	def test_transient_failures_past_max_retries_end_in_dead_letter(self):
		job_type = make_job_type("dartwing.demo.demo_flaky", max_retries=1)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"fail_times": 5})
		row = wait_for_status(job, "Dead Letter", tick=tick)
		self.assertEqual(row.retry_count, 1)
		self.assertEqual(
			[h for h in history(job) if h[0] == "Running"],
			[("Running", "Failed", 1), ("Running", "Dead Letter", 2)],
		)

	def test_admins_retry_and_delete_dead_letters_and_both_are_recorded(self):
		job_type = make_job_type("dartwing.demo.demo_flaky", max_retries=0)
		frappe.db.commit()
		to_retry = submit_as(self.owner, job_type, self.org, {"fail_times": 1})
		to_delete = submit_as(self.owner, job_type, self.org, {"fail_times": 1, "other": True})
		wait_for_status(to_retry, "Dead Letter")
		wait_for_status(to_delete, "Dead Letter")
		listed = dead_letter.list_dead_letters(job_type=job_type)
		self.assertEqual({j["job_id"] for j in listed["jobs"]}, {to_retry, to_delete})
		self.assertTrue(all(j["attempts"] and j["error"]["traceback"] for j in listed["jobs"]))
		with self.set_user(self.owner), self.assertRaises(frappe.PermissionError):
			dead_letter.retry_dead_letters([to_retry])
		result = dead_letter.retry_dead_letters([to_retry, "no-such-job"])
		frappe.db.commit()
		self.assertEqual(result["retried"], [to_retry])
		self.assertIn("no-such-job", result["failed"])
		# attempt 2 of a job with fail_times=1 succeeds
		wait_for_status(to_retry, "Completed")
		retry_row = frappe.get_all(
			"Job Execution Log",
			filters={"job": to_retry, "from_status": "Dead Letter"},
			fields=["to_status", "actor"],
		)
		self.assertEqual([(r.to_status, r.actor) for r in retry_row], [("Pending", "Administrator")])
		deleted = dead_letter.delete_dead_letters([to_delete, to_retry])
		frappe.db.commit()
		self.assertEqual(deleted["deleted"], [to_delete])
		self.assertIn(to_retry, deleted["failed"])
		self.assertIsNone(fresh_row(to_delete))
		self.assertEqual(frappe.db.count("Job Execution Log", {"job": to_delete}), 0)


class TestDependenciesAndCancellation(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.member, _ = make_tenant("Member", org=cls.org)

	def test_a_chain_completes_in_order(self):
		job_type = make_job_type("dartwing.demo.demo_sleep")
		frappe.db.commit()
		a = submit_as(self.owner, job_type, self.org, {"seconds": 0.5, "steps": 1})
		b = submit_as(self.owner, job_type, self.org, {"seconds": 0.2, "steps": 1, "b": 1}, depends_on=[a])
		c = submit_as(self.owner, job_type, self.org, {"seconds": 0.2, "steps": 1, "c": 1}, depends_on=[b])
		wait_for_status(c, "Completed")
		rows = {name: fresh_row(name, ("started_at", "completed_at")) for name in (a, b, c)}
		self.assertLessEqual(rows[a].completed_at, rows[b].started_at)
		self.assertLessEqual(rows[b].completed_at, rows[c].started_at)

	def test_when_a_parent_fails_for_good_its_dependents_are_dead_lettered_naming_it(self):
		failing = make_job_type("dartwing.demo.demo_fail")
		job_type = make_job_type()
		frappe.db.commit()
		a = submit_as(self.owner, failing, self.org)
		b = submit_as(self.owner, job_type, self.org, {"b": 1}, depends_on=[a])
		c = submit_as(self.owner, job_type, self.org, {"c": 1}, depends_on=[b])
		wait_for_status(a, "Dead Letter")
		for child, parent in ((b, a), (c, b)):
			row = wait_for_status(child, "Dead Letter")
			self.assertIn(parent, row.error_message)
			self.assertEqual(row.error_type, "DependencyFailed")

	def test_canceling_a_pending_job_is_immediate_and_records_who(self):
		job_type = make_job_type("dartwing.demo.demo_sleep")
		frappe.db.commit()
		parent = submit_as(self.owner, job_type, self.org, {"seconds": 3, "steps": 3})
		waiting = submit_as(self.owner, job_type, self.org, {"w": 1}, depends_on=[parent])
		self.assertEqual(fresh_row(waiting).status, "Pending")
		with self.set_user(self.owner):
			reply = engine.cancel_job(waiting)
		frappe.db.commit()
		self.assertEqual(reply.status, "Canceled")
		row = fresh_row(waiting, ("status", "canceled_by", "canceled_at"))
		self.assertEqual((row.status, row.canceled_by), ("Canceled", self.owner))
		self.assertIsNotNone(row.canceled_at)
		wait_for_status(parent, "Completed")

	def test_canceling_a_running_job_stops_it_at_its_next_checkpoint(self):
		job_type = make_job_type("dartwing.demo.demo_sleep")
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"seconds": 20, "steps": 40})
		wait_for_status(job, "Running")
		horse = int(fresh_row(job, ("worker",)).worker.rsplit(":", 1)[1])
		with self.set_user(self.owner):
			reply = engine.cancel_job(job)
		frappe.db.commit()
		self.assertTrue(reply.cancel_requested)
		started = time.monotonic()
		wait_for_status(job, "Canceled", timeout=10)
		self.assertLess(time.monotonic() - started, 5)
		# once the work horse has exited the handler can write nothing more
		wait_until(lambda: not _alive(horse), timeout=15)
		self.assertEqual(fresh_row(job).status, "Canceled")
		self.assertNotIn("Completed", [h[1] for h in history(job)])

	def test_a_handler_that_ignores_cancellation_is_stopped_by_force_after_the_grace_period(self):
		job_type = make_job_type("dartwing.demo.demo_sleep_uncooperative", timeout_seconds=120)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"seconds": 90})
		wait_for_status(job, "Running")
		worker_pid = int(fresh_row(job, ("worker",)).worker.rsplit(":", 1)[1])
		with self.set_user(self.owner):
			engine.cancel_job(job)
		frappe.db.commit()
		wait_for_status(job, "Canceled", timeout=30)
		wait_until(lambda: not _alive(worker_pid), timeout=15)

	def test_a_member_cannot_cancel_someone_elses_job_and_ended_jobs_cannot_be_canceled(self):
		job_type = make_job_type()
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"m": 1})
		wait_for_status(job, "Completed")
		with self.set_user(self.member), self.assertRaises(frappe.PermissionError):
			engine.cancel_job(job)
		with self.set_user(self.owner), self.assertRaisesRegex(frappe.ValidationError, "cannot be canceled"):
			engine.cancel_job(job)


def _alive(pid: int) -> bool:
	import os

	try:
		os.kill(pid, 0)
	except ProcessLookupError:
		return False
	return True


class TestTenancyChangesBeforeExecution(WorkersTestCase):
	def test_a_submitter_who_lost_membership_gets_permission_denied_without_retry(self):
		owner, org = make_tenant("Owner")
		member, _ = make_tenant("Member", org=org)
		sleeper = make_job_type("dartwing.demo.demo_sleep")
		job_type = make_job_type(max_retries=5)
		frappe.db.commit()
		parent = submit_as(owner, sleeper, org, {"seconds": 2, "steps": 2})
		waiting = submit_as(member, job_type, org, {"x": 1}, depends_on=[parent])
		membership = frappe.db.get_value("Org Member", {"organization": org, "role": "Member"})
		frappe.db.set_value("Org Member", membership, "status", "Inactive")
		frappe.db.commit()
		row = wait_for_status(waiting, "Dead Letter")
		self.assertEqual((row.error_message, row.retry_count), ("Permission denied", 0))

	def test_a_job_whose_organization_was_deleted_fails_with_organization_not_found(self):
		owner, org = make_tenant("Owner")
		sleeper = make_job_type("dartwing.demo.demo_sleep")
		job_type = make_job_type(max_retries=5)
		frappe.db.commit()
		parent = submit_as(owner, sleeper, org, {"seconds": 2, "steps": 2})
		waiting = submit_as(owner, job_type, org, {"x": 1}, depends_on=[parent])
		frappe.db.sql("DELETE FROM `tabOrganization` WHERE name = %s", (org,))
		frappe.db.commit()
		row = wait_for_status(waiting, "Dead Letter")
		self.assertEqual((row.error_message, row.retry_count), ("Organization not found", 0))


class TestRetention(FrappeTestCase):
	def test_purge_deletes_jobs_ended_before_the_retention_window_with_their_logs(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type()
		frappe.db.commit()
		old = submit_as(owner, job_type, org, {"old": 1})
		recent = submit_as(owner, job_type, org, {"recent": 1})
		unfinished = submit_as(owner, job_type, org, {"unfinished": 1}, depends_on=[recent])
		long_ago = now_datetime() - timedelta(days=31)
		for name, ended in ((old, long_ago), (recent, now_datetime())):
			update_jobs_directly(
				org,
				"UPDATE `tabBackground Job` SET status = 'Completed', completed_at = %s WHERE name = %s",
				(ended, name),
			)
		update_jobs_directly(
			org, "UPDATE `tabBackground Job` SET creation = %s WHERE name = %s", (long_ago, unfinished)
		)
		frappe.db.commit()
		self.assertGreater(frappe.db.count("Job Execution Log", {"job": old}), 0)
		scheduler.purge_old_jobs(days=30)
		self.assertIsNone(fresh_row(old))
		self.assertEqual(frappe.db.count("Job Execution Log", {"job": old}), 0)
		self.assertIsNotNone(fresh_row(recent))
		self.assertIsNotNone(fresh_row(unfinished))


class TestSweepsRunTwiceAtOnce(FrappeTestCase):
	"""Two scheduler processes running the same sweep at the same moment move each job once."""

	def test_concurrent_retry_sweeps_move_every_due_job_exactly_once(self):
		import threading

		owner, org = make_tenant("Owner")
		job_type = make_job_type(max_running_per_org=50)
		frappe.db.commit()
		# no worker class of its own: on a bench, bench's worker would run these 12 for later classes
		self.addCleanup(end_unfinished_jobs, now_datetime(), wait=False)
		jobs = [submit_as(owner, job_type, org, {"sweep": i}) for i in range(12)]
		update_jobs_directly(
			org,
			"""UPDATE `tabBackground Job` SET status = 'Failed', next_retry_at = %s WHERE name IN %s""",
			(now_datetime() - timedelta(seconds=5), tuple(jobs)),
		)
		frappe.db.commit()
		site, moved, barrier = frappe.local.site, [], threading.Barrier(2)

		def sweep():
			frappe.init(site)
			frappe.connect()
			try:
				barrier.wait()
				moved.append(scheduler.retry_due_jobs())
				frappe.db.commit()
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=sweep) for _ in range(2)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join()
		frappe.db.rollback()
		# The sweep is global (other tests' due jobs may move too); each of ours moved exactly once.
		self.assertGreaterEqual(sum(moved), len(jobs))
		for job in jobs:
			self.assertEqual(frappe.db.count("Job Execution Log", {"job": job, "from_status": "Failed"}), 1)
