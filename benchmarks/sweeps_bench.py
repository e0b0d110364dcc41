"""Sweeps at scale (issue #13, targets 1 and 2): does each sweep work through its whole backlog in one run?

What is measured, each on real MariaDB and Redis, the sweep called as the scheduler's worker calls it
(``scheduler.run_recovery`` / ``run_sweeps`` run these functions; here they are called in-process at the
moment the backlog becomes due, so the figure is the sweep's own time: a site adds at most one scheduler
tick before the run starts):

1. ``retry``: ``RETRIES`` jobs Failed (a vendor outage), their ``next_retry_at`` all now. Time until every
   one is back to Pending (the last Failed → Pending log row - due).
2. ``lost``: ``LOST`` jobs dispatched for real (Pending → Queued, in RQ), then the site's own Redis queue
   database is flushed (``FLUSHDB`` on this slot's ``redis_queue`` only). Time until every one is Queued
   again with a new RQ job id that exists in Redis. The sweep's 10 s grace is passed as 0 here (a real
   run adds it).
3. ``stale``: ``STALE`` Running jobs whose heartbeat stopped (rows as a killed worker leaves them). Time
   until every one is recovered (Failed with a retry due, or Dead Letter).
4. ``tenants``: ``ORGS`` organizations, ``SUSPENDED`` of them Suspended with ``SUSPENDED_JOBS`` waiting
   jobs each and sorting first; every active one has one Pending job (as after lost dispatches). One
   ``dispatch_waiting_jobs`` walk: its time, how many runs it took, and the slowest active
   organization's wait (its job's Pending → Queued log row - the walk's start).

Baseline in the same run: the previous sweeps moved one batch (``SWEEP_BATCH_SIZE``, 200) per run, once a
minute; the time of one such batch is measured (``budget=0``: exactly one batch) and the old total is
``ceil(backlog / 200)`` minutes. For tenants, the old ``organizations_with_pending`` read the first 200
organization names with Pending jobs: how many active ones that window held is counted with its query.

Two real workers listen on the ``short`` queue only: they run the sweep helpers (``SWEEP_HELPERS`` RQ jobs
a sweep enqueues when its backlog is larger than one batch), not the jobs, whose ``default`` queue nobody
serves: what is dispatched stays in RQ and is deleted with the run's jobs, organizations and job types.
Between two runs of a sweep the bench lets its helpers finish (a real scheduler's next tick would find
the run still going and skip it).

Run: ``.venv/bin/python -m benchmarks.run_all sweeps`` (``BENCH_QUICK=1`` for a smoke run).
"""

import math
import os
import time
from datetime import timedelta

import benchmarks

NAME = "sweeps"
RETRIES = benchmarks.size(10_000, 1_000)
LOST = benchmarks.size(5_000, 500)
STALE = benchmarks.size(1_000, 200)
ORGS = benchmarks.size(10_000, 1_000)
SUSPENDED = benchmarks.size(1_000, 100)
SUSPENDED_JOBS = 3
RECOVERY_ORGS = 50  # the recovery backlogs are spread over these organizations
OLD_BATCH = 200
TARGET_S = 60
HELPER_VARIANTS = (0, 2)  # dartwing_sweep_helpers of the two passes
HELPER_WORKERS = 2  # workers on the `short` queue only: they run the sweep helpers, not the jobs


def _insert_jobs(rows: list[dict], chunk: int = 2000) -> list[str]:
	"""Job rows by SQL (a bulk fixture: producing 10,000 failures through handlers would take the run)."""
	import frappe
	from frappe.utils import now_datetime

	now = now_datetime()
	base = {
		"creation": now,
		"modified": now,
		"owner": "Administrator",
		"modified_by": "Administrator",
		"submitted_by": "Administrator",
		"priority": "Normal",
		"parameters": "{}",
		"retry_count": 0,
		"max_retries": 3,
		"budget_start": 0,
		"timeout_seconds": 60,
	}
	fields = ["name", *base, *rows[0]]
	values = [[row_name(i), *base.values(), *row.values()] for i, row in enumerate(rows)]
	for start in range(0, len(values), chunk):
		frappe.db.bulk_insert("Background Job", fields, values[start : start + chunk])
	frappe.db.commit()
	return [value[0] for value in values]


_TAG = os.urandom(3).hex()


def row_name(i: int) -> str:
	return f"swb-{_TAG}-{time.monotonic_ns()}-{i}"


def _log_times(names: list[str], from_status: str, to_status: str) -> list:
	import frappe

	frappe.db.rollback()
	times = []
	for start in range(0, len(names), 5000):
		times += frappe.db.sql(
			"""SELECT MIN(`timestamp`) FROM `tabJob Execution Log`
			WHERE job IN %(names)s AND from_status = %(from)s AND to_status = %(to)s GROUP BY job""",
			{"names": tuple(names[start : start + 5000]), "from": from_status, "to": to_status},
			pluck=True,
		)
	return times


def _count(names: list[str], condition: str = "1") -> int:
	import frappe

	frappe.db.rollback()
	total = 0
	for start in range(0, len(names), 5000):
		total += frappe.db.sql(
			f"SELECT COUNT(*) FROM `tabBackground Job` WHERE name IN %(names)s AND {condition}",
			{"names": tuple(names[start : start + 5000])},
		)[0][0]
	return total


def _one_old_batch(sweep) -> float:
	"""The previous sweep's run: exactly one batch of 200 (budget 0 stops after the first batch)."""
	import frappe

	from dartwing.dartwing_core.background_jobs import scheduler

	helpers = frappe.local.conf.get("dartwing_sweep_helpers")
	frappe.local.conf.dartwing_sweep_helpers = 0  # the old sweep had none
	try:
		started = time.perf_counter()
		sweep(batch_size=OLD_BATCH, budget=scheduler.Budget(0))
		return time.perf_counter() - started
	finally:
		frappe.local.conf.dartwing_sweep_helpers = helpers


def _helpers_busy() -> bool:
	from frappe.utils.background_jobs import is_job_enqueued

	from dartwing.dartwing_core.background_jobs import scheduler

	return any(
		is_job_enqueued(f"dartwing_sweep_helper::{sweep}::{helper}")
		for sweep in scheduler._HELPED_SWEEPS
		for helper in range(scheduler.helper_count())
	)


def _run_until(sweep, done, max_runs: int = 20) -> tuple[float, int]:
	"""Call ``sweep`` (one run each, as the scheduler's worker would) until ``done()``, letting the
	helper jobs it enqueued finish between runs; returns (seconds, runs)."""
	started, runs = time.perf_counter(), 0
	while runs < max_runs:
		sweep()
		runs += 1
		while _helpers_busy() and not done():
			time.sleep(0.1)
		if done():
			break
	return time.perf_counter() - started, runs


def retry_backlog(orgs: list[str], job_type: str) -> dict:
	from frappe.utils import now_datetime

	from dartwing.dartwing_core.background_jobs import scheduler

	due = now_datetime()
	rows = [
		{"job_type": job_type, "organization": orgs[i % len(orgs)], "status": "Failed", "next_retry_at": due}
		for i in range(RETRIES)
	]
	names = _insert_jobs(rows)
	old_batch_s = _one_old_batch(scheduler.retry_due_jobs)
	seconds, runs = _run_until(scheduler.retry_due_jobs, lambda: _count(names, "status = 'Failed'") == 0)
	moved = _log_times(names, "Failed", "Pending")
	last = (max(moved) - due).total_seconds() if moved else None
	return {
		"jobs": RETRIES,
		"moved": len(moved),
		"runs": runs,
		"sweep_s": round(old_batch_s + seconds, 2),
		"last_back_to_pending_after_due_s": round(last, 2) if last is not None else None,
		"old_one_batch_s": round(old_batch_s, 3),
		"old_total_min": math.ceil(RETRIES / OLD_BATCH),
		"names": names,
	}


def lost_backlog(orgs: list[str], job_type: str) -> dict:
	import frappe
	from frappe.utils.background_jobs import get_redis_conn

	from dartwing.dartwing_core.background_jobs import dispatcher, scheduler

	names = _insert_jobs(
		[
			{"job_type": job_type, "organization": orgs[i % len(orgs)], "status": "Pending"}
			for i in range(LOST)
		]
	)
	for org in orgs:  # a real dispatch: Pending → Queued, RQ jobs made after each commit
		dispatcher.dispatch_now(org)
	queued = _count(names, "status = 'Queued'")
	connection = get_redis_conn()
	_check_own_queue_db(connection)
	connection.flushdb()  # Redis lost everything: this slot's queue database only
	frappe.db.rollback()
	before = dict(
		frappe.db.sql(
			"SELECT name, rq_job_id FROM `tabBackground Job` WHERE name IN %(names)s", {"names": tuple(names)}
		)
	)

	def sweep(**kwargs):
		return scheduler.requeue_lost_jobs(grace_seconds=0, **kwargs)

	def dispatched_again() -> list[str]:
		frappe.db.rollback()
		after = frappe.db.sql(
			"SELECT name, rq_job_id FROM `tabBackground Job` WHERE name IN %(names)s AND status = 'Queued'",
			{"names": tuple(names)},
		)
		return [rq_job_id for name, rq_job_id in after if rq_job_id != before.get(name)]

	old_batch_s = _one_old_batch(sweep)
	seconds, runs = _run_until(sweep, lambda: len(dispatched_again()) == LOST)
	fresh = dispatched_again()
	in_redis = len(scheduler.live_rq_jobs(fresh))
	return {
		"jobs": LOST,
		"queued_before_flush": queued,
		"runs": runs,
		"sweep_s": round(old_batch_s + seconds, 2),
		"queued_again_with_new_rq_job": len(fresh),
		"new_rq_jobs_in_redis": in_redis,
		"old_one_batch_s": round(old_batch_s, 3),
		"old_total_min": math.ceil(LOST / OLD_BATCH),
		"names": names,
	}


def _flush_own_queue_db() -> None:
	from frappe.utils.background_jobs import get_redis_conn

	connection = get_redis_conn()
	_check_own_queue_db(connection)
	connection.flushdb()


def _check_own_queue_db(connection) -> None:
	"""Refuse to flush anything but a test slot's own queue database (never DB 0, never the shared one)."""
	from benchless.site import test_site_overrides, test_slot

	slot = test_slot()
	expected = int(test_site_overrides(slot)["redis_queue"].rsplit("/", 1)[1]) if slot else None
	db = connection.connection_pool.connection_kwargs.get("db")
	if not slot or db != expected:
		raise RuntimeError(
			f"refusing FLUSHDB on Redis db {db}: set BENCHLESS_TEST_SLOT to a slot of your own"
		)


def stale_backlog(orgs: list[str], job_type: str) -> dict:
	from frappe.utils import now_datetime

	from dartwing.dartwing_core.background_jobs import scheduler

	stopped = now_datetime() - timedelta(minutes=5)
	rows = [
		{
			"job_type": job_type,
			"organization": orgs[i % len(orgs)],
			"status": "Running",
			"heartbeat_at": stopped,
			"started_at": stopped,
			"worker": "killed-worker",
			"rq_job_id": f"killed-{i}",
		}
		for i in range(STALE)
	]
	names = _insert_jobs(rows)
	old_batch_s = _one_old_batch(scheduler.recover_stale_jobs)
	seconds, runs = _run_until(scheduler.recover_stale_jobs, lambda: _count(names, "status = 'Running'") == 0)
	return {
		"jobs": STALE,
		"recovered": STALE - _count(names, "status = 'Running'"),
		"runs": runs,
		"sweep_s": round(old_batch_s + seconds, 2),
		"old_one_batch_s": round(old_batch_s, 3),
		"old_total_min": math.ceil(STALE / OLD_BATCH),
		"names": names,
	}


def _insert_orgs(prefix: str, count: int, status: str) -> list[str]:
	import frappe
	from frappe.utils import now_datetime

	now = now_datetime()
	names = [f"{prefix} {_TAG} {i:05d}" for i in range(count)]
	fields = ["name", "creation", "modified", "owner", "modified_by", "org_name", "status"]
	rows = [[name, now, now, "Administrator", "Administrator", name, status] for name in names]
	for start in range(0, len(rows), 2000):
		frappe.db.bulk_insert("Organization", fields, rows[start : start + 2000])
	frappe.db.commit()
	return names


def tenants(job_type: str) -> dict:
	import frappe
	from frappe.utils import now_datetime

	from dartwing.dartwing_core.background_jobs import scheduler

	# "0 …" sorts before "1 …": the suspended organizations come first in name order
	suspended = _insert_orgs("0 swb suspended", SUSPENDED, "Suspended")
	active = _insert_orgs("1 swb active", ORGS - SUSPENDED, "Active")
	held = _insert_jobs(
		[
			{"job_type": job_type, "organization": suspended[i // SUSPENDED_JOBS], "status": "Pending"}
			for i in range(SUSPENDED * SUSPENDED_JOBS)
		]
	)
	waiting = _insert_jobs(
		[{"job_type": job_type, "organization": org, "status": "Pending"} for org in active]
	)
	old_window = frappe.db.sql(
		"""SELECT DISTINCT organization FROM `tabBackground Job`
		WHERE status = 'Pending' ORDER BY organization LIMIT %(limit)s""",
		{"limit": OLD_BATCH},
		pluck=True,
	)
	frappe.cache.delete_value(scheduler._DISPATCH_CURSOR)
	started = now_datetime()
	seconds, runs = _run_until(
		scheduler.dispatch_waiting_jobs, lambda: _count(waiting, "status = 'Pending'") == 0
	)
	dispatched = _log_times(waiting, "Pending", "Queued")
	waits = [(at - started).total_seconds() for at in dispatched]
	return {
		"organizations": ORGS,
		"suspended": SUSPENDED,
		"suspended_waiting_jobs": len(held),
		"active_with_waiting_jobs": len(active),
		"runs": runs,
		"sweep_s": round(seconds, 2),
		"active_dispatched": len(dispatched),
		"suspended_dispatched": _count(held, "status != 'Pending'"),
		"slowest_org_wait_s": round(max(waits), 2) if waits else None,
		"wait": benchmarks.latency_summary(waits),
		"old_window_active_orgs": len(set(old_window) & set(active)),
		"_cleanup": (suspended + active, held + waiting),
	}


def _delete_orgs(names: list[str]) -> None:
	import frappe

	for start in range(0, len(names), 2000):
		frappe.db.sql(
			"DELETE FROM `tabOrganization` WHERE name IN %(names)s",
			{"names": tuple(names[start : start + 2000])},
		)
	frappe.db.commit()


def main() -> dict:
	import frappe

	benchmarks.connect()
	orgs = [org for _user, org in benchmarks.make_tenants(RECOVERY_ORGS)]
	per_org = math.ceil(max(RETRIES, LOST, STALE) / RECOVERY_ORGS)
	# caps that let the whole backlog be Queued at once: what is measured is the sweeps, not fairness
	recovery_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop", rate_limit_count=0, max_running_per_org=per_org, max_queued_per_org=100_000
	)
	tenant_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop", rate_limit_count=0, max_queued_per_org=100_000
	)
	from benchless.testing import start_workers
	from dartwing.dartwing_core.background_jobs import scheduler

	results: dict = {"batch_size": OLD_BATCH, "helper_workers": HELPER_WORKERS}
	workers = start_workers(site=benchmarks.SITE, count=HELPER_WORKERS, queues="short")
	workers.__enter__()
	try:
		for helpers in HELPER_VARIANTS:  # same run, same data sizes: alone, then with helpers
			frappe.local.conf.dartwing_sweep_helpers = helpers
			results[f"helpers_{helpers}"] = scenarios(orgs, recovery_type, tenant_type)
	finally:
		workers.__exit__(None, None, None)
		frappe.db.rollback()
		_flush_own_queue_db()  # what was dispatched (nobody serves `default` here) must not run later
		results["jobs_deleted"] = benchmarks.delete_job_type(recovery_type) + benchmarks.delete_job_type(
			tenant_type
		)
	for helpers in HELPER_VARIANTS:
		figures = results[f"helpers_{helpers}"]
		benchmarks.report(
			f"Sweeps at scale, {helpers} helpers (one run = the whole backlog within its budget)",
			[
				(f"retry: {RETRIES} due", figures["retry"]),
				(f"lost: {LOST} Queued, Redis flushed", figures["lost"]),
				(f"stale: {STALE} Running, heartbeat stopped", figures["stale"]),
				(f"tenants: {ORGS} orgs, {SUSPENDED} suspended", figures["tenants"]),
				*figures["targets"].items(),
			],
		)
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	return results


def scenarios(orgs: list[str], recovery_type: str, tenant_type: str) -> dict:
	"""The four backlogs, each deleted before the next (a leftover would be the next one's work)."""
	figures: dict = {}
	try:
		for name, scenario in (("retry", retry_backlog), ("lost", lost_backlog), ("stale", stale_backlog)):
			figures[name] = scenario(orgs, recovery_type)
			_delete_names(figures[name].pop("names"))
		figures["tenants"] = tenants(tenant_type)
	finally:
		cleanup_orgs, jobs = figures.get("tenants", {}).pop("_cleanup", ([], []))
		_delete_names(jobs)
		_delete_orgs(cleanup_orgs)
	figures["targets"] = {
		"retry_within_60s": figures["retry"]["sweep_s"] <= TARGET_S and figures["retry"]["moved"] == RETRIES,
		"lost_within_60s": figures["lost"]["sweep_s"] <= TARGET_S
		and figures["lost"]["new_rq_jobs_in_redis"] == LOST,
		"stale_within_60s": figures["stale"]["sweep_s"] <= TARGET_S
		and figures["stale"]["recovered"] == STALE,
		"tenants_within_one_interval": (figures["tenants"]["slowest_org_wait_s"] or 0) <= TARGET_S
		and figures["tenants"]["suspended_dispatched"] == 0,
	}
	return figures


def _delete_names(names: list[str]) -> None:
	import frappe

	from dartwing.dartwing_core.background_jobs import state

	frappe.db.rollback()
	for start in range(0, len(names), 500):
		state.delete_jobs(names[start : start + 500])
		frappe.db.commit()


if __name__ == "__main__":
	main()
