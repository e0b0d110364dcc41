"""Submission latency: ``submit_job`` + commit, against a floor measured in the same run.

What is measured (issue: "p99 under 25 ms with one caller; under 3x the floor"; issue #13: under 2x):
- engine: ``engine.submit_job(job_type, org, {unique parameters})`` then ``frappe.db.commit()`` (the commit
  runs the after-commit dispatch and RQ enqueue), by 1 caller and by 8 concurrent callers (threads, each
  with its own site context and database connection), all into one organization, as its Owner.
- floor: one plain document insert (an Error Log) + commit + one raw RQ enqueue of a no-op onto a queue no
  worker listens to; same callers, same counts. Floor and engine alternate in ``ROUNDS`` rounds, so
  load from elsewhere on a shared machine weighs on both alike.
The Job Type has dedup on (300 s window), a high rate limit and queue cap, so every submission is
accepted and creates a job. No workers are started; everything created is deleted afterwards.

Run: ``.venv/bin/python -m benchmarks.run_all submit`` (``BENCH_QUICK=1`` for a smoke run).
"""

import threading
import time
import uuid
from collections.abc import Callable

import benchmarks

NAME = "submit"
SUBMISSIONS = benchmarks.size(2000, 200)
CONCURRENCY = (1, 8)
WARMUP = 20  # calls per caller before timing starts (connections, caches, imports)
# Engine and floor alternate in this many rounds, so that load from elsewhere on a shared machine
# weighs on both sides alike instead of on whichever ran during it.
ROUNDS = benchmarks.size(10, 2)


def _engine_call(job_type: str, org: str, run: str) -> Callable[[int], None]:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	def call(i: int) -> None:
		engine.submit_job(job_type, org, {"run": run, "i": i})
		frappe.db.commit()

	return call


def _floor_call(queue_name: str, created: list[str]) -> Callable[[int], None]:
	import frappe
	from frappe.utils.background_jobs import get_redis_conn
	from rq import Queue

	queue = Queue(queue_name, connection=get_redis_conn())

	def call(i: int) -> None:
		doc = frappe.get_doc({"doctype": "Error Log", "method": "bench floor", "error": f"floor {i}"})
		doc.insert(ignore_permissions=True)
		frappe.db.commit()
		queue.enqueue("benchmarks.handlers.raw_noop", result_ttl=60)
		created.append(doc.name)

	return call


def _caller(make_call: Callable[[], Callable[[int], None]], user: str, ids: range, out: list[float]) -> None:
	import frappe

	benchmarks.connect()
	frappe.set_user(user)
	try:
		call = make_call()
		for i in range(WARMUP):
			call(-(ids.start + i + 1))
		for i in ids:
			started = time.perf_counter()
			call(i)
			out.append(time.perf_counter() - started)
	finally:
		benchmarks.disconnect()


def measure_round(
	make_call: Callable[[], Callable[[int], None]], user: str, callers: int, calls: int, first: int
) -> tuple[list[float], float]:
	"""``calls`` calls split over ``callers`` threads, numbered from ``first``: (latencies, wall seconds)."""
	per_caller = calls // callers
	samples: list[list[float]] = [[] for _ in range(callers)]
	threads = [
		threading.Thread(
			target=_caller,
			args=(make_call, user, range(first + n * 100_000, first + n * 100_000 + per_caller), samples[n]),
		)
		for n in range(callers)
	]
	started = time.perf_counter()
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join()
	return [s for caller in samples for s in caller], time.perf_counter() - started


def measure_pair(sides: dict[str, Callable[[], Callable[[int], None]]], user: str, callers: int) -> dict:
	"""SUBMISSIONS calls per side, the sides alternating in ROUNDS rounds; a summary per side."""
	samples: dict[str, list[float]] = {side: [] for side in sides}
	walls = dict.fromkeys(sides, 0.0)
	for round_ in range(ROUNDS):
		for side, make_call in sides.items():
			latencies, wall = measure_round(
				make_call, user, callers, SUBMISSIONS // ROUNDS, first=round_ * 10_000_000
			)
			samples[side] += latencies
			walls[side] += wall
	return {
		side: {
			**benchmarks.latency_summary(samples[side]),
			"callers": callers,
			"per_second": round(len(samples[side]) / walls[side], 1),
		}
		for side in sides
	}


def main() -> dict:
	import frappe

	from benchless.testing import bench_id

	benchmarks.connect()
	((user, org),) = benchmarks.make_tenants(1)
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop",
		dedup_window_seconds=300,
		rate_limit_count=1_000_000,
		rate_limit_window_seconds=60,
		max_queued_per_org=1_000_000,
	)
	floor_queue = f"{bench_id(benchmarks.SITE)}:bench_floor_{uuid.uuid4().hex[:8]}"
	floor_docs: list[str] = []
	results: dict = {"submissions": SUBMISSIONS, "organization_per_run": "one, shared by all callers"}
	try:
		for callers in CONCURRENCY:
			run = uuid.uuid4().hex
			pair = measure_pair(
				{
					"floor": lambda: _floor_call(floor_queue, floor_docs),
					"engine": lambda run=run: _engine_call(job_type, org, run),
				},
				user,
				callers,
			)
			floor, engine_ = pair["floor"], pair["engine"]
			results[f"callers_{callers}"] = {
				"engine": engine_,
				"floor": floor,
				"p50_ratio": round(engine_["p50_ms"] / floor["p50_ms"], 2),
				"p99_ratio": round(engine_["p99_ms"] / floor["p99_ms"], 2),
			}
			_print(callers, results[f"callers_{callers}"])
	finally:
		results["jobs_deleted"] = benchmarks.delete_job_type(job_type)
		_cleanup_floor(floor_queue, floor_docs)
	one = results["callers_1"]
	results["targets"] = {
		"p99_1_caller_under_25_ms": one["engine"]["p99_ms"] < 25,
		"p99_1_caller_under_3x_floor": one["p99_ratio"] < 3,
		"p99_1_caller_under_2x_floor": one["p99_ratio"] < 2,  # issue #13
	}
	benchmarks.report("targets", list(results["targets"].items()))
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	frappe.db.commit()
	return results


def _print(callers: int, row: dict) -> None:
	benchmarks.report(
		f"submit_job + commit, {callers} caller(s), {SUBMISSIONS} submissions",
		[
			("engine p50 / p99 ms", f"{row['engine']['p50_ms']} / {row['engine']['p99_ms']}"),
			("floor  p50 / p99 ms", f"{row['floor']['p50_ms']} / {row['floor']['p99_ms']}"),
			("ratio  p50 / p99", f"{row['p50_ratio']} / {row['p99_ratio']}"),
			("engine / floor per s", f"{row['engine']['per_second']} / {row['floor']['per_second']}"),
		],
	)


def _cleanup_floor(queue_name: str, docs: list[str]) -> None:
	import frappe
	from frappe.utils.background_jobs import get_redis_conn
	from rq import Queue

	Queue(queue_name, connection=get_redis_conn()).empty()
	for start in range(0, len(docs), 500):
		frappe.db.delete("Error Log", {"name": ("in", docs[start : start + 500])})
	frappe.db.delete("Error Log", {"method": "bench floor"})  # warm-up rows too
	frappe.db.commit()


if __name__ == "__main__":
	main()
