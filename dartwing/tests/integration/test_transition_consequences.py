"""What a status change causes (``state.ON_TRANSITION``): when each consequence runs, with which
changes, and that a rollback or a failing consequence cannot make the others misbehave.

The engine's own consequences are swapped for recorders here (by dotted path, as the list names them);
the transitions and commits are real.
"""

from unittest import mock

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import make_job_type, make_tenant, submit_as

SEEN: dict[str, list[tuple[str, str, str]]] = {"at_once": [], "after_commit": [], "after_failing": []}
THIS = __name__


def record_at_once(changes):
	SEEN["at_once"].extend((c.name, c.from_status.value, c.to_status.value) for c in changes)


def record_after_commit(changes):
	SEEN["after_commit"].extend((c.name, c.from_status.value, c.to_status.value) for c in changes)


def fail(changes):
	raise RuntimeError("a consequence that fails")


def record_after_failing(changes):
	SEEN["after_failing"].extend((c.name, c.from_status.value, c.to_status.value) for c in changes)


RECORDERS = (
	state.Consequence("at_once", f"{THIS}.record_at_once"),
	state.Consequence("after_commit", f"{THIS}.record_after_commit"),
	state.Consequence("after_commit", f"{THIS}.fail"),
	state.Consequence("after_commit", f"{THIS}.record_after_failing"),
)


class TestTransitionConsequences(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type(max_running_per_org=1)
		frappe.db.commit()

	def setUp(self):
		for seen in SEEN.values():
			seen.clear()
		self.job = submit_as(self.owner, self.job_type, self.org, {"n": frappe.generate_hash(length=6)})
		frappe.db.commit()
		patcher = mock.patch.object(state, "ON_TRANSITION", RECORDERS)
		patcher.start()
		self.addCleanup(patcher.stop)

	def _cancel_then_retry(self) -> list[tuple[str, str, str]]:
		job = state.load(self.job, for_update=True)
		canceled = state.transition(job, JobStatus.CANCELED, message="test")
		self.assertIsNotNone(canceled)
		self.assertEqual(canceled.job["status"], JobStatus.CANCELED.value)
		self.assertTrue(canceled.ended)
		state.transition(canceled.job, JobStatus.PENDING, message="test again")
		return [
			(self.job, job.status, JobStatus.CANCELED.value),
			(self.job, JobStatus.CANCELED.value, JobStatus.PENDING.value),
		]

	def test_after_commit_consequences_get_the_transactions_changes_in_order_once_it_commits(self):
		expected = self._cancel_then_retry()
		self.assertEqual(SEEN["at_once"], expected, "the at-once consequence ran with each change")
		self.assertEqual(SEEN["after_commit"], [], "nothing after commit before the commit")
		frappe.db.commit()
		self.assertEqual(SEEN["after_commit"], expected)
		frappe.db.commit()  # an empty transaction causes nothing more
		self.assertEqual(SEEN["after_commit"], expected)

	def test_a_rolled_back_change_causes_nothing_after_commit(self):
		self._cancel_then_retry()
		frappe.db.rollback()
		frappe.db.commit()
		self.assertEqual(SEEN["after_commit"], [])
		self.assertNotEqual(
			frappe.db.get_value("Background Job", self.job, "status"), JobStatus.CANCELED.value
		)

	def test_a_failing_consequence_is_logged_and_the_next_one_still_runs(self):
		expected = self._cancel_then_retry()
		errors_before = frappe.db.count("Error Log")
		frappe.db.commit()
		self.assertEqual(SEEN["after_failing"], expected)
		self.assertEqual(frappe.db.count("Error Log"), errors_before + 1)

	def test_a_losing_compare_and_set_is_no_change_and_causes_nothing(self):
		stale = state.load(self.job)
		stale.status = JobStatus.FAILED.value  # a view that is out of date: the job is not Failed
		self.assertIsNone(state.transition(stale, JobStatus.PENDING, message="late"))
		frappe.db.commit()
		self.assertEqual((SEEN["at_once"], SEEN["after_commit"]), ([], []))

	def test_changes_rolled_back_to_a_savepoint_cause_nothing_and_the_others_still_do(self):
		job = state.load(self.job, for_update=True)
		with self.assertRaises(RuntimeError), state.savepoint("test_step"):
			state.transition(job, JobStatus.CANCELED, message="undone")
			raise RuntimeError("the step fails after its transition")
		self.assertEqual(frappe.db.get_value("Background Job", self.job, "status"), job.status)
		kept = state.transition(job, JobStatus.CANCELED, message="kept")
		self.assertIsNotNone(kept)
		frappe.db.commit()
		self.assertEqual(SEEN["after_commit"], [(self.job, job.status, JobStatus.CANCELED.value)])
