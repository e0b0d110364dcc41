"""Regressions found in review: event rooms for ex-members, retry budgets after many manual retries,
and dispatch with a backlog of jobs waiting on a parent."""

import threading
import time
from unittest import mock

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import (
	config,
	dispatcher,
	engine,
	executor,
	outcome,
	progress,
	retry,
	state,
)
from dartwing.dartwing_core.background_jobs.errors import TransientError
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import (
	fresh_row,
	make_job_type,
	make_tenant,
	submit_as,
	update_jobs_directly,
)


class TestEventRooms(FrappeTestCase):
	def test_a_submitter_whose_membership_ended_is_not_sent_the_jobs_events(self):
		user, org = make_tenant("Member")
		job = {"name": "any-job", "organization": org, "submitted_by": user}
		self.assertIn(f"user:{user}", progress.rooms_for(job))
		membership = frappe.db.get_value("Org Member", {"organization": org})
		frappe.db.set_value("Org Member", membership, "status", "Inactive")
		# The answer is reused for SUBMITTER_ROOM_RECHECK_SECONDS (a claim and its completion ask once);
		# once that has passed, the ex-member is left out.
		later = time.monotonic() + config.SUBMITTER_ROOM_RECHECK_SECONDS + 0.01
		with mock.patch.object(progress.time, "monotonic", return_value=later):
			rooms = progress.rooms_for(job)
		self.assertEqual(rooms, [f"doc:Background Job/{job['name']}", f"doc:Organization/{org}"])

	def test_the_submitters_room_is_checked_once_per_recheck_interval(self):
		user, org = make_tenant("Member")
		job = {"name": "any-job", "organization": org, "submitted_by": user}
		with mock.patch.object(
			progress.permissions, "can_act_in", wraps=progress.permissions.can_act_in
		) as asked:
			for _ in range(3):
				progress.rooms_for(job)
			self.assertEqual(asked.call_count, 1)
			later = time.monotonic() + config.SUBMITTER_ROOM_RECHECK_SECONDS + 0.01
			with mock.patch.object(progress.time, "monotonic", return_value=later):
				progress.rooms_for(job)
			self.assertEqual(asked.call_count, 2)


class TestRetryBudget(FrappeTestCase):
	def test_a_budget_renewed_many_times_still_decides_and_backs_off_from_its_start(self):
		job = frappe._dict(retry_count=29, max_retries=29, budget_start=24)  # after many manual retries
		renewed = frappe._dict(job, **outcome.fresh_budget(job, 5))
		self.assertEqual((renewed.retry_count, renewed.budget_start, renewed.max_retries), (30, 30, 35))
		spent, size = outcome.retry_budget(renewed)
		self.assertEqual((spent, size), (0, 5))
		policy = retry.RetryPolicy(max_retries=size, base_seconds=60, factor=2, max_seconds=3600, jitter=0)
		decision = retry.decide(
			TransientError("x"), retry_count=spent, policy=policy, now=frappe.utils.now_datetime()
		)
		self.assertTrue(decision.retry)
		self.assertIn("in 60s", decision.reason)
		exhausted = frappe._dict(renewed, retry_count=35)
		self.assertEqual(outcome.retry_budget(exhausted), (5, 5))

	def _fail_attempt(self, job: str, retry_count: int) -> frappe._dict:
		"""The job runs attempt ``retry_count + 1`` and fails transiently; its row afterwards."""
		update_jobs_directly(
			frappe.db.get_value("Background Job", job, "organization"),
			"UPDATE `tabBackground Job` SET status = %s, retry_count = %s, next_retry_at = NULL WHERE name = %s",
			(JobStatus.RUNNING.value, retry_count, job),
		)
		outcome.record_failure(state.load(job), TransientError("vendor down"))
		return frappe.db.get_value(
			"Background Job", job, ["status", "next_retry_at", "modified"], as_dict=True
		)

	def test_editing_the_job_types_max_retries_in_flight_changes_neither_backoff_nor_exhaustion(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(
			max_retries=3, backoff_base_seconds=60, backoff_factor=2, backoff_max_seconds=3600
		)
		job = submit_as(owner, job_type, org)
		first = self._fail_attempt(job, 0)
		self.assertEqual(first.status, JobStatus.FAILED.value)
		self.assertAlmostEqual((first.next_retry_at - first.modified).total_seconds(), 60, delta=2)
		frappe.db.set_value("Job Type", job_type, "max_retries", 1)  # an operator edits it meanwhile
		second = self._fail_attempt(job, 1)
		self.assertEqual(second.status, JobStatus.FAILED.value, "the job keeps the budget it started with")
		self.assertAlmostEqual((second.next_retry_at - second.modified).total_seconds(), 120, delta=2)
		frappe.db.set_value("Job Type", job_type, "max_retries", 10)
		self.assertEqual(self._fail_attempt(job, 2).status, JobStatus.FAILED.value)
		self.assertEqual(self._fail_attempt(job, 3).status, JobStatus.DEAD_LETTER.value, "3 retries, not 10")
		log = frappe.db.get_value("Job Execution Log", {"job": job, "to_status": "Dead Letter"}, "message")
		self.assertIn("Retries exhausted (3 of 3)", log)

	def test_a_persons_retry_starts_a_budget_of_the_job_types_size_at_that_time(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(max_retries=1)
		job = submit_as(owner, job_type, org)
		self._fail_attempt(job, 0)
		self.assertEqual(self._fail_attempt(job, 1).status, JobStatus.DEAD_LETTER.value)
		frappe.db.set_value("Job Type", job_type, "max_retries", 2)
		frappe.set_user(owner)
		engine.retry_job(job)
		frappe.set_user("Administrator")
		row = frappe.db.get_value(
			"Background Job", job, ["retry_count", "budget_start", "max_retries"], as_dict=True
		)
		self.assertEqual((row.retry_count, row.budget_start, row.max_retries), (2, 2, 4))
		self.assertEqual(self._fail_attempt(job, 2).status, JobStatus.FAILED.value)
		self.assertEqual(self._fail_attempt(job, 3).status, JobStatus.FAILED.value)
		self.assertEqual(self._fail_attempt(job, 4).status, JobStatus.DEAD_LETTER.value)

	def test_the_admin_retry_checks_the_admin_right_itself(self):
		owner, org = make_tenant("Owner")
		job = submit_as(owner, make_job_type(max_retries=0), org)
		self._fail_attempt(job, 0)
		frappe.set_user(owner)  # the organization's Owner, not a System Manager
		try:
			with self.assertRaises(frappe.PermissionError):
				engine.retry_job_as_admin(job)
		finally:
			frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Background Job", job, "status"), JobStatus.DEAD_LETTER.value)
		self.assertEqual(engine.retry_job_as_admin(job).status, JobStatus.PENDING.value)


class TestDispatchWithWaitingBacklog(FrappeTestCase):
	"""Dispatch decisions with nothing running the jobs: a dispatched job stays Queued, holding its slot.
	The hand-off to RQ (``frappe.enqueue``) is replaced for these tests, because a real bench's own
	worker (`bench start`) would otherwise run the jobs and free their slots while a test looks."""

	def setUp(self) -> None:
		patcher = mock.patch.object(dispatcher.frappe, "enqueue")
		patcher.start()
		self.addCleanup(patcher.stop)

	def test_jobs_waiting_on_a_parent_do_not_crowd_the_parent_out_of_dispatch(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(max_running_per_org=1)
		frappe.db.commit()
		blocker = submit_as(owner, job_type, org, {"blocker": 1})  # takes the only slot (no workers here)
		parent = submit_as(owner, job_type, org, {"parent": 1}, priority="Low")
		children = [
			submit_as(owner, job_type, org, {"child": i}, priority="Critical", depends_on=[parent])
			for i in range(5)
		]
		update_jobs_directly(
			org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE name = %s", (blocker,)
		)
		frappe.db.commit()
		# A window smaller than the waiting backlog: the waiting children must not fill it.
		self.assertEqual(dispatcher.dispatch_org(org, limit=3), 1, "dispatch saw only the waiting children")
		frappe.db.commit()
		self.assertEqual(fresh_row(parent).status, "Queued")
		self.assertEqual({fresh_row(c).status for c in children}, {"Pending"})

	def test_a_freed_slot_goes_to_the_highest_priority_then_the_oldest_ready_job(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(max_running_per_org=1)
		frappe.db.commit()
		holder = submit_as(owner, job_type, org, {"first": 1})  # Queued: the only slot (no workers here)
		low = submit_as(owner, job_type, org, {"low": 1}, priority="Low")
		older = submit_as(owner, job_type, org, {"older": 1})
		high = submit_as(owner, job_type, org, {"high": 1}, priority="High")
		newer = submit_as(owner, job_type, org, {"newer": 1})
		waiting = submit_as(owner, job_type, org, {"waiting": 1}, priority="Critical", depends_on=[low])
		self.assertEqual({fresh_row(j).status for j in (low, older, high, newer, waiting)}, {"Pending"})
		order = []
		for _ in range(4):
			# what a completion does: the slot is given back, then its type is dispatched
			update_jobs_directly(
				org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE name = %s", (holder,)
			)
			frappe.db.commit()
			self.assertEqual(dispatcher.dispatch_now(org, dispatcher.Target(job_types={job_type})), 1)
			holder = frappe.db.get_value("Background Job", {"organization": org, "status": "Queued"})
			order.append(holder)
		self.assertEqual(order, [high, older, newer, low])
		self.assertEqual(fresh_row(waiting).status, "Pending")  # its parent has not completed yet
		update_jobs_directly(
			org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE name = %s", (low,)
		)
		frappe.db.commit()
		target = dispatcher.Target(job_types={job_type}, parents={low})
		self.assertEqual(dispatcher.dispatch_now(org, target), 1)
		self.assertEqual(fresh_row(waiting).status, "Queued")

	def test_a_dispatch_racing_a_slot_release_never_passes_the_cap(self):
		# cap 1: a submission's dispatch passes its look-ahead while the slot is free, then pauses; the
		# dispatch after the slot's release queues the older job meanwhile. Resumed, the submission's
		# dispatch must see that under the lock and queue nothing.
		owner, org = make_tenant("Owner")
		job_type = make_job_type(max_running_per_org=1)
		frappe.db.commit()
		holder = submit_as(owner, job_type, org, {"holder": 1})  # Queued: the only slot
		older = submit_as(owner, job_type, org, {"older": 1})
		frappe.set_user(owner)
		newer = engine.submit_job(job_type, org, {"newer": 1}).name
		dispatcher._forget_scheduled()  # its dispatch is run by hand below
		frappe.db.commit()
		frappe.set_user("Administrator")
		update_jobs_directly(
			org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE name = %s", (holder,)
		)
		frappe.db.commit()

		looked, resume, site, errors = threading.Event(), threading.Event(), frappe.local.site, []
		real_caps_taken = dispatcher._caps_taken

		def pausing_caps_taken(organization, target):
			taken = real_caps_taken(organization, target)
			if threading.current_thread().name == "submission":
				looked.set()
				resume.wait(10)
			return taken

		def submission_dispatch():
			frappe.init(site)
			frappe.connect()
			try:
				dispatcher.dispatch_now(org, dispatcher.Target(jobs={newer}))
			except Exception as exc:
				errors.append(repr(exc))
			finally:
				frappe.destroy()

		with mock.patch.object(dispatcher, "_caps_taken", pausing_caps_taken):
			thread = threading.Thread(target=submission_dispatch, name="submission")
			thread.start()
			self.assertTrue(looked.wait(10))
			self.assertEqual(dispatcher.dispatch_now(org, dispatcher.Target(job_types={job_type})), 1)
			resume.set()
			thread.join(10)
		self.assertEqual(errors, [])
		frappe.db.rollback()
		self.assertEqual(fresh_row(older).status, "Queued")
		self.assertEqual(fresh_row(newer).status, "Pending")
