"""``waiting_for`` names the gate that really holds a job: for each gate, a job is held by it alone
(dispatch leaves it Pending), the answer names that gate, and once the gate opens dispatch queues it.

No workers: a dispatched job stays Queued (its RQ job waits in the slot's queue), which is exactly
what holds a slot. Site switches are set in ``frappe.local.conf``, where Frappe's code reads them, for
this process only (the worker tests set them in site_config.json).
"""

import contextlib
from datetime import timedelta

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import dispatcher, gates, pauses
from dartwing.tests.engine_utils import fresh_row, make_job_type, make_tenant, set_job_directly, submit_as


@contextlib.contextmanager
def local_conf(**values):
	previous = {key: frappe.local.conf.get(key) for key in values}
	frappe.local.conf.update(values)
	try:
		yield
	finally:
		frappe.local.conf.update(previous)


class TestWaitingFor(FrappeTestCase):
	def setUp(self) -> None:
		frappe.set_user("Administrator")
		self.user, self.org = make_tenant("Owner")
		frappe.db.commit()

	def status(self, job: str) -> str:
		return fresh_row(job).status

	def gate(self, job: str) -> dict:
		frappe.db.rollback()
		return gates.waiting_for(frappe.db.get_value("Background Job", job, "*", as_dict=True))

	def assert_held_then_released(self, job: str, gate: str, release) -> dict:
		"""Dispatch leaves the job Pending and the answer names ``gate``; after ``release`` it is queued."""
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Pending")
		answer = self.gate(job)
		self.assertEqual(answer["gate"], gate, answer)
		release()
		frappe.db.commit()
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Queued", f"still held after {gate} opened: {self.gate(job)}")
		return answer

	def test_a_job_for_later_waits_for_its_time(self):
		job_type = make_job_type()
		job = submit_as(self.user, job_type, self.org, run_at=now_datetime() + timedelta(hours=1))
		answer = self.gate(job)
		self.assertEqual(answer["gate"], "scheduled")
		self.assertGreater(answer["in_seconds"], 3500)

	def test_a_failed_attempt_waits_for_its_retry_time(self):
		job_type = make_job_type()
		job = submit_as(self.user, job_type, self.org)
		due = now_datetime() + timedelta(minutes=10)
		set_job_directly(job, {"status": "Failed", "next_retry_at": due})
		frappe.db.commit()
		answer = self.gate(job)
		self.assertEqual(answer["gate"], "retry")
		self.assertGreater(answer["in_seconds"], 500)

	def test_maintenance_mode_holds_every_start(self):
		job_type = make_job_type()
		with local_conf(maintenance_mode=1):
			job = submit_as(self.user, job_type, self.org)
			dispatcher.dispatch_now(self.org)
			self.assertEqual(self.status(job), "Pending")
			self.assertEqual(self.gate(job)["gate"], "site_maintenance")
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Queued")

	def test_a_paused_scheduler_holds_every_start(self):
		job_type = make_job_type()
		with local_conf(pause_scheduler=1):
			job = submit_as(self.user, job_type, self.org)
			dispatcher.dispatch_now(self.org)
			self.assertEqual(self.status(job), "Pending")
			self.assertEqual(self.gate(job)["gate"], "scheduler_paused")
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Queued")

	def test_a_suspended_organization_holds_its_jobs(self):
		job_type = make_job_type()
		job = submit_as(self.user, job_type, self.org)  # queued at once: suspend, then send it back
		frappe.db.set_value("Organization", self.org, "status", "Suspended")
		set_job_directly(job, "status", "Pending")  # as the executor's refusal does
		frappe.db.commit()

		def reactivate():
			frappe.db.set_value("Organization", self.org, "status", "Active")

		answer = self.assert_held_then_released(job, "organization_suspended", reactivate)
		self.assertEqual(answer["organization_status"], "Suspended")

	def test_a_paused_job_type_holds_its_jobs_and_names_who_paused_it(self):
		job_type = make_job_type()
		pauses.pause_job_type(job_type)
		frappe.db.commit()
		job = submit_as(self.user, job_type, self.org)
		answer = self.assert_held_then_released(
			job, "job_type_paused", lambda: pauses.resume_job_type(job_type)
		)
		self.assertEqual(answer["paused_by"], "Administrator")
		self.assertTrue(answer["paused_at"])

	def test_a_scheduled_job_of_a_paused_type_comes_due_waits_and_runs_after_resume(self):
		from dartwing.dartwing_core.background_jobs import scheduler

		job_type = make_job_type()
		job = submit_as(self.user, job_type, self.org, run_at=now_datetime() + timedelta(hours=1))
		pauses.pause_job_type(job_type)
		set_job_directly(job, "run_at", now_datetime() - timedelta(seconds=1))
		frappe.db.commit()
		scheduler.release_due_jobs()  # the tick's sweep: due, so Pending; paused, so not dispatched
		self.assertEqual(self.status(job), "Pending")
		self.assertEqual(self.gate(job)["gate"], "job_type_paused")
		pauses.resume_job_type(job_type)
		frappe.db.commit()  # the resume dispatches the type's waiting jobs after this commit
		self.assertEqual(self.status(job), "Queued")

	def test_parents_not_done_are_named(self):
		job_type = make_job_type()
		parent = submit_as(self.user, job_type, self.org, run_at=now_datetime() + timedelta(hours=1))
		job = submit_as(self.user, job_type, self.org, depends_on=[parent])
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Pending")
		answer = self.gate(job)
		self.assertEqual(answer["gate"], "parents")
		self.assertEqual(answer["parents"], [parent])
		set_job_directly(parent, "status", "Completed")
		frappe.db.commit()
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Queued")

	def test_the_organization_cap_says_n_of_m_busy(self):
		job_type = make_job_type(max_running_per_org=1)
		first = submit_as(self.user, job_type, self.org)
		job = submit_as(self.user, job_type, self.org)
		self.assertEqual(self.status(first), "Queued")
		answer = self.assert_held_then_released(
			job,
			"organization_cap",
			lambda: set_job_directly(first, "status", "Completed"),
		)
		self.assertEqual((answer["used"], answer["cap"]), (1, 1))

	def test_the_global_cap_holds_another_organizations_job(self):
		job_type = make_job_type(max_running_global=1, max_running_per_org=5)
		other_user, other_org = make_tenant("Owner")
		frappe.db.commit()
		first = submit_as(other_user, job_type, other_org)
		self.assertEqual(self.status(first), "Queued")
		job = submit_as(self.user, job_type, self.org)
		answer = self.assert_held_then_released(
			job, "global_cap", lambda: set_job_directly(first, "status", "Completed")
		)
		self.assertEqual((answer["used"], answer["cap"]), (1, 1))

	def test_the_start_window_says_when_the_next_slot_frees(self):
		job_type = make_job_type(rate_limit_starts=1, rate_limit_starts_window_seconds=3600)
		first = submit_as(self.user, job_type, self.org)
		self.assertEqual(self.status(first), "Queued")
		job = submit_as(self.user, job_type, self.org)
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Pending")
		answer = self.gate(job)
		self.assertEqual(answer["gate"], "rate_limit")
		self.assertGreater(answer["next_slot_in_seconds"], 3500)
		# a wider window lets it start: the window itself (not a cap) held it
		frappe.db.set_value("Job Type", job_type, "rate_limit_starts", 2)
		frappe.db.commit()
		dispatcher.dispatch_now(self.org)
		self.assertEqual(self.status(job), "Queued")

	def test_a_queued_job_waits_behind_the_jobs_queued_before_it(self):
		job_type = make_job_type()
		first = submit_as(self.user, job_type, self.org)
		second = submit_as(self.user, job_type, self.org)
		one, two = self.gate(first), self.gate(second)
		self.assertEqual((one["gate"], two["gate"]), ("queue", "queue"))
		self.assertEqual(two["ahead"], one["ahead"] + 1)

	def test_a_pending_job_with_every_gate_open_is_next_in_line(self):
		job_type = make_job_type()
		frappe.set_user(self.user)
		from dartwing.dartwing_core.background_jobs import engine

		job = engine.submit_job(job_type, self.org, {}).name  # not committed: not dispatched yet
		frappe.set_user("Administrator")
		answer = gates.waiting_for(frappe.db.get_value("Background Job", job, "*", as_dict=True))
		self.assertEqual((answer["gate"], answer["ahead"]), ("queue", 0))
		frappe.db.rollback()

	def test_a_running_or_ended_job_waits_for_nothing(self):
		job_type = make_job_type()
		job = submit_as(self.user, job_type, self.org)
		set_job_directly(job, "status", "Completed")
		frappe.db.commit()
		self.assertIsNone(self.gate(job))

	def test_get_job_status_carries_waiting_for(self):
		from dartwing.jobs import get_job_status

		job_type = make_job_type()
		job = submit_as(self.user, job_type, self.org, run_at=now_datetime() + timedelta(hours=1))
		frappe.set_user(self.user)
		try:
			self.assertEqual(get_job_status(job)["waiting_for"]["gate"], "scheduled")
		finally:
			frappe.set_user("Administrator")
