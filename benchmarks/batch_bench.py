"""Bulk submission and batch completion detection, each against a baseline measured in the same run.

Bulk submission (issue: "submit_jobs of 10,000 items accepted in < 2 s, and >= 20x the rate of single
submit_job calls"):
- bulk: ``engine.submit_jobs(job_type, org, 10,000 items)`` then ``frappe.db.commit()`` (the commit runs the
  after-commit dispatch of the batch: one dispatch of the organization), as its Owner, repeated
  ``BULK_RUNS`` times; no workers, so every job stays Pending.
- baseline: ``SINGLES`` calls of ``engine.submit_job`` + commit each, one caller, same organization and Job
  Type, in the same run. 10,000 singles take minutes on this machine, so fewer are timed and the rates
  (jobs per second) are compared.
- floor: after each bulk call, the same job rows and log rows (read back, deleted, committed) are inserted
  again by two raw multi-row INSERTs with every column as a parameter, + commit: what any implementation
  pays on this schema (indexes, JSON check, the transfer), with no validation, dedup, admission or
  dispatch. The call's time over it is the engine's share.
The Job Type has dedup on (300 s window; every item is distinct, so every check runs and every item makes a
job), no rate limit and a queued cap above what the run submits.

Completion detection (issue: "time from the last job's end to batch_completed, p99 < 1 s"):
- ``BATCHES`` batches of ``BATCH_SIZE`` ``demo_noop`` jobs on ``WORKERS`` real RQ workers, submitted
  ``IN_FLIGHT`` at a time, and a python-socketio client subscribed to ``doc:Organization/<org>`` (token auth,
  as a Member) that stamps each ``batch_completed`` on arrival. The last job's end is the latest
  ``completed_at`` of the batch's jobs (the time its worker recorded the end, before its commit); both
  clocks are this machine's, in the site's time zone.

Run: ``.venv/bin/python -m benchmarks.run_all batch`` (``BENCH_QUICK=1`` for a smoke run).
"""

import contextlib
import datetime
import time
import uuid
from unittest import mock

import benchmarks
from benchmarks.realtime_bench import EVENT_TIMEOUT, Listener, token_for

NAME = "batch"
BULK_ITEMS = benchmarks.size(10_000, 1_000)
BULK_RUNS = benchmarks.size(3, 2)
SINGLES = benchmarks.size(2_000, 200)
BATCHES = benchmarks.size(100, 10)
BATCH_SIZE = benchmarks.size(20, 5)
IN_FLIGHT = 4
WORKERS = 4


def bulk_vs_single(user: str, org: str, job_type: str) -> dict:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	frappe.set_user(user)
	run = uuid.uuid4().hex
	for i in range(20):  # warm-up: connections, caches, imports
		engine.submit_job(job_type, org, {"warm": run, "i": i})
		frappe.db.commit()
	singles = []
	for i in range(SINGLES):
		started = time.perf_counter()
		engine.submit_job(job_type, org, {"single": run, "i": i})
		frappe.db.commit()
		singles.append(time.perf_counter() - started)
	bulks, floors, previous = [], [], []
	for n in range(BULK_RUNS):
		items = [{"bulk": run, "run": n, "i": i} for i in range(BULK_ITEMS)]
		started = time.perf_counter()
		reply = engine.submit_jobs(job_type, org, items)
		frappe.db.commit()
		bulks.append(time.perf_counter() - started)
		assert len(reply.job_ids) == BULK_ITEMS and reply.deduplicated == 0
		floors.append(raw_insert_floor(reply.batch))
		with previous_insert_paths():  # interleaved: the same call as the code before this change wrote it
			items = [{"bulk": run, "run": n, "i": i, "before": 1} for i in range(BULK_ITEMS)]
			started = time.perf_counter()
			engine.submit_jobs(job_type, org, items)
			frappe.db.commit()
			previous.append(time.perf_counter() - started)
	frappe.set_user("Administrator")
	single_rate = SINGLES / sum(singles)
	bulk_rate = BULK_ITEMS / max(bulks)
	return {
		"items_per_call": BULK_ITEMS,
		"bulk_seconds": [round(s, 3) for s in bulks],
		"raw_insert_floor_seconds": [round(s, 3) for s in floors],
		"previous_insert_paths_seconds": [round(s, 3) for s in previous],
		"bulk_over_floor": [round(b / f, 2) for b, f in zip(bulks, floors, strict=True)],
		"bulk_jobs_per_second_worst": round(bulk_rate, 1),
		"singles_timed": SINGLES,
		"single": benchmarks.latency_summary(singles),
		"single_jobs_per_second": round(single_rate, 1),
		"rate_ratio_worst_bulk": round(bulk_rate / single_rate, 1),
	}


@contextlib.contextmanager
def previous_insert_paths():
	"""The job and log inserts as they were before (main at d6e0ab2): ``frappe.db.bulk_insert`` of all 17
	columns per job, and the log rows sent as values; everything else (validation, dedup, admission, the
	rollup) is today's."""
	import frappe

	from dartwing.dartwing_core.background_jobs import engine, state

	def insert_job_rows(jobs):
		columns = [*engine._BULK_JOB_VARYING, "dedup_key", *engine._BULK_JOB_SHARED]
		frappe.db.bulk_insert(
			"Background Job", columns, ([job[c] for c in columns] for job in jobs), ignore_duplicates=True
		)

	record_creations = state.record_creations

	def record_without_batch(jobs, *, message, status, batch=None):
		return record_creations(jobs, message=message, status=status)

	with (
		mock.patch.object(engine, "_insert_job_rows", insert_job_rows),
		mock.patch.object(state, "record_creations", record_without_batch),
	):
		yield


def raw_insert_floor(batch: str) -> float:
	"""Seconds to insert the batch's job and log rows again with two raw multi-row INSERTs + commit."""
	import frappe

	tables = {"job": "`tabBackground Job`", "log": "`tabJob Execution Log`"}
	jobs = frappe.db.sql(f"SELECT * FROM {tables['job']} WHERE batch = %s", (batch,), as_dict=True)
	names = tuple(job.name for job in jobs)
	logs = frappe.db.sql(f"SELECT * FROM {tables['log']} WHERE job IN %s", (names,), as_dict=True)
	frappe.db.sql(f"DELETE FROM {tables['log']} WHERE job IN %s", (names,))
	frappe.db.sql(f"DELETE FROM {tables['job']} WHERE batch = %s", (batch,))
	frappe.db.commit()
	started = time.perf_counter()
	for table, rows in ((tables["job"], jobs), (tables["log"], logs)):
		columns = list(rows[0])
		row = "(" + ", ".join(["%s"] * len(columns)) + ")"
		frappe.db.sql(
			f"INSERT INTO {table} ({', '.join(f'`{c}`' for c in columns)}) VALUES {', '.join([row] * len(rows))}",
			[r[c] for r in rows for c in columns],
		)
	frappe.db.commit()
	return time.perf_counter() - started


def completion_latency(rt_url: str, web_url: str, owner: str, member: str, org: str, job_type: str) -> dict:
	import frappe
	from frappe.utils import now_datetime

	from dartwing.dartwing_core.background_jobs import engine

	listener = Listener(rt_url, token_for(member), origin=web_url)
	try:
		_subscribe_org(listener, org)
		offset = now_datetime() - datetime.datetime.now()  # the site's clock vs this process's
		pending: list[str] = []
		done: list[str] = []
		frappe.set_user(owner)
		for n in range(BATCHES):
			items = [{"batch_run": n, "i": i, "t": time.time()} for i in range(BATCH_SIZE)]
			pending.append(engine.submit_jobs(job_type, org, items).batch)
			frappe.db.commit()
			while len(pending) >= IN_FLIGHT or (n == BATCHES - 1 and pending):
				_wait_one(listener, pending, done)
		frappe.set_user("Administrator")
		arrivals = {data["batch"]: at for at, data in listener.events("batch_completed")}
	finally:
		listener.close()
	frappe.db.rollback()
	ends = dict(
		frappe.db.sql(
			"""SELECT batch, MAX(completed_at) FROM `tabBackground Job` WHERE batch IN %(b)s GROUP BY batch""",
			{"b": tuple(done)},
		)
	)
	delays = [
		(datetime.datetime.fromtimestamp(arrivals[name]) + offset - ends[name]).total_seconds()
		for name in done
	]
	return {
		"batches": BATCHES,
		"jobs_per_batch": BATCH_SIZE,
		"in_flight": IN_FLIGHT,
		"workers": WORKERS,
		"last_job_end_to_batch_completed": benchmarks.latency_summary(delays),
	}


def _subscribe_org(listener: Listener, org: str) -> None:
	import frappe

	listener.sio.emit("doc_subscribe", ("Organization", org), namespace=listener.namespace)
	probe = f"probe_{uuid.uuid4().hex[:8]}"
	deadline = time.monotonic() + EVENT_TIMEOUT
	while not listener.events(probe):
		assert time.monotonic() < deadline, "doc_subscribe to the organization was refused"
		frappe.publish_realtime(probe, {}, doctype="Organization", docname=org)
		time.sleep(0.2)


def _wait_one(listener: Listener, pending: list[str], done: list[str]) -> None:
	deadline = time.monotonic() + 120
	while time.monotonic() < deadline:
		arrived = {data.get("batch") for _at, data in listener.events("batch_completed")}
		finished = [name for name in pending if name in arrived]
		if finished:
			for name in finished:
				pending.remove(name)
				done.append(name)
			return
		time.sleep(0.01)
	raise TimeoutError(f"no batch_completed for {pending}")


def _delete(job_type: str) -> int:
	import frappe

	frappe.db.rollback()
	frappe.db.sql("DELETE FROM `tabBackground Job Batch` WHERE job_type = %s", (job_type,))
	frappe.db.commit()
	return benchmarks.delete_job_type(job_type)


def main() -> dict:
	import frappe

	from benchless.testing import start_realtime, start_server, start_workers
	from dartwing.tests.engine_utils import make_tenant

	benchmarks.connect()
	((owner, org),) = benchmarks.make_tenants(1)
	member, _ = make_tenant("Member", org=org)
	frappe.db.commit()
	bulk_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop", dedup_window_seconds=300, rate_limit_count=0, max_queued_per_org=1_000_000
	)
	run_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop",
		rate_limit_count=0,
		max_running_per_org=WORKERS * 2,
		max_queued_per_org=100_000,
	)
	results: dict = {}
	try:
		results["submit"] = bulk_vs_single(owner, org, bulk_type)
		benchmarks.report(
			f"submit_jobs of {BULK_ITEMS} items + commit vs {SINGLES} x submit_job + commit",
			[
				("bulk seconds per call", results["submit"]["bulk_seconds"]),
				("raw INSERT floor, same rows", results["submit"]["raw_insert_floor_seconds"]),
				("previous insert paths (interleaved)", results["submit"]["previous_insert_paths_seconds"]),
				("bulk / floor", results["submit"]["bulk_over_floor"]),
				("bulk jobs/s (worst call)", results["submit"]["bulk_jobs_per_second_worst"]),
				("single jobs/s", results["submit"]["single_jobs_per_second"]),
				("rate ratio (worst bulk / single)", results["submit"]["rate_ratio_worst_bulk"]),
			],
		)
		_delete(bulk_type)
		with (
			start_server(benchmarks.SITE) as web_url,
			start_realtime(benchmarks.SITE, webserver_url=web_url) as rt_url,
			start_workers(site=benchmarks.SITE, count=WORKERS),
		):
			results["completion"] = completion_latency(rt_url, web_url, owner, member, org, run_type)
		latency = results["completion"]["last_job_end_to_batch_completed"]
		benchmarks.report(
			f"last job's end -> batch_completed, {BATCHES} batches of {BATCH_SIZE}",
			[("p50 / p99 / max ms", f"{latency['p50_ms']} / {latency['p99_ms']} / {latency['max_ms']}")],
		)
	finally:
		results["jobs_deleted"] = _delete(bulk_type) + _delete(run_type)
	results["targets"] = {
		"bulk_10000_under_2_s": max(results["submit"]["bulk_seconds"]) < 2,
		"bulk_rate_at_least_20x_single": results["submit"]["rate_ratio_worst_bulk"] >= 20,
		"completion_p99_under_1_s": results["completion"]["last_job_end_to_batch_completed"]["p99_ms"] < 1000,
	}
	benchmarks.report("targets", list(results["targets"].items()))
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	return results
