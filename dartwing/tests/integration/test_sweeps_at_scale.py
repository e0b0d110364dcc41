"""Sweeps that work through a backlog larger than one batch in one run, with two sweepers at once.

Real MariaDB, Redis and RQ worker processes. The backlogs (jobs Failed, Scheduled, Running or Queued as
a crash, an outage or a flushed Redis would leave them) are inserted as rows by SQL: producing thousands
of them through real failures would make the tests minutes long, and the sweeps only read the rows.
"Two schedulers" are two threads, each with its own site context and database connection, started
together on a barrier, as two scheduler processes running the same sweep would be.
"""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from unittest import mock

import frappe
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import dispatcher, scheduler, state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import WorkersTestCase, make_job_type, make_tenant, unique
from dartwing.tests.utils import make_org, recount_rollup, wait_until

BATCH = 25
LONG_AGO = datetime(2001, 1, 1)  # sorts before any other test's leftover rows in every sweep's order


def insert_jobs(org: str, job_type: str, count: int, status: str, **columns: object) -> list[str]:
	"""``count`` rows of ``status`` with ``columns`` (a callable gets the row's index), committed."""
	now, tag = now_datetime(), frappe.generate_hash(length=8)
	base = {
		"creation": now,
		"modified": now,
		"owner": "Administrator",
		"modified_by": "Administrator",
		"job_type": job_type,
		"organization": org,
		"submitted_by": "Administrator",
		"status": status,
		"priority": "Normal",
		"parameters": "{}",
		"retry_count": 0,
		"max_retries": 3,
		"budget_start": 0,
		"timeout_seconds": 60,
	}
	names = [f"sweep-{tag}-{i:05d}" for i in range(count)]
	fields = ["name", *base, *columns]
	rows = [
		[name, *base.values(), *(value(i) if callable(value) else value for value in columns.values())]
		for i, name in enumerate(names)
	]
	frappe.db.bulk_insert("Background Job", fields, rows)
	recount_rollup(org)  # rows written past the transitions
	frappe.db.commit()
	return names


def transitions(names: list[str], from_status: str, to_status: str | None = None) -> dict[str, int]:
	"""Per job, how many log rows record a move out of ``from_status`` (into ``to_status``)."""
	frappe.db.rollback()
	condition = "AND to_status = %(to)s" if to_status else ""
	rows = frappe.db.sql(
		f"""SELECT job, COUNT(*) FROM `tabJob Execution Log`
		WHERE job IN %(names)s AND from_status = %(from)s {condition} GROUP BY job""",
		{"names": tuple(names), "from": from_status, "to": to_status},
	)
	counts = dict.fromkeys(names, 0)
	counts.update({job: int(count) for job, count in rows})
	return counts


def statuses(names: list[str]) -> dict[str, str]:
	frappe.db.rollback()
	rows = frappe.db.sql(
		"SELECT name, status FROM `tabBackground Job` WHERE name IN %(names)s", {"names": tuple(names)}
	)
	return dict(rows)


def two_sweepers(sweep: Callable[[], int], helpers: int = 0) -> list[int]:
	"""Run ``sweep`` on two threads at the same moment, each its own site context; their counts.
	``helpers``: the sweep helpers each may enqueue (0: the two sweepers work alone)."""
	site, counts, errors, barrier = frappe.local.site, [], [], threading.Barrier(2)

	def run() -> None:
		frappe.init(site)
		frappe.connect()
		frappe.local.conf.dartwing_sweep_helpers = helpers
		try:
			barrier.wait()
			counts.append(sweep())
			frappe.db.commit()
		except Exception as exc:
			errors.append(exc)
		finally:
			frappe.destroy()

	threads = [threading.Thread(target=run) for _ in range(2)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join()
	frappe.db.rollback()
	if errors:
		raise errors[0]
	return counts


def delete(names: list[str]) -> None:
	frappe.db.rollback()
	state.delete_jobs(names)
	frappe.db.commit()


def without_helpers(case: WorkersTestCase) -> None:
	"""This process's sweeps work alone (what one run does is then what the test sees at its end)."""
	saved = frappe.local.conf.get("dartwing_sweep_helpers")
	frappe.local.conf.dartwing_sweep_helpers = 0
	case.addCleanup(frappe.local.conf.update, {"dartwing_sweep_helpers": saved})


class TestBacklogsInOneRun(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type(max_running_per_org=1000, max_queued_per_org=100_000)

	def setUp(self):
		without_helpers(self)

	def tearDown(self):
		frappe.db.rollback()

	def test_a_retry_backlog_of_many_batches_is_back_to_pending_in_one_run(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 4 + 7,
			"Failed",
			next_retry_at=lambda i: LONG_AGO + timedelta(seconds=i),
		)
		self.addCleanup(delete, jobs)
		moved = scheduler.retry_due_jobs(batch_size=BATCH, budget=scheduler.Budget(120))
		self.assertGreaterEqual(moved, len(jobs))
		self.assertEqual(set(transitions(jobs, "Failed", "Pending").values()), {1})

	def test_a_batch_that_loses_a_deadlock_is_run_again_and_nothing_is_lost_or_moved_twice(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 2 + 3,
			"Failed",
			next_retry_at=lambda i: LONG_AGO + timedelta(seconds=i),
		)
		self.addCleanup(delete, jobs)
		real, calls = state.transition, []

		def deadlocks_once_mid_batch(*args, **kwargs):
			# MariaDB's own choice of victim, injected: the 5th move of the second batch loses a deadlock,
			# which rolls back that whole batch (its first four moves too)
			if args[1] != JobStatus.PENDING:
				return real(*args, **kwargs)  # the moved jobs' own dispatch
			calls.append(args[0]["name"])
			if len(calls) == BATCH + 5:
				frappe.db.rollback()
				raise frappe.QueryDeadlockError("1213, 'Deadlock found when trying to get lock'")
			return real(*args, **kwargs)

		with mock.patch.object(scheduler.state, "transition", side_effect=deadlocks_once_mid_batch):
			scheduler.retry_due_jobs(batch_size=BATCH, budget=scheduler.Budget(120))
		self.assertEqual(len(calls), len(jobs) + 5, "the lost batch's five moves were made again")
		self.assertEqual(calls[BATCH : BATCH + 5], calls[BATCH + 5 : BATCH + 10])
		self.assertEqual(set(transitions(jobs, "Failed", "Pending").values()), {1})
		self.assertEqual(set(statuses(jobs).values()) - {"Pending", "Queued", "Running", "Completed"}, set())

	def test_a_spent_budget_stops_after_one_batch_and_the_next_run_goes_on(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 3,
			"Failed",
			next_retry_at=lambda i: LONG_AGO + timedelta(seconds=i),
		)
		self.addCleanup(delete, jobs)
		scheduler.retry_due_jobs(batch_size=BATCH, budget=scheduler.Budget(0))
		moved = transitions(jobs, "Failed", "Pending")
		# the oldest batch (ours sort first) moved, the rest waits for the next run
		self.assertEqual([moved[job] for job in jobs], [1] * BATCH + [0] * (BATCH * 2))
		scheduler.retry_due_jobs(batch_size=BATCH, budget=scheduler.Budget(120))
		self.assertEqual(set(transitions(jobs, "Failed", "Pending").values()), {1})

	def test_two_retry_sweepers_move_every_job_of_a_large_backlog_exactly_once(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 8,
			"Failed",
			next_retry_at=lambda i: LONG_AGO + timedelta(seconds=i),
		)
		self.addCleanup(delete, jobs)
		counts = two_sweepers(lambda: scheduler.retry_due_jobs(batch_size=BATCH))
		self.assertGreaterEqual(sum(counts), len(jobs))
		self.assertEqual(set(transitions(jobs, "Failed", "Pending").values()), {1})

	def test_two_release_sweepers_release_every_due_scheduled_job_exactly_once(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 8,
			"Scheduled",
			run_at=lambda i: LONG_AGO + timedelta(seconds=i),
		)
		self.addCleanup(delete, jobs)
		counts = two_sweepers(lambda: scheduler.release_due_jobs(batch_size=BATCH))
		self.assertGreaterEqual(sum(counts), len(jobs))
		self.assertEqual(set(transitions(jobs, "Scheduled", "Pending").values()), {1})

	def test_two_stale_heartbeat_sweepers_recover_every_lost_running_job_exactly_once(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 5,
			"Running",
			heartbeat_at=lambda i: LONG_AGO + timedelta(seconds=i),
			started_at=LONG_AGO,
			worker="a-worker-that-is-gone",
			rq_job_id=lambda i: f"gone-{i}",
			attempts="[]",
		)
		self.addCleanup(delete, jobs)
		counts = two_sweepers(lambda: scheduler.recover_stale_jobs(batch_size=BATCH, stale_after=60))
		self.assertGreaterEqual(sum(counts), len(jobs))
		self.assertEqual(set(transitions(jobs, "Running").values()), {1})
		self.assertEqual(set(statuses(jobs).values()), {"Failed"})  # retries left: due again later

	def test_two_lost_dispatch_sweepers_dispatch_each_job_again_once_and_each_runs_once(self):
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 3,
			"Queued",
			queue="default",
			enqueued_at=lambda i: LONG_AGO + timedelta(seconds=i),
			rq_job_id=lambda i: f"{frappe.local.site}::flushed-{unique('rq')}-{i}",
		)
		self.addCleanup(delete, jobs)
		counts = two_sweepers(lambda: scheduler.requeue_lost_jobs(batch_size=BATCH, grace_seconds=10))
		self.assertGreaterEqual(sum(counts), len(jobs))
		self.assertEqual(set(transitions(jobs, "Queued", "Pending").values()), {1})
		wait_until(lambda: set(statuses(jobs).values()) == {"Completed"}, timeout=180, interval=0.5)
		self.assertEqual(set(transitions(jobs, "Pending", "Queued").values()), {1})  # one new dispatch
		self.assertEqual(set(transitions(jobs, "Queued", "Running").values()), {1})  # ran once

	def test_helpers_on_real_workers_share_a_backlog_and_move_each_job_once(self):
		frappe.local.conf.dartwing_sweep_helpers = 2
		jobs = insert_jobs(
			self.org,
			self.job_type,
			BATCH * 12,
			"Failed",
			next_retry_at=lambda i: LONG_AGO + timedelta(seconds=i),
		)
		self.addCleanup(delete, jobs)
		scheduler.retry_due_jobs(batch_size=BATCH)  # a full first batch: two helper jobs on `short`
		# the helpers' own batches may still be committing when this run ends: wait for the last
		wait_until(lambda: 0 not in transitions(jobs, "Failed", "Pending").values(), timeout=60)
		self.assertEqual(set(transitions(jobs, "Failed", "Pending").values()), {1})

	def test_a_queued_job_whose_rq_job_is_alive_is_left_alone(self):
		from frappe.utils.background_jobs import get_redis_conn
		from rq.job import Job

		(job,) = insert_jobs(
			self.org,
			self.job_type,
			1,
			"Queued",
			queue="default",
			enqueued_at=LONG_AGO,
			rq_job_id=f"{frappe.local.site}::{unique('alive')}",
		)
		self.addCleanup(delete, [job])
		rq_job_id = frappe.db.get_value("Background Job", job, "rq_job_id")
		connection = get_redis_conn()
		# an RQ job hash in status "started", as a worker running it leaves it (no queue entry)
		connection.hset(Job.key_for(rq_job_id), mapping={"status": "started"})
		self.addCleanup(connection.delete, Job.key_for(rq_job_id))
		self.assertEqual(scheduler.live_rq_jobs([rq_job_id, "gone-id"]), {rq_job_id})
		scheduler.requeue_lost_jobs(batch_size=BATCH, grace_seconds=10)
		self.assertEqual(statuses([job]), {job: "Queued"})


class TestDispatchSweepAcrossOrganizations(WorkersTestCase):
	"""Suspended organizations with waiting jobs, more of them than the old 200-organization window,
	sorted before an active one: the active one is dispatched, the suspended ones are never read."""

	SUSPENDED = 201  # one more than the window the sweep used to read

	@classmethod
	def set_up_data(cls):
		cls.job_type = make_job_type(max_running_per_org=2, max_queued_per_org=100_000)
		tag = frappe.generate_hash(length=6)
		# "0…" sorts before the other tests' organizations ("T Org-…"), "zz…" after them
		cls.suspended = [
			make_org(f"0 Suspended {tag} {i:03d}", status="Suspended") for i in range(cls.SUSPENDED)
		]
		cls.active = [make_org(f"zz Active {tag} {i:02d}") for i in range(12)]

	def setUp(self):
		without_helpers(self)

	def tearDown(self):
		frappe.db.rollback()

	def _waiting(self, orgs: list[str], per_org: int) -> list[str]:
		jobs = []
		for org in orgs:
			jobs += insert_jobs(org, self.job_type, per_org, "Pending")
		self.addCleanup(delete, jobs)
		return jobs

	def test_suspended_organizations_never_hold_up_dispatch_of_active_ones(self):
		held = self._waiting(self.suspended, 1)
		ready = self._waiting(self.active[:1], 2)
		listed = dispatcher.organizations_with_pending(limit=len(self.suspended) + 1000)
		self.assertFalse(set(listed) & set(self.suspended))
		self.assertIn(self.active[0], listed)
		scheduler.dispatch_waiting_jobs(batch_size=BATCH)
		self.assertEqual(set(transitions(ready, "Pending", "Queued").values()), {1})
		self.assertEqual(set(statuses(held).values()), {"Pending"})

	def test_two_dispatch_sweepers_keep_each_cap_and_dispatch_every_job_once(self):
		jobs = self._waiting(self.active, 5)  # 5 waiting per organization, 2 may run at once
		two_sweepers(lambda: scheduler.dispatch_waiting_jobs(batch_size=3))
		frappe.db.rollback()
		holding = frappe.db.sql(
			"""SELECT organization, COUNT(*) FROM `tabBackground Job`
			WHERE name IN %(jobs)s AND status IN ('Queued', 'Running') GROUP BY organization""",
			{"jobs": tuple(jobs)},
		)
		self.assertLessEqual(max((int(count) for _org, count in holding), default=0), 2)  # the cap
		queued = frappe.db.sql(
			"""SELECT organization, COUNT(*) FROM `tabJob Execution Log`
			WHERE job IN %(jobs)s AND from_status = 'Pending' AND to_status = 'Queued' GROUP BY organization""",
			{"jobs": tuple(jobs)},
		)
		self.assertEqual(len(queued), len(self.active))  # every organization was dispatched
		wait_until(lambda: set(statuses(jobs).values()) == {"Completed"}, timeout=180, interval=0.5)
		self.assertEqual(set(transitions(jobs, "Pending", "Queued").values()), {1})
		self.assertEqual(set(transitions(jobs, "Queued", "Running").values()), {1})

	def test_a_walk_cut_short_by_its_budget_resumes_after_its_last_organization(self):
		self._waiting(self.active[:3], 1)
		cursor = f"{scheduler._DISPATCH_CURSOR}:0/1"
		frappe.cache.set_value(cursor, self.active[0])
		self.addCleanup(frappe.cache.delete_value, cursor)
		scheduler.dispatch_waiting_jobs(batch_size=BATCH, budget=scheduler.Budget(0))
		# one organization per spent budget: the one after the cursor, not the first in name order
		self.assertEqual(frappe.cache.get_value(cursor), self.active[1])

	def test_helpers_walk_disjoint_shares_and_every_organization_is_dispatched(self):
		jobs = self._waiting(self.active, 1)
		shares = [set(dispatcher.organizations_with_pending(limit=10_000, part=p, parts=3)) for p in range(3)]
		self.assertFalse(shares[0] & shares[1] or shares[0] & shares[2] or shares[1] & shares[2])
		self.assertTrue(set(self.active) <= shares[0] | shares[1] | shares[2])
		frappe.local.conf.dartwing_sweep_helpers = 2
		scheduler.dispatch_waiting_jobs(batch_size=3)  # 12 organizations: split in 3, two helper jobs
		wait_until(lambda: 0 not in transitions(jobs, "Pending", "Queued").values(), timeout=60)
		self.assertEqual(set(transitions(jobs, "Pending", "Queued").values()), {1})


class TestSubTickRelease(WorkersTestCase):
	"""``dartwing_due_lookahead_seconds``: the due sweep waits inside its tick and releases each job at
	its own ``run_at``, never before it; a job due after the window is left to a later tick."""

	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type()

	def setUp(self):
		without_helpers(self)
		conf = frappe.local.conf
		saved = {key: conf.get(key) for key in ("dartwing_due_lookahead_seconds", "scheduler_tick_interval")}
		conf.update(dartwing_due_lookahead_seconds=4, scheduler_tick_interval=5)
		self.addCleanup(conf.update, saved)

	def test_a_job_due_inside_the_window_is_released_at_its_run_at_and_not_before(self):
		from dartwing.tests.engine_utils import submit_as, wait_for_status

		soon = submit_as(
			self.owner, self.job_type, self.org, {"i": 1}, run_at=now_datetime() + timedelta(seconds=1.5)
		)
		later = submit_as(
			self.owner, self.job_type, self.org, {"i": 2}, run_at=now_datetime() + timedelta(seconds=60)
		)
		self.addCleanup(delete, [later])
		self.assertGreaterEqual(scheduler.release_until_next_tick(), 1)
		frappe.db.rollback()
		run_at = frappe.db.get_value("Background Job", soon, "run_at")
		released_at = frappe.db.get_value(
			"Job Execution Log",
			{"job": soon, "from_status": "Scheduled", "to_status": "Pending"},
			"timestamp",
		)
		self.assertIsNotNone(released_at)  # released by the waiting sweep, no tick needed
		self.assertGreaterEqual(released_at, run_at)  # never early
		self.assertEqual(statuses([later]), {later: "Scheduled"})  # beyond the window: a later tick's
		row = wait_for_status(soon, "Completed")
		self.assertEqual(row.status, "Completed")

	def test_without_the_setting_the_sweep_does_not_wait(self):
		frappe.local.conf.dartwing_due_lookahead_seconds = 0
		job = submit_as_later(self.owner, self.job_type, self.org, seconds=1.5)
		self.addCleanup(delete, [job])
		self.assertEqual(scheduler.release_until_next_tick(), 0)
		self.assertEqual(statuses([job]), {job: "Scheduled"})


def submit_as_later(user: str, job_type: str, org: str, seconds: float) -> str:
	from dartwing.tests.engine_utils import submit_as

	return submit_as(
		user, job_type, org, {"later": seconds}, run_at=now_datetime() + timedelta(seconds=seconds)
	)
