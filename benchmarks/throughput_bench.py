"""End-to-end throughput: ``demo_noop`` jobs through the engine vs the same count of raw RQ no-ops.

What is measured (issue: "at least half of raw RQ's jobs per second"; issue #13: 0.8):
- baseline: ``frappe.enqueue("frappe.ping")`` (a no-op) N times on the ``default`` queue: the same
  worker class and the per-job site set-up every Frappe job gets, timed from the first enqueue until RQ
  reports the last job finished (the bench polls the jobs' RQ status). A function in ``benchmarks/`` cannot be
  used: ``frappe.get_attr`` only resolves functions of installed apps, in Frappe as in benchless.
- engine: N ``demo_noop`` jobs submitted through ``engine.submit_job`` over 10 organizations (each org's
  Owner submits in transactions of 50), timed from the first submission until every job is Completed.
  The Job Type's ``max_running_per_org`` is 50 (so 500 slots over 10 orgs: the cap is not the
  bottleneck), rate limit off, queue cap 10 000, dedup off.
Both run on the same 2 real ``python -m benchless worker`` processes, started once for both phases.
The number of workers registered on the bench's queues is sampled: other people's workers on the same
site would drain these queues too and make the figures meaningless (reported as ``foreign_workers``).

Run: ``.venv/bin/python -m benchmarks.run_all throughput`` (``BENCH_QUICK=1`` for a smoke run).
"""

import time
import uuid

import benchmarks

NAME = "throughput"
JOBS = benchmarks.size(5000, 500)
ORGS = 10
WORKERS = 2
SUBMIT_BATCH = 50  # submissions per transaction
ATTEMPTS = 1 if not benchmarks.QUICK else 2  # full runs are too long to repeat within make bench's budget
STALL_SECONDS = 30  # give up when nothing finishes for this long
POLL_SECONDS = 0.25
FINAL_RQ = {b"finished", b"failed", b"stopped", b"canceled"}


def raw_rq(count: int) -> dict:
	import frappe

	run = uuid.uuid4().hex[:10]
	started = time.perf_counter()
	ids = [
		frappe.enqueue("frappe.ping", queue="default", job_id=f"bench-raw-{run}-{i}").id for i in range(count)
	]
	enqueued = time.perf_counter() - started
	remaining = list(ids)
	done, finished = _wait(lambda: count - _still_unfinished(remaining), count)
	wall = finished - started
	_delete_rq_jobs(ids)
	return _rates(count, done, wall, enqueued)


def _still_unfinished(remaining: list[str], chunk: int = 500) -> int:
	"""Drop finished ids from the front of ``remaining`` (workers take them roughly in order); returns
	how many are left. Stops at the first chunk with unfinished jobs to keep polling cheap."""
	from frappe.utils.background_jobs import get_redis_conn

	conn = get_redis_conn()
	while remaining:
		head = remaining[:chunk]
		pipe = conn.pipeline(transaction=False)
		for rq_id in head:
			pipe.hget(f"rq:job:{rq_id}", "status")
		statuses = pipe.execute()
		unfinished = [rq_id for rq_id, st in zip(head, statuses, strict=True) if st not in FINAL_RQ]
		remaining[: len(head)] = unfinished
		if unfinished:
			break
	return len(remaining)


def _delete_rq_jobs(ids: list[str]) -> None:
	from frappe.utils.background_jobs import get_redis_conn
	from rq.registry import FinishedJobRegistry

	conn = get_redis_conn()
	registry = FinishedJobRegistry(name=_queue_name(), connection=conn)
	for start in range(0, len(ids), 500):
		chunk = ids[start : start + 500]
		conn.delete(*[f"rq:job:{rq_id}" for rq_id in chunk])
		conn.zrem(registry.key, *chunk)


def _queue_name() -> str:
	from benchless.testing import bench_id

	return f"{bench_id(benchmarks.SITE)}:default"


def engine_run(count: int, tenants: list[tuple[str, str]], job_type: str) -> dict:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	started = time.perf_counter()
	submitted = 0
	while submitted < count:
		for user, org in tenants:
			batch = min(SUBMIT_BATCH, count - submitted)
			if batch <= 0:
				break
			frappe.set_user(user)
			for _ in range(batch):
				engine.submit_job(job_type, org, {})
			frappe.db.commit()
			submitted += batch
	frappe.set_user("Administrator")
	submit_seconds = time.perf_counter() - started
	done, finished = _wait(lambda: benchmarks.status_counts(job_type).get("Completed", 0), count)
	wall = finished - started
	result = _rates(count, done, wall, submit_seconds)
	result["final_statuses"] = benchmarks.status_counts(job_type)
	return result


def _disturbed(results: dict, workers_seen: list[int]) -> str:
	"""Why this run cannot be trusted ("" if it can): jobs lost (someone flushed or restarted Redis), our
	workers gone (someone killed them) or other workers draining the same queues."""
	reasons = []
	if any(results[phase]["completed"] < JOBS for phase in ("raw_rq", "engine")):
		reasons.append("not all jobs finished")
	if min(workers_seen) < WORKERS:
		reasons.append("workers missing")
	if max(workers_seen) > WORKERS:
		reasons.append("foreign workers on the queues")
	return ", ".join(reasons)


def _wait(completed, count: int) -> tuple[int, float]:
	"""Poll ``completed()`` until it reaches ``count`` or stalls; returns the last value and when (perf
	counter) it was first seen, so a stall's waiting time is not counted as work."""
	last, last_change = -1, time.perf_counter()
	while True:
		done = completed()
		if done != last:
			last, last_change = done, time.perf_counter()
		if done >= count or time.perf_counter() - last_change > STALL_SECONDS:
			return done, last_change
		time.sleep(POLL_SECONDS)


def _rates(count: int, done: int, wall: float, submit_seconds: float) -> dict:
	return {
		"jobs": count,
		"completed": done,
		"wall_seconds": round(wall, 2),
		"submit_or_enqueue_seconds": round(submit_seconds, 2),
		"jobs_per_second": round(done / wall, 1),
	}


def main() -> dict:
	from benchless.testing import registered_worker_count, start_workers

	benchmarks.connect()
	tenants = benchmarks.make_tenants(ORGS)
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop",
		max_running_per_org=50,
		rate_limit_count=0,
		max_queued_per_org=10_000,
		dedup_window_seconds=0,
	)
	results: dict = {"jobs": JOBS, "organizations": ORGS, "workers": WORKERS, "max_running_per_org": 50}
	history: list[dict] = []
	results["attempts"] = history
	try:
		with start_workers(site=benchmarks.SITE, count=WORKERS):
			for attempt in range(1, ATTEMPTS + 1):
				workers_seen = [registered_worker_count(benchmarks.SITE)]
				results["raw_rq"] = raw_rq(JOBS)
				workers_seen.append(registered_worker_count(benchmarks.SITE))
				results["engine"] = engine_run(JOBS, tenants, job_type)
				workers_seen.append(registered_worker_count(benchmarks.SITE))
				results["attempt"] = attempt
				results["workers_registered_samples"] = workers_seen
				results["foreign_workers"] = max(workers_seen) - WORKERS
				results["disturbed"] = _disturbed(results, workers_seen)
				history.append(
					{k: results[k] for k in ("raw_rq", "engine", "disturbed", "workers_registered_samples")}
				)
				if not results["disturbed"]:
					break
				print(f"  attempt {attempt} disturbed ({results['disturbed']}); running again", flush=True)
				benchmarks.delete_job_type(job_type, keep_type=True)
	finally:
		results["jobs_deleted"] = benchmarks.delete_job_type(job_type)
	results["ratio"] = round(results["engine"]["jobs_per_second"] / results["raw_rq"]["jobs_per_second"], 2)
	results["targets"] = {
		"engine_at_least_half_of_raw_rq": results["ratio"] >= 0.5,
		"engine_at_least_0.8_of_raw_rq": results["ratio"] >= 0.8,  # issue #13
	}
	benchmarks.report(
		f"{JOBS} no-op jobs, {ORGS} organizations, {WORKERS} workers",
		[
			("raw RQ jobs/s", results["raw_rq"]["jobs_per_second"]),
			("engine jobs/s", results["engine"]["jobs_per_second"]),
			("engine / raw", results["ratio"]),
			("engine submit phase s", results["engine"]["submit_or_enqueue_seconds"]),
			("foreign workers seen", results["foreign_workers"]),
			*results["targets"].items(),
		],
	)
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	return results


if __name__ == "__main__":
	main()
