"""submit_jobs on MariaDB and Redis without workers: all or nothing, limits counting every item, dedup,
bad input, tenancy of batches.

Nothing here commits except the concurrency test (other connections must see its data); the class
rolls back at the end as Frappe's FrappeTestCase does.
"""

import random
import threading

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import admission, batches, config, engine
from dartwing.dartwing_core.background_jobs.errors import QueueFull, TooManyJobs
from dartwing.tests.engine_utils import make_job_type, make_tenant, update_jobs_directly
from dartwing.tests.utils import make_member, make_user

BATCH = "Background Job Batch"


def counts(org: str) -> tuple[int, int, int]:
	"""(jobs, log rows, batches) of an organization."""
	return (
		frappe.db.count("Background Job", {"organization": org}),
		frappe.db.count("Job Execution Log", {"organization": org}),
		frappe.db.count(BATCH, {"organization": org}),
	)


class TestSubmitJobs(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.viewer, _ = make_tenant("Viewer", org=cls.org)
		cls.stranger, cls.other_org = make_tenant("Owner")
		cls.job_type = make_job_type(rate_limit_count=0, max_queued_per_org=50_000)
		cls.dedup_type = make_job_type(dedup_window_seconds=300, rate_limit_count=0)
		cls.callback_type = make_job_type()

	def setUp(self):
		frappe.set_user(self.owner)

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_a_bulk_call_makes_one_batch_with_a_pending_job_and_a_log_row_per_item(self):
		items = [{"n": i} for i in range(25)]
		reply = engine.submit_jobs(
			self.job_type, self.org, items, priority="High", on_complete=self.callback_type
		)
		self.assertEqual(len(reply.job_ids), 25)
		self.assertEqual(reply.deduplicated, 0)
		jobs = frappe.get_all(
			"Background Job",
			filters={"batch": reply.batch},
			fields=["name", "status", "priority", "parameters", "submitted_by", "organization"],
		)
		self.assertEqual({job.name for job in jobs}, set(reply.job_ids))
		self.assertEqual(
			{(j.status, j.priority, j.submitted_by) for j in jobs}, {("Pending", "High", self.owner)}
		)
		by_name = {job.name: frappe.parse_json(job.parameters) for job in jobs}
		self.assertEqual([by_name[name] for name in reply.job_ids], items)  # job_ids in item order
		logs = frappe.get_all(
			"Job Execution Log",
			filters={"job": ["in", reply.job_ids]},
			fields=["to_status", "attempt", "actor", "organization"],
		)
		self.assertEqual(len(logs), 25)
		self.assertEqual(
			{(r.to_status, r.attempt, r.actor, r.organization) for r in logs},
			{("Pending", 1, self.owner, self.org)},
		)
		batch = frappe.get_doc(BATCH, reply.batch)
		self.assertEqual(
			(
				batch.organization,
				batch.job_type,
				batch.total,
				batch.status,
				batch.on_complete,
				batch.created_by,
			),
			(self.org, self.job_type, 25, "Running", self.callback_type, self.owner),
		)
		view = batches.get_batch(reply.batch)
		self.assertEqual((view["total"], view["counts"], view["progress"]), (25, {"Pending": 25}, 0.0))

	def test_a_bulk_call_for_later_makes_scheduled_jobs_released_when_due_and_not_before(self):
		from frappe.utils import add_to_date, now_datetime

		from dartwing.dartwing_core.background_jobs import scheduler

		run_at = add_to_date(now_datetime(), hours=1)
		reply = engine.submit_jobs(self.job_type, self.org, [{"later": i} for i in range(5)], run_at=run_at)
		rows = frappe.get_all(
			"Background Job", filters={"batch": reply.batch}, fields=["status", "run_at"], distinct=True
		)
		self.assertEqual(
			[(r.status, r.run_at.replace(microsecond=0)) for r in rows],
			[("Scheduled", run_at.replace(microsecond=0))],
		)
		logs = frappe.get_all("Job Execution Log", filters={"job": ["in", reply.job_ids]}, pluck="to_status")
		self.assertEqual(logs, ["Scheduled"] * 5)
		self.assertEqual(batches.get_batch(reply.batch)["status"], "Running")
		frappe.set_user("Administrator")
		scheduler.release_due_jobs()  # commits: the jobs were committed with it, and are not due
		self.assertEqual(
			set(frappe.get_all("Background Job", filters={"batch": reply.batch}, pluck="status")),
			{"Scheduled"},
		)
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET run_at = %s WHERE batch = %s",
			(add_to_date(now_datetime(), seconds=-1), reply.batch),
		)
		self.assertEqual(scheduler.release_due_jobs(), 5)
		self.assertNotIn(
			"Scheduled", set(frappe.get_all("Background Job", filters={"batch": reply.batch}, pluck="status"))
		)
		frappe.db.delete("Background Job", {"batch": reply.batch})  # committed by the sweep: clean up
		frappe.db.delete("Job Execution Log", {"job": ["in", reply.job_ids]})
		frappe.db.delete(BATCH, reply.batch)
		frappe.db.commit()

	def test_a_bad_run_at_refuses_the_bulk_call_and_writes_nothing(self):
		before = counts(self.org)
		for bad in ("not a date", "0001-01-01 00:00:00", 12, ["2030-01-01"]):
			with self.assertRaisesRegex(frappe.ValidationError, "run_at"):
				engine.submit_jobs(self.job_type, self.org, [{"n": 1}], run_at=bad)
		self.assertEqual(counts(self.org), before)

	def test_one_invalid_item_refuses_the_whole_call_naming_its_index_and_writes_nothing(self):
		before = counts(self.org)
		for bad_index, bad in ((0, "text"), (7, [1, 2]), (9_999, 42), (3, {"obj": object()}), (5, None)):
			items = [{"n": i} for i in range(max(bad_index + 1, 10))]
			items[bad_index] = bad
			with self.assertRaisesRegex(frappe.ValidationError, rf"items\[{bad_index}\]"):
				engine.submit_jobs(self.job_type, self.org, items)
		self.assertEqual(counts(self.org), before)

	def test_a_refusal_half_way_leaves_nothing_and_the_caller_can_go_on(self):
		frappe.db.savepoint("half_way")
		before = counts(self.org)
		items = [{"n": i} for i in range(5000)] + [{"blob": "x" * (config.MAX_PARAMETERS_BYTES + 1)}]
		with self.assertRaisesRegex(frappe.ValidationError, r"items\[5000\] exceeds"):
			engine.submit_jobs(self.job_type, self.org, items)
		self.assertEqual(counts(self.org), before)
		reply = engine.submit_jobs(self.job_type, self.org, items[:3])  # the transaction is still usable
		self.assertEqual(len(reply.job_ids), 3)

	def test_items_must_be_a_list_of_one_to_ten_thousand_objects(self):
		before = counts(self.org)
		for bad in (None, "[]", {"a": 1}, 5, []):
			with self.assertRaisesRegex(frappe.ValidationError, "items must"):
				engine.submit_jobs(self.job_type, self.org, bad)
		with self.assertRaisesRegex(frappe.ValidationError, "between 1 and 10000"):
			engine.submit_jobs(self.job_type, self.org, [{}] * (config.MAX_BATCH_ITEMS + 1))
		self.assertEqual(counts(self.org), before)

	def test_random_bad_items_anywhere_refuse_with_their_index(self):
		rng = random.Random(12)
		bads = ("x", 1, 1.5, True, [], [{}], None, {"o": object()}, {"b": b"\x00"})
		for _round in range(20):
			size = rng.randint(1, 300)
			items = [{"k": rng.random()} for _ in range(size)]
			index = rng.randrange(size)
			items[index] = rng.choice(bads)
			with self.assertRaisesRegex(frappe.ValidationError, rf"items\[{index}\]"):
				engine.submit_jobs(self.job_type, self.org, items)
		self.assertEqual(frappe.db.count(BATCH, {"organization": self.org, "total": ["<", 0]}), 0)

	def test_the_parameters_of_a_whole_call_are_bounded(self):
		piece = {"blob": "x" * (config.MAX_PARAMETERS_BYTES - 64)}
		over = config.MAX_BATCH_PARAMETERS_BYTES // config.MAX_PARAMETERS_BYTES + 1
		with self.assertRaisesRegex(frappe.ValidationError, r"items\[\d+\] takes the call over"):
			engine.submit_jobs(self.job_type, self.org, [piece] * over)

	def test_bad_job_type_priority_on_complete_and_organization_are_refused(self):
		with self.assertRaises(frappe.DoesNotExistError):
			engine.submit_jobs("no_such_type", self.org, [{}])
		with self.assertRaisesRegex(frappe.ValidationError, "priority"):
			engine.submit_jobs(self.job_type, self.org, [{}], priority="Urgent")
		with self.assertRaises(frappe.DoesNotExistError):
			engine.submit_jobs(self.job_type, self.org, [{}], on_complete="no_such_type")
		with self.assertRaises(frappe.PermissionError):
			engine.submit_jobs(self.job_type, self.other_org, [{}])
		frappe.set_user(self.viewer)
		with self.assertRaises(frappe.PermissionError):
			engine.submit_jobs(self.job_type, self.org, [{}])

	def test_identical_items_share_a_job_inside_a_call_and_with_existing_jobs(self):
		existing = engine.submit_job(self.dedup_type, self.org, {"n": 1})
		items = [{"n": 1}, {"n": 2}, {"n": 2}, {"n": 3}, {"n": 1}]
		reply = engine.submit_jobs(self.dedup_type, self.org, items)
		ids = reply.job_ids
		self.assertEqual(ids[0], existing.name)
		self.assertEqual(ids[4], existing.name)
		self.assertEqual(ids[1], ids[2])
		self.assertEqual(len({ids[1], ids[3], existing.name}), 3)
		self.assertEqual(reply.deduplicated, 3)  # two name the existing job, one an earlier item
		self.assertEqual(frappe.db.get_value(BATCH, reply.batch, "total"), 2)
		self.assertEqual(frappe.db.count("Background Job", {"batch": reply.batch}), 2)
		again = engine.submit_jobs(self.dedup_type, self.org, items)
		self.assertEqual(again.job_ids, ids)
		self.assertEqual(again.deduplicated, 5)
		self.assertEqual(batches.get_batch(again.batch)["status"], "Completed")  # nothing new: ended

	def test_the_rate_limit_counts_every_item_of_a_call(self):
		limited = make_job_type(rate_limit_count=10, rate_limit_window_seconds=60)
		before = counts(self.org)
		with self.assertRaises(TooManyJobs):
			engine.submit_jobs(limited, self.org, [{"n": i} for i in range(11)])
		self.assertEqual(counts(self.org), before)
		self.assertEqual(admission.used(self.org, limited, 60), 0)  # a refused call takes no slot
		engine.submit_jobs(limited, self.org, [{"n": i} for i in range(7)])
		self.assertEqual(admission.used(self.org, limited, 60), 7)
		with self.assertRaises(TooManyJobs):
			engine.submit_jobs(limited, self.org, [{"n": i} for i in range(4)])
		engine.submit_jobs(limited, self.org, [{"n": i} for i in range(3)])
		with self.assertRaises(TooManyJobs):
			engine.submit_job(limited, self.org, {"single": 1})

	def test_the_queued_cap_counts_every_item_of_a_call(self):
		capped = make_job_type(rate_limit_count=0, max_queued_per_org=20)
		engine.submit_jobs(capped, self.org, [{"n": i} for i in range(15)])
		before = counts(self.org)
		with self.assertRaises(QueueFull):
			engine.submit_jobs(capped, self.org, [{"n": i} for i in range(6)])
		self.assertEqual(counts(self.org), before)
		engine.submit_jobs(capped, self.org, [{"n": i} for i in range(5)])
		with self.assertRaises(QueueFull):
			engine.submit_job(capped, self.org, {"single": 1})

	def test_another_organizations_batch_is_reported_like_a_missing_one(self):
		reply = engine.submit_jobs(self.job_type, self.org, [{"n": 1}])
		frappe.set_user(self.stranger)
		for call in (batches.get_batch, batches.cancel_batch):
			with self.assertRaises(frappe.DoesNotExistError) as theirs:
				call(reply.batch)
			with self.assertRaises(frappe.DoesNotExistError) as missing:
				call("no-such-batch")
			self.assertEqual(
				str(theirs.exception).replace(reply.batch, "X"),
				str(missing.exception).replace("no-such-batch", "X"),
			)
		self.assertEqual(batches.list_batches()["batches"], [])
		self.assertEqual(batches.list_batches(organization=self.org), {"batches": [], "total": 0})
		self.assertFalse(
			frappe.has_permission(BATCH, "read", frappe.get_doc(BATCH, reply.batch), user=self.stranger)
		)
		self.assertNotIn(reply.batch, frappe.get_list(BATCH, pluck="name"))
		frappe.set_user(self.viewer)  # a member who may read, not manage
		self.assertEqual(batches.get_batch(reply.batch)["total"], 1)
		self.assertIn(reply.batch, [b["batch"] for b in batches.list_batches()["batches"]])
		with self.assertRaises(frappe.PermissionError):
			batches.cancel_batch(reply.batch)

	def test_cancel_batch_cancels_every_waiting_job_and_ends_the_batch_canceled(self):
		reply = engine.submit_jobs(self.job_type, self.org, [{"n": i} for i in range(30)])
		result = batches.cancel_batch(reply.batch)
		self.assertEqual((result["canceled"], result["cancel_requested"]), (30, 0))
		self.assertEqual(batches.get_batch(reply.batch)["counts"], {"Canceled": 30})
		self.assertEqual(batches.finish(reply.batch), "Canceled")  # what its bookkeeping does after commit
		self.assertEqual(batches.get_batch(reply.batch)["status"], "Canceled")
		with self.assertRaisesRegex(frappe.ValidationError, "cannot be canceled"):
			batches.cancel_batch(reply.batch)


class TestBatchOnlyThroughTheEngine(FrappeTestCase):
	def test_a_batch_cannot_be_created_as_a_document(self):
		_owner, org = make_tenant("Owner")
		job_type = make_job_type()
		ops = make_user("t-batch-doc-ops@example.test", ["System Manager"])
		before = frappe.db.count(BATCH, {"organization": org})
		for user, refusal in (("Administrator", "submitted"), (ops, "")):  # the controller; no create right
			frappe.set_user(user)
			try:
				doc = frappe.get_doc(
					{"doctype": BATCH, "organization": org, "job_type": job_type, "total": 1}
				)
				with self.assertRaisesRegex(frappe.PermissionError, refusal):
					doc.insert()
			finally:
				frappe.set_user("Administrator")
		self.assertEqual(frappe.db.count(BATCH, {"organization": org}), before)
		self.assertFalse(frappe.has_permission(BATCH, "create", user=ops))


class TestBulkRollback(FrappeTestCase):
	def test_a_rolled_back_call_gives_its_rate_slots_back(self):
		owner, org = make_tenant("Owner")
		limited = make_job_type(rate_limit_count=10, rate_limit_window_seconds=60)
		frappe.set_user(owner)
		try:
			engine.submit_jobs(limited, org, [{"n": i} for i in range(10)])
			self.assertEqual(admission.used(org, limited, 60), 10)
			frappe.db.rollback()  # a full rollback runs the after_rollback callbacks
			self.assertEqual(admission.used(org, limited, 60), 0)
		finally:
			frappe.set_user("Administrator")


class TestBatchEndsOnce(FrappeTestCase):
	"""Two processes reconciling the same finished batch at once submit its on_complete job once."""

	def test_two_reconciliations_at_once_submit_on_complete_exactly_once(self):
		owner, org = make_tenant("Owner")
		job_type, callback = make_job_type(), make_job_type()
		frappe.set_user(owner)
		reply = engine.submit_jobs(job_type, org, [{"n": i} for i in range(4)], on_complete=callback)
		update_jobs_directly(
			org, "UPDATE `tabBackground Job` SET status = 'Completed' WHERE batch = %s", (reply.batch,)
		)  # the jobs' end, without workers; the engine's bookkeeping is what is under test
		frappe.db.commit()
		frappe.set_user("Administrator")
		site, results, barrier = frappe.local.site, [], threading.Barrier(4)

		def reconcile() -> None:
			frappe.init(site=site)
			frappe.connect()
			try:
				barrier.wait()
				results.append(batches.finish(reply.batch))
				frappe.db.commit()
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=reconcile) for _ in range(4)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join(30)
		frappe.db.rollback()
		self.assertEqual(sorted(results, key=str), sorted(["Completed", None, None, None], key=str))
		self.assertEqual(frappe.db.count("Background Job", {"job_type": callback, "organization": org}), 1)
		callback_job = frappe.db.get_value(BATCH, reply.batch, "callback_job")
		params = frappe.parse_json(frappe.db.get_value("Background Job", callback_job, "parameters"))
		self.assertEqual(
			(params["batch"], params["status"], params["completed"]), (reply.batch, "Completed", 4)
		)
		self.assertEqual(frappe.db.get_value("Background Job", callback_job, "submitted_by"), owner)

	def test_a_creator_who_lost_the_right_to_submit_gets_no_on_complete_and_the_batch_says_why(self):
		owner, org = make_tenant("Member")
		job_type, callback = make_job_type(), make_job_type()
		frappe.set_user(owner)
		reply = engine.submit_jobs(job_type, org, [{"n": 1}, {"n": 2}], on_complete=callback)
		frappe.set_user("Administrator")
		update_jobs_directly(
			org, "UPDATE `tabBackground Job` SET status = 'Dead Letter' WHERE batch = %s", (reply.batch,)
		)
		make_member(owner, org, role="Member", status="Inactive")
		self.assertEqual(batches.finish(reply.batch), "Completed with failures")
		row = frappe.db.get_value(
			BATCH, reply.batch, ["status", "callback_job", "callback_error"], as_dict=True
		)
		self.assertEqual((row.status, row.callback_job), ("Completed with failures", None))
		self.assertIn("not permitted", row.callback_error)
		self.assertEqual(frappe.db.count("Background Job", {"job_type": callback}), 0)
		self.assertEqual(frappe.session.user, "Administrator")  # the creator's session was left again


class TestConcurrentBulkRateLimit(FrappeTestCase):
	"""8 bulk calls of 20 items at once, with single submissions among them, against a limit of 100: the one
	script per call admits whole calls only, and never more than the limit together."""

	CALLS, ITEMS, SINGLES, LIMIT = 8, 20, 6, 100

	def test_concurrent_bulk_and_single_submitters_never_exceed_the_rate_limit(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(rate_limit_count=self.LIMIT, rate_limit_window_seconds=60)
		frappe.db.commit()
		site, admitted, refused, errors = frappe.local.site, [], [], []
		barrier = threading.Barrier(self.CALLS + self.SINGLES)

		def submit(i: int) -> None:
			frappe.init(site=site)
			frappe.connect()
			try:
				frappe.set_user(owner)
				barrier.wait()
				if i < self.CALLS:
					reply = engine.submit_jobs(
						job_type, org, [{"call": i, "n": n} for n in range(self.ITEMS)]
					)
					frappe.db.commit()
					admitted.append(len(reply.job_ids))
				else:
					engine.submit_job(job_type, org, {"single": i})
					frappe.db.commit()
					admitted.append(1)
			except TooManyJobs:
				refused.append(i)
			except Exception as exc:
				errors.append(repr(exc))
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=submit, args=(i,)) for i in range(self.CALLS + self.SINGLES)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join(60)
		self.assertEqual(errors, [])
		self.assertLessEqual(sum(admitted), self.LIMIT)
		self.assertGreaterEqual(
			sum(admitted), self.LIMIT - self.ITEMS + 1
		)  # refused only when it did not fit
		self.assertEqual(len(admitted) + len(refused), self.CALLS + self.SINGLES)
		frappe.db.rollback()
		jobs = frappe.db.count("Background Job", {"job_type": job_type, "organization": org})
		self.assertEqual(jobs, sum(admitted))
		self.assertEqual(admission.used(org, job_type, 60), sum(admitted))
