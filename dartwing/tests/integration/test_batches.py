"""Batches on real RQ workers: a batch ends once its jobs end, with failures counted, its on_complete job
submitted exactly once (also when two workers end its last jobs at once), and cancel_batch.

Workers are other processes, so these tests commit; every tenant and job type is unique.
"""

import frappe

from dartwing.dartwing_core.background_jobs import batches, engine
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	fresh_row,
	make_job_type,
	make_tenant,
	update_jobs_directly,
	wait_for_status,
)
from dartwing.tests.utils import wait_until

BATCH = "Background Job Batch"
END_TIMEOUT = 60  # s for a batch of short jobs on two workers shared with nothing else


def submit_batch(user: str, job_type: str, org: str, items: list[dict], **kwargs) -> frappe._dict:
	frappe.set_user(user)
	try:
		reply = engine.submit_jobs(job_type, org, items, **kwargs)
		frappe.db.commit()
		return reply
	finally:
		frappe.set_user("Administrator")


def batch_row(name: str) -> frappe._dict:
	frappe.db.rollback()  # a fresh read view
	return frappe.db.get_value(
		BATCH,
		name,
		["status", "ended", "completed", "failed", "canceled", "callback_job", "callback_error"],
		as_dict=True,
	)


def wait_batch_ended(name: str, timeout: float = END_TIMEOUT) -> frappe._dict:
	return wait_until(lambda: (row := batch_row(name)).status != "Running" and row, timeout=timeout)


class TestBatchesOnWorkers(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.callback = make_job_type("dartwing.demo.demo_echo", max_running_per_org=8)

	def test_a_batch_whose_jobs_dead_letter_ends_completed_with_failures_and_calls_on_complete_once(self):
		# demo_flaky without retries: fail_times 0 completes, fail_times 1 is dead-lettered at once
		job_type = make_job_type("dartwing.demo.demo_flaky", max_retries=0, max_running_per_org=8)
		frappe.db.commit()
		items = [{"fail_times": 1 if i % 3 == 0 else 0, "i": i} for i in range(12)]
		reply = submit_batch(self.owner, job_type, self.org, items, on_complete=self.callback)
		row = wait_batch_ended(reply.batch)
		self.assertEqual(
			(row.status, row.ended, row.completed, row.failed, row.canceled),
			("Completed with failures", 12, 8, 4, 0),
		)
		for job, item in zip(reply.job_ids, items, strict=True):
			self.assertEqual(fresh_row(job).status, "Dead Letter" if item["fail_times"] else "Completed")
		self.assertTrue(row.callback_job)
		wait_for_status(row.callback_job, "Completed")
		summary = frappe.parse_json(fresh_row(row.callback_job, ("result",)).result)
		self.assertEqual(
			(summary["batch"], summary["status"], summary["total"], summary["completed"], summary["failed"]),
			(reply.batch, "Completed with failures", 12, 8, 4),
		)
		self.assertEqual(
			frappe.db.count(
				"Background Job",
				{
					"job_type": self.callback,
					"organization": self.org,
					"parameters": ["like", f"%{reply.batch}%"],
				},
			),
			1,
		)
		view = batches.get_batch(reply.batch)
		self.assertEqual((view["progress"], view["counts"]), (100.0, {"Completed": 8, "Dead Letter": 4}))

	def test_batches_whose_last_two_jobs_end_at_once_call_on_complete_exactly_once(self):
		job_type = make_job_type("dartwing.demo.demo_noop", max_running_per_org=8)
		frappe.db.commit()
		replies = [
			submit_batch(self.owner, job_type, self.org, [{"a": 1}, {"b": 2}], on_complete=self.callback)
			for _ in range(10)
		]
		for reply in replies:
			self.assertIn(wait_batch_ended(reply.batch).status, {"Completed"})
		frappe.db.rollback()
		for reply in replies:
			made = frappe.get_all(
				"Background Job",
				filters={"job_type": self.callback, "parameters": ["like", f"%{reply.batch}%"]},
				pluck="name",
			)
			self.assertEqual(made, [batch_row(reply.batch).callback_job])

	def test_cancel_batch_stops_running_jobs_and_cancels_the_waiting_ones(self):
		job_type = make_job_type("dartwing.demo.demo_sleep", max_running_per_org=2)
		frappe.db.commit()
		reply = submit_batch(
			self.owner,
			job_type,
			self.org,
			[{"seconds": 20, "steps": 40, "i": i} for i in range(6)],
			on_complete=self.callback,
		)
		wait_until(
			lambda: frappe.db.rollback()
			or frappe.db.count("Background Job", {"batch": reply.batch, "status": "Running"}) == 2,
			timeout=END_TIMEOUT,
		)
		frappe.set_user(self.owner)
		result = batches.cancel_batch(reply.batch)
		frappe.db.commit()
		frappe.set_user("Administrator")
		self.assertEqual((result["canceled"], result["cancel_requested"]), (4, 2))
		row = wait_batch_ended(reply.batch, timeout=30)
		self.assertEqual((row.status, row.canceled), ("Canceled", 6))
		self.assertTrue(row.callback_job)  # every job ended: on_complete runs for a canceled batch too
		summary = frappe.parse_json(frappe.db.get_value("Background Job", row.callback_job, "parameters"))
		self.assertEqual((summary["status"], summary["canceled"]), ("Canceled", 6))

	def test_a_lost_reconciliation_is_made_up_by_the_sweep(self):
		job_type = make_job_type("dartwing.demo.demo_noop")
		frappe.db.commit()
		frappe.set_user(self.owner)
		reply = engine.submit_jobs(job_type, self.org, [{"x": 1}])
		update_jobs_directly(  # as if the process died between the job's end and its batch's bookkeeping
			self.org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE batch = %s", (reply.batch,)
		)
		frappe.db.sql(
			"UPDATE `tabBackground Job Batch` SET modified = '2020-01-01' WHERE name = %s", (reply.batch,)
		)
		frappe.flags.pop("dartwing_transitions", None)  # nothing dispatched: the job "ended" already
		frappe.db.commit()
		frappe.set_user("Administrator")
		self.assertEqual(batch_row(reply.batch).status, "Running")
		batches.sweep_running()
		self.assertEqual(batch_row(reply.batch).status, "Completed")
