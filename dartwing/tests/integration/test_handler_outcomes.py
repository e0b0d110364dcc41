"""The handler decides when to come back, and a person repairs a dead letter, on real workers.

Snooze (``ctx.snooze``): Running → Scheduled, no retry spent, released by the due sweep, capped by the Job
Type's ``max_snoozes``. ``TransientError(retry_after=s)``: the retry is scheduled ``s`` from the failure,
not at the backoff, and still spends a retry. Edit and retry (``dead_letter.retry_dead_letters(ids,
parameters)``): System Managers only, validated like a submission, all or nothing, audited (who, old and
new parameters or their hashes). The sweeps the scheduler would run are called in-process (``tick``).
"""

import frappe
from frappe.utils import get_datetime

from dartwing.dartwing_core.background_jobs import dead_letter, scheduler, state
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
from dartwing.tests.utils import make_user


def tick() -> None:
	scheduler.release_due_jobs()
	scheduler.retry_due_jobs()
	frappe.db.commit()


def log_rows(job: str) -> list[frappe._dict]:
	frappe.db.rollback()
	return frappe.get_all(
		"Job Execution Log",
		filters={"job": job},
		fields=["from_status", "to_status", "message", "actor", "attempt", "timestamp"],
		order_by="timestamp asc, creation asc",
	)


class TestSnoozeAndRetryAfter(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")

	def test_a_snoozing_job_waits_scheduled_twice_and_completes_without_spending_a_retry(self):
		# no retry budget at all: a snooze that spent one, or counted as a failure, would dead-letter it
		job_type = make_job_type("dartwing.demo.demo_snooze", max_retries=0, max_snoozes=3)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"times": 2, "seconds": 1})
		snoozed = wait_for_status(job, "Scheduled")
		self.assertEqual((snoozed.retry_count, snoozed.next_retry_at), (0, None))
		done = wait_for_status(job, "Completed", tick=tick)
		self.assertEqual(done.retry_count, 0)
		row = fresh_row(job, ("snooze_count", "result", "attempts", "error_type"))
		self.assertEqual(row.snooze_count, 2)
		self.assertEqual(frappe.parse_json(row.result), {"snoozed": 2, "attempt": 1})
		self.assertFalse(row.attempts)  # no failed attempt was recorded
		snoozes = [r for r in log_rows(job) if r.to_status == "Scheduled"]
		self.assertEqual([r.from_status for r in snoozes], ["Running", "Running"])
		self.assertIn("Snoozed for 1 s", snoozes[0].message)
		self.assertIn("(snooze 1 of 3): not ready yet (1 of 2)", snoozes[0].message)
		self.assertIn("(snooze 2 of 3)", snoozes[1].message)
		self.assertEqual({r.attempt for r in log_rows(job)}, {1})  # a snooze keeps the attempt
		self.assertEqual(history(job)[-1], ("Running", "Completed", 1))

	def test_a_job_over_its_snooze_cap_is_dead_lettered_saying_so(self):
		job_type = make_job_type("dartwing.demo.demo_snooze", max_retries=3, max_snoozes=1)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"times": 5, "seconds": 1})
		dead = wait_for_status(job, "Dead Letter", tick=tick)
		self.assertEqual(dead.error_type, "SnoozeLimitReached")
		self.assertIn("Snoozed 1 times, the limit of its Job Type (1)", dead.error_message)
		self.assertEqual(dead.retry_count, 0)  # permanent: no retry of a job that will only snooze again
		self.assertEqual(fresh_row(job, ("snooze_count",)).snooze_count, 1)

	def test_a_snooze_of_an_impossible_length_dead_letters_the_job_with_the_reason(self):
		job_type = make_job_type("dartwing.demo.demo_snooze", max_retries=3)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"times": 1, "seconds": -5})
		dead = wait_for_status(job, "Dead Letter")
		self.assertEqual(dead.error_type, "ValueError")
		self.assertIn("seconds must be more than 0", dead.error_message)

	def test_retry_after_schedules_the_retry_at_that_time_instead_of_the_backoff_and_spends_a_retry(self):
		job_type = make_job_type(
			"dartwing.demo.demo_retry_after",
			max_retries=2,
			backoff_base_seconds=600,
			backoff_max_seconds=3600,
			backoff_factor=2,
		)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"fail_times": 1, "retry_after": 3})
		failed = wait_for_status(job, "Failed")
		failed_at = next(r.timestamp for r in log_rows(job) if r.to_status == "Failed")
		delay = (get_datetime(failed.next_retry_at) - get_datetime(failed_at)).total_seconds()
		self.assertAlmostEqual(delay, 3, delta=1)  # the backoff would have been 600 s
		self.assertIn("retry_after", next(r.message for r in log_rows(job) if r.to_status == "Failed"))
		done = wait_for_status(job, "Completed", tick=tick)
		self.assertEqual(done.retry_count, 1)  # the retry was spent
		started = [r.timestamp for r in log_rows(job) if r.to_status == "Running"]
		self.assertGreaterEqual(get_datetime(started[-1]), get_datetime(failed.next_retry_at))

	def test_a_bad_retry_after_dead_letters_the_job_with_the_reason(self):
		job_type = make_job_type("dartwing.demo.demo_retry_after", max_retries=3)
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org, {"retry_after": 10**9})
		dead = wait_for_status(job, "Dead Letter")
		self.assertEqual(dead.error_type, "ValueError")
		self.assertIn("retry_after must be more than 0 and at most 86400 seconds", dead.error_message)


class TestEditAndRetryDeadLetters(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.other_owner, cls.other_org = make_tenant("Owner")
		cls.admin = make_user(f"{frappe.generate_hash(length=8)}-dlq-admin@example.test", ["System Manager"])

	def dead_letters(self, count: int = 1, **parameters) -> tuple[str, list[str]]:
		"""Jobs of a fresh type that fail while ``fail_times`` says so, dead-lettered on the first failure."""
		job_type = make_job_type("dartwing.demo.demo_flaky", max_retries=0)
		frappe.db.commit()
		jobs = [
			submit_as(self.owner, job_type, self.org, {"fail_times": 9, "n": n, **parameters})
			for n in range(count)
		]
		for job in jobs:
			wait_for_status(job, "Dead Letter")
		return job_type, jobs

	def snapshot(self, jobs: list[str]) -> list[tuple]:
		frappe.db.rollback()
		return [
			(
				*frappe.db.get_value("Background Job", job, ["status", "parameters", "params_hash"]),
				len(history(job)),
			)
			for job in jobs
		]

	def test_an_admin_retries_a_dead_letter_with_edited_parameters_and_the_history_says_who_and_what(self):
		_job_type, [job] = self.dead_letters()
		old_hash = fresh_row(job, ("params_hash",)).params_hash
		with self.set_user(self.admin):
			reply = dead_letter.retry_dead_letters([job], {"fail_times": 0, "n": "edited"})
		frappe.db.commit()
		self.assertEqual(reply, {"retried": [job], "failed": {}})
		done = wait_for_status(job, "Completed")
		row = fresh_row(job, ("parameters", "params_hash", "result"))
		self.assertEqual(frappe.parse_json(row.parameters), {"fail_times": 0, "n": "edited"})
		self.assertNotEqual(row.params_hash, old_hash)
		self.assertEqual(done.retry_count, 1)
		retried = next(r for r in log_rows(job) if r.from_status == "Dead Letter")
		self.assertEqual((retried.to_status, retried.actor), ("Pending", self.admin))
		self.assertIn(f"Retried by {self.admin}", retried.message)
		self.assertIn('from {"fail_times":9,"n":0} to {"fail_times":0,"n":"edited"}', retried.message)

	def test_large_edited_parameters_are_recorded_by_their_hashes(self):
		_job_type, [job] = self.dead_letters(blob="x" * 2000)
		old_hash = fresh_row(job, ("params_hash",)).params_hash
		with self.set_user(self.admin):
			dead_letter.retry_dead_letters([job], {"fail_times": 0, "blob": "y" * 2000})
		frappe.db.commit()
		new_hash = fresh_row(job, ("params_hash",)).params_hash
		retried = next(r for r in log_rows(job) if r.from_status == "Dead Letter")
		self.assertIn(f"parameters changed from hash {old_hash} to hash {new_hash}", retried.message)
		self.assertNotIn("yyyy", retried.message)
		wait_for_status(job, "Completed")

	def test_members_and_organization_owners_cannot_edit_and_retry(self):
		_job_type, jobs = self.dead_letters()
		before = self.snapshot(jobs)
		for user in (self.owner, self.other_owner):
			with self.set_user(user), self.assertRaises(frappe.PermissionError):
				dead_letter.retry_dead_letters(jobs, {"fail_times": 0})
		frappe.db.commit()
		self.assertEqual(self.snapshot(jobs), before)

	def test_one_bad_id_or_bad_parameters_refuse_the_whole_call_and_change_nothing(self):
		_job_type, jobs = self.dead_letters(count=2)
		alive = submit_as(self.other_owner, make_job_type("dartwing.demo.demo_sleep"), self.other_org, {})
		frappe.db.commit()
		before = self.snapshot(jobs)
		cases = [
			([*jobs, "no-such-job"], {"fail_times": 0}, frappe.DoesNotExistError, "no-such-job not found"),
			([*jobs, alive], {"fail_times": 0}, frappe.ValidationError, "Not in the dead letter queue"),
			(jobs, {"x": float("nan")}, frappe.ValidationError, "parameters"),
			(jobs, {"x": 2**64}, frappe.ValidationError, "parameters"),
			(jobs, ["not", "an", "object"], frappe.ValidationError, "parameters must be a JSON object"),
			(jobs, {"blob": "z" * (300 * 1024)}, frappe.ValidationError, "exceed the limit of 256 KB"),
			([], {"fail_times": 0}, frappe.ValidationError, "job_ids must not be empty"),
		]
		for ids, parameters, error, message in cases:
			with self.subTest(message=message), self.set_user(self.admin):
				with self.assertRaises(error) as caught:
					dead_letter.retry_dead_letters(ids, parameters)
				self.assertIn(message, str(caught.exception))
				frappe.db.rollback()  # as the request handler does after an error
		self.assertEqual(self.snapshot(jobs), before)

	def test_a_rolled_back_edit_leaves_the_job_dead_lettered_with_its_parameters(self):
		_job_type, [job] = self.dead_letters()
		before = self.snapshot([job])
		with self.set_user(self.admin):
			dead_letter.retry_dead_letters([job], {"fail_times": 0})
		frappe.db.rollback()
		self.assertEqual(self.snapshot([job]), before)
		self.assertEqual(state.load(job).status, JobStatus.DEAD_LETTER.value)
