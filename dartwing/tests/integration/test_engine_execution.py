"""Jobs running on real RQ worker processes against MariaDB and Redis.

Workers are separate processes, so these tests commit; every tenant and job type is unique.
"""

import time

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import config, dispatcher, executor, state
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	fresh_row,
	history,
	make_job_type,
	make_tenant,
	submit_as,
	wait_for_status,
)


class TestExecution(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")

	def test_a_submitted_job_runs_to_completed_with_its_result_and_a_complete_log(self):
		job_type = make_job_type("dartwing.demo.demo_echo")
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"hello": "world", "n": 3})
		wait_for_status(job, "Completed")
		row = fresh_row(job, ("result", "progress", "started_at", "completed_at", "worker", "submitted_by"))
		self.assertEqual(frappe.parse_json(row.result), {"hello": "world", "n": 3})
		self.assertEqual(row.progress, 100)
		self.assertTrue(row.worker)
		self.assertLessEqual(row.started_at, row.completed_at)
		self.assertEqual(
			history(job),
			[
				("", "Pending", 1),
				("Pending", "Queued", 1),
				("Queued", "Running", 1),
				("Running", "Completed", 1),
			],
		)
		actors = frappe.get_all("Job Execution Log", filters={"job": job}, pluck="actor")
		self.assertEqual(set(actors), {self.owner})

	def test_a_rolled_back_caller_leaves_no_job_and_nothing_runs(self):
		job_type = make_job_type()
		frappe.db.commit()
		from dartwing.dartwing_core.background_jobs import engine

		frappe.set_user(self.owner)
		job = engine.submit_job(job_type, self.org, {"rolled": "back"})
		frappe.db.rollback()
		frappe.set_user("Administrator")
		# a job submitted afterwards and run to the end: an early enqueue would have been taken before it
		marker = submit_as(self.owner, job_type, self.org, {"after": "rollback"})
		wait_for_status(marker, "Completed")
		self.assertIsNone(fresh_row(job.name))
		self.assertEqual(frappe.db.get_all("Background Job", {"job_type": job_type}, pluck="name"), [marker])
		# Nothing reached RQ either: an enqueue before commit would have left an RQ job behind
		# (queued, or finished after the worker found no row to run).
		from frappe.utils.background_jobs import create_job_id, get_redis_conn

		pattern = f"rq:job:{create_job_id(job.name)}-*"
		self.assertEqual(list(get_redis_conn().scan_iter(match=pattern)), [])

	def test_a_timeout_stops_a_sleeping_handler_and_records_timed_out(self):
		job_type = make_job_type(
			"dartwing.demo.demo_sleep_uncooperative",
			timeout_seconds=2,
			max_retries=1,
			backoff_base_seconds=3600,
			backoff_max_seconds=3600,
		)
		frappe.db.commit()
		started = time.monotonic()
		job = submit_as(self.owner, job_type, self.org, {"seconds": 60})
		row = wait_for_status(job, "Timed Out", timeout=30)
		self.assertLess(time.monotonic() - started, 30)
		self.assertEqual(row.error_type, "JobTimedOut")
		self.assertIn("exceeded its timeout of 2 s", row.error_message)  # the engine's alarm, not RQ's
		self.assertIsNotNone(row.next_retry_at)
		self.assertIn(("Running", "Timed Out", 1), history(job))

	def test_rq_gives_a_work_horse_the_handlers_timeout_plus_the_kill_grace_and_a_margin(self):
		from frappe.utils.background_jobs import get_redis_conn
		from rq.job import Job

		job_type = make_job_type("dartwing.demo.demo_noop", timeout_seconds=7)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org)
		rq_job_id = fresh_row(job, ("rq_job_id",)).rq_job_id
		expected = 7 + config.TIMEOUT_KILL_GRACE_SECONDS + config.RQ_TIMEOUT_MARGIN_SECONDS
		self.assertEqual(Job.fetch(rq_job_id, connection=get_redis_conn()).timeout, expected)

	def test_a_claimed_job_is_never_run_a_second_time_by_another_dispatch(self):
		job_type = make_job_type("dartwing.demo.demo_sleep")
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"seconds": 2, "steps": 4})
		wait_for_status(job, "Running")
		token = fresh_row(job, ("rq_job_id",)).rq_job_id
		executor.run_job(job, token)  # a duplicate delivery of the same RQ job
		frappe.db.commit()
		wait_for_status(job, "Completed")
		self.assertEqual([h for h in history(job) if h[1] == "Running"], [("Queued", "Running", 1)])

	def test_jobs_of_a_suspended_organization_wait_in_pending_and_run_after_reactivation(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type()
		frappe.db.commit()
		job = submit_as(owner, job_type, org, {"x": 1})
		wait_for_status(job, "Completed")
		org_doc = frappe.get_doc("Organization", org)
		org_doc.status = "Suspended"
		org_doc.save(ignore_permissions=True)
		frappe.db.commit()
		waiting = submit_as("Administrator", job_type, org, {"x": 2})
		dispatcher.dispatch_now(org)
		# an active organization's job of the same type, submitted later, runs to the end meanwhile
		marker = submit_as(self.owner, job_type, self.org, {"x": 3})
		wait_for_status(marker, "Completed")
		self.assertEqual(fresh_row(waiting).status, "Pending")
		org_doc = frappe.get_doc("Organization", org)
		org_doc.status = "Active"
		org_doc.save(ignore_permissions=True)
		frappe.db.commit()  # the reactivation hook dispatches after this commit
		wait_for_status(waiting, "Completed")

	def test_a_busy_organization_cannot_starve_another(self):
		busy, busy_org = make_tenant("Owner")
		calm, calm_org = make_tenant("Owner")
		job_type = make_job_type("dartwing.demo.demo_sleep", max_running_per_org=1, rate_limit_count=0)
		frappe.db.commit()
		backlog = [
			submit_as(busy, job_type, busy_org, {"seconds": 0.5, "steps": 1, "i": i}) for i in range(20)
		]
		calm_job = submit_as(calm, job_type, calm_org, {"seconds": 0.2, "steps": 1})
		wait_for_status(calm_job, "Completed", timeout=30)
		for job in backlog:
			wait_for_status(job, "Completed", timeout=60)
		# Judged on recorded start times, not on how fast this machine happens to be: the calm
		# organization's job started before the busy one was half through its backlog.
		calm_started = fresh_row(calm_job, ("started_at",)).started_at
		busy_starts = sorted(fresh_row(job, ("started_at",)).started_at for job in backlog)
		self.assertLess(
			calm_started, busy_starts[len(backlog) // 2], "the calm organization waited behind the backlog"
		)
		running_at_once = frappe.db.sql(
			"""SELECT MAX(c) FROM (SELECT a.name, COUNT(*) c FROM `tabBackground Job` a
			JOIN `tabBackground Job` b ON b.organization = a.organization AND b.started_at <= a.started_at
				AND b.completed_at > a.started_at
			WHERE a.organization = %s GROUP BY a.name) t""",
			(busy_org,),
		)[0][0]
		self.assertEqual(running_at_once, 1, "the per-organization running cap was exceeded")

	def test_state_load_reports_missing_jobs_as_none(self):
		self.assertIsNone(state.load("no-such-job"))
