"""submit_job on MariaDB without workers: checks, dedup, limits, transaction behaviour.

Nothing here commits except where a test needs another connection to see data (the concurrent
dedup test); the class rolls back at the end as Frappe's FrappeTestCase does.
"""

import datetime
import decimal
import threading
import time
from unittest import mock

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils.background_jobs import get_redis_conn

from dartwing.dartwing_core.background_jobs import admission, config, engine, state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import history, make_job_type, make_tenant, unique, update_jobs_directly
from dartwing.tests.utils import make_member, make_user


class TestSubmitChecks(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.viewer, _ = make_tenant("Viewer", org=cls.org)
		cls.stranger, cls.other_org = make_tenant("Owner")
		cls.job_type = make_job_type(dedup_window_seconds=300)

	def setUp(self):
		frappe.set_user(self.owner)

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_submit_creates_a_pending_job_with_a_creation_log_and_the_job_type_defaults(self):
		job = engine.submit_job(self.job_type, self.org, {"a": 1})
		self.assertEqual(job.status, JobStatus.PENDING.value)
		self.assertEqual(job.priority, "Normal")
		self.assertEqual(job.submitted_by, self.owner)
		self.assertEqual(job.max_retries, config.DEFAULT_MAX_RETRIES)
		self.assertFalse(job.flags.deduplicated)
		log = frappe.get_all(
			"Job Execution Log", filters={"job": job.name}, fields=["to_status", "attempt", "actor"]
		)
		self.assertEqual([(r.to_status, r.attempt, r.actor) for r in log], [("Pending", 1, self.owner)])

	def test_submit_never_commits_the_callers_transaction(self):
		commits = []
		frappe.db.before_commit.add(lambda: commits.append(1))
		frappe.db.savepoint("before_submit")  # rolling back to it keeps the class's fixtures
		job = engine.submit_job(self.job_type, self.org, {"no_commit": True})
		self.assertEqual(commits, [])
		frappe.db.before_commit.reset()
		frappe.db.rollback(save_point="before_submit")
		self.assertFalse(frappe.db.exists("Background Job", job.name))

	def test_unknown_and_disabled_job_types_are_refused(self):
		with self.assertRaises(frappe.DoesNotExistError):
			engine.submit_job("no_such_type", self.org)
		frappe.set_user("Administrator")
		disabled = make_job_type(enabled=0)
		frappe.set_user(self.owner)
		with self.assertRaisesRegex(frappe.ValidationError, "disabled"):
			engine.submit_job(disabled, self.org)

	def test_parameters_must_be_a_json_object_under_the_size_limit(self):
		for bad in ([1, 2], "text", 42):
			with self.assertRaisesRegex(frappe.ValidationError, "JSON object"):
				engine.submit_job(self.job_type, self.org, bad)
		with self.assertRaisesRegex(frappe.ValidationError, "exceed"):
			engine.submit_job(self.job_type, self.org, {"blob": "x" * (config.MAX_PARAMETERS_BYTES + 1)})
		with self.assertRaisesRegex(frappe.ValidationError, "cannot be stored"):
			engine.submit_job(self.job_type, self.org, {"obj": object()})

	def test_priority_must_be_known(self):
		with self.assertRaisesRegex(frappe.ValidationError, "priority"):
			engine.submit_job(self.job_type, self.org, priority="Urgent")
		job = engine.submit_job(self.job_type, self.org, {"p": 1}, priority="Critical")
		self.assertEqual(job.priority, "Critical")

	def test_non_members_viewers_and_other_tenants_cannot_submit(self):
		frappe.set_user(self.stranger)
		with self.assertRaises(frappe.PermissionError):
			engine.submit_job(self.job_type, self.org)
		frappe.set_user(self.viewer)
		with self.assertRaises(frappe.PermissionError):
			engine.submit_job(self.job_type, self.org)

	def test_required_permission_of_the_job_type_is_enforced(self):
		frappe.set_user("Administrator")
		guarded = make_job_type(required_permission="Error Log")
		frappe.set_user(self.owner)
		with self.assertRaisesRegex(frappe.PermissionError, "Error Log"):
			engine.submit_job(guarded, self.org)

	def test_dependencies_must_be_jobs_of_the_same_organization(self):
		frappe.set_user(self.stranger)
		foreign = engine.submit_job(self.job_type, self.other_org, {"f": 1})
		frappe.set_user(self.owner)
		with self.assertRaises(frappe.DoesNotExistError):
			engine.submit_job(self.job_type, self.org, {"d": 1}, depends_on=[foreign.name])
		with self.assertRaises(frappe.ValidationError):
			engine.submit_job(self.job_type, self.org, {"d": 2}, depends_on="not-a-list")
		parent = engine.submit_job(self.job_type, self.org, {"d": 3})
		child = engine.submit_job(self.job_type, self.org, {"d": 4}, depends_on=[parent.name, parent.name])
		self.assertEqual([row.depends_on for row in child.depends_on], [parent.name])


class TestDeduplication(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type(dedup_window_seconds=300)

	def setUp(self):
		frappe.set_user(self.owner)

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_identical_parameters_in_any_key_order_with_dates_and_decimals_return_the_same_job(self):
		params = {
			"when": datetime.date(2026, 1, 2),
			"at": datetime.datetime(2026, 1, 2, 3, 4, 5),
			"amount": decimal.Decimal("10.50"),
			"nested": {"b": 2, "a": [1, 2]},
		}
		first = engine.submit_job(self.job_type, self.org, params)
		reordered = {"nested": {"a": [1, 2], "b": 2}, "amount": decimal.Decimal("10.5"), **params}
		second = engine.submit_job(self.job_type, self.org, reordered)
		self.assertEqual(second.name, first.name)
		self.assertTrue(second.flags.deduplicated)
		different = engine.submit_job(self.job_type, self.org, {**params, "amount": decimal.Decimal("11")})
		self.assertNotEqual(different.name, first.name)

	def test_a_submission_after_the_window_creates_a_new_job(self):
		first = engine.submit_job(self.job_type, self.org, {"window": 1})
		update_jobs_directly(
			self.org,
			"UPDATE `tabBackground Job` SET creation = creation - INTERVAL 1 HOUR WHERE name = %s",
			(first.name,),
		)
		second = engine.submit_job(self.job_type, self.org, {"window": 1})
		self.assertNotEqual(second.name, first.name)
		self.assertFalse(second.flags.deduplicated)


class TestLimits(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_rate_limit_refuses_with_too_many_jobs(self):
		job_type = make_job_type(rate_limit_count=3, rate_limit_window_seconds=60)
		frappe.set_user(self.owner)
		for i in range(3):
			engine.submit_job(job_type, self.org, {"i": i})
		with self.assertRaisesRegex(engine.TooManyJobs, "Too many jobs"):
			engine.submit_job(job_type, self.org, {"i": 99})
		self.assertEqual(engine.TooManyJobs.http_status_code, 429)

	def test_a_deduplicated_submission_takes_no_rate_slot(self):
		job_type = make_job_type(rate_limit_count=2, rate_limit_window_seconds=60, dedup_window_seconds=300)
		frappe.set_user(self.owner)
		first = engine.submit_job(job_type, self.org, {"same": 1})
		again = engine.submit_job(job_type, self.org, {"same": 1})
		self.assertEqual(again.name, first.name)
		self.assertEqual(admission.used(self.org, job_type, 60), 1)
		engine.submit_job(job_type, self.org, {"other": 1})  # the second slot is still free

	def test_the_backlog_is_counted_only_when_the_waiting_bound_nears_the_cap(self):
		job_type = make_job_type(max_queued_per_org=1000)
		frappe.set_user(self.owner)
		real_sql = frappe.db.sql
		counts = []

		def spy(query, *args, **kwargs):
			if "status IN %(waiting)s" in str(query) and "COUNT(*)" in str(query):
				counts.append(query)
			return real_sql(query, *args, **kwargs)

		with mock.patch.object(frappe.db, "sql", side_effect=spy):
			for i in range(5):
				engine.submit_job(job_type, self.org, {"n": i})
		self.assertEqual(len(counts), 1, "only the first submission (no bound yet) counts the backlog")

	def _capped_type(self, cap: int) -> str:
		"""A Job Type whose queued cap is ``cap``; the organization's Owner becomes the session user."""
		job_type = make_job_type(max_queued_per_org=cap)
		frappe.set_user(self.owner)
		return job_type

	def _submit(self, job_type: str, count: int, key: str) -> list[str]:
		return [engine.submit_job(job_type, self.org, {key: i}).name for i in range(count)]

	def test_the_cap_holds_exactly_once_the_bound_nears_it(self):
		cap = admission.RECOUNT_MARGIN + 4
		job_type = self._capped_type(cap)
		jobs = self._submit(job_type, cap, "n")
		with self.assertRaisesRegex(engine.QueueFull, "Queue full"):
			engine.submit_job(job_type, self.org, {"n": "over"})
		# a job leaving the queue makes room again: the recount sees it
		update_jobs_directly(
			self.org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE name = %s", (jobs[0],)
		)
		engine.submit_job(job_type, self.org, {"n": "room"})
		with self.assertRaisesRegex(engine.QueueFull, "Queue full"):
			engine.submit_job(job_type, self.org, {"n": "over again"})

	def test_a_lost_bound_means_counting_again(self):
		cap = admission.RECOUNT_MARGIN + 2
		job_type = self._capped_type(cap)
		self._submit(job_type, cap, "n")
		get_redis_conn().delete(admission._key("waiting", self.org, job_type))  # Redis lost its data
		with self.assertRaisesRegex(engine.QueueFull, "Queue full"):
			engine.submit_job(job_type, self.org, {"n": "over"})

	def test_retried_jobs_rejoining_the_queue_count_against_the_cap(self):
		cap = admission.RECOUNT_MARGIN + 4
		job_type = self._capped_type(cap)
		earlier = self._submit(job_type, cap - 1, "a")
		update_jobs_directly(
			self.org, "UPDATE `tabBackground Job` SET status = 'Failed' WHERE name IN %s", (earlier,)
		)
		get_redis_conn().delete(admission._key("waiting", self.org, job_type))
		engine.submit_job(job_type, self.org, {"b": 1})  # counts: 0 waiting, the bound starts here
		for name in earlier:  # what the retry sweep does when their backoff is over
			self.assertTrue(state.transition(state.load(name), JobStatus.PENDING, message="retry"))
		with self.assertRaisesRegex(engine.QueueFull, "Queue full"):
			engine.submit_job(job_type, self.org, {"b": 2})  # cap - 1 retried + 1 = cap waiting

	def test_a_bound_rebuilt_without_its_entries_is_not_trusted(self):
		cap = admission.RECOUNT_MARGIN + 4
		job_type = self._capped_type(cap)
		self._submit(job_type, cap // 2, "a")
		# Redis lost the hash, then a late remember_waiting recreated it without the entry counter
		key = admission._key("waiting", self.org, job_type)
		get_redis_conn().delete(key)
		get_redis_conn().hset(key, mapping={"counted": 0, "at": 999, "counted_at": repr(time.time())})
		self._submit(job_type, cap - cap // 2, "b")
		with self.assertRaisesRegex(engine.QueueFull, "Queue full"):
			engine.submit_job(job_type, self.org, {"over": 1})

	def test_queue_cap_refuses_with_queue_full(self):
		job_type = make_job_type(max_queued_per_org=2)
		frappe.set_user(self.owner)
		engine.submit_job(job_type, self.org, {"q": 1})
		engine.submit_job(job_type, self.org, {"q": 2})
		with self.assertRaisesRegex(engine.QueueFull, "Queue full"):
			engine.submit_job(job_type, self.org, {"q": 3})

	def test_a_rate_limit_window_over_24_hours_is_refused_on_the_job_type(self):
		with self.assertRaisesRegex(frappe.ValidationError, "24 hours"):
			make_job_type(rate_limit_window_seconds=86401)


class TestConcurrentRateLimit(FrappeTestCase):
	"""20 submitters at once against a limit of 5, different parameters: exactly 5 jobs, 15 refusals."""

	SUBMITTERS, LIMIT = 20, 5

	def test_concurrent_submitters_never_exceed_the_rate_limit(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(rate_limit_count=self.LIMIT, rate_limit_window_seconds=60)
		frappe.db.commit()
		site, created, refused, errors = frappe.local.site, [], [], []
		barrier = threading.Barrier(self.SUBMITTERS)

		def submit(i: int) -> None:
			frappe.init(site)
			frappe.connect()
			try:
				frappe.set_user(owner)
				barrier.wait()
				job = engine.submit_job(job_type, org, {"i": i})
				frappe.db.commit()
				created.append(job.name)
			except engine.TooManyJobs:
				refused.append(i)
			except Exception as exc:
				errors.append(repr(exc))
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=submit, args=(i,)) for i in range(self.SUBMITTERS)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join()
		self.assertEqual(errors, [])
		self.assertEqual((len(created), len(refused)), (self.LIMIT, self.SUBMITTERS - self.LIMIT))
		frappe.db.rollback()
		count = frappe.db.count("Background Job", {"job_type": job_type, "organization": org})
		self.assertEqual(count, self.LIMIT)

	def test_a_rolled_back_submission_gives_its_rate_slot_back(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(rate_limit_count=2, rate_limit_window_seconds=60)
		frappe.db.commit()
		frappe.set_user(owner)
		try:
			engine.submit_job(job_type, org, {"r": 1})
			engine.submit_job(job_type, org, {"r": 2})
			self.assertEqual(admission.used(org, job_type, 60), 2)
			frappe.db.rollback()
			self.assertEqual(admission.used(org, job_type, 60), 0)
			engine.submit_job(job_type, org, {"r": 3})
			engine.submit_job(job_type, org, {"r": 4})
			with self.assertRaises(engine.TooManyJobs):
				engine.submit_job(job_type, org, {"r": 5})
		finally:
			frappe.db.rollback()
			frappe.set_user("Administrator")


class TestConcurrentDeduplication(FrappeTestCase):
	"""50 submitters, each in its own connection and transaction, all identical: one job results."""

	SUBMITTERS = 50

	def test_fifty_concurrent_identical_submissions_create_exactly_one_job(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(dedup_window_seconds=300)
		frappe.db.commit()
		site, results, errors = frappe.local.site, [], []
		barrier = threading.Barrier(self.SUBMITTERS)
		params = {"report": unique("r"), "day": datetime.date(2026, 11, 25)}

		def submit():
			frappe.init(site)
			frappe.connect()
			try:
				frappe.set_user(owner)
				barrier.wait()
				job = engine.submit_job(job_type, org, params)
				frappe.db.commit()
				results.append((job.name, bool(job.flags.deduplicated)))
			except Exception as exc:
				errors.append(repr(exc))
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=submit) for _ in range(self.SUBMITTERS)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join()
		self.assertEqual(errors, [])
		self.assertEqual(len({name for name, _ in results}), 1)
		self.assertEqual(sum(1 for _, dedup in results if not dedup), 1)
		frappe.db.rollback()
		count = frappe.db.count("Background Job", {"job_type": job_type, "organization": org})
		self.assertEqual(count, 1)
		self.assertEqual([h[1] for h in history(results[0][0])][:1], ["Pending"])
