"""What the two new after-commit consequences cost a job's status change (issue #14, points 7 and 8).

Every committed status change now also runs ``notifications.on_transitions`` (dead-letter notices) and
``job_events.on_transitions`` (other apps' ``dartwing_job_events`` hooks; none are declared here, as on a
site without such an app). What is measured, alternating in ``ROUNDS`` rounds so load from elsewhere on a
shared machine weighs on both alike:
- change: one real status change and its commit, which runs every consequence of ``state.ON_TRANSITION``
  (a Scheduled job of a fresh type → Canceled: its log row, ``job_status_changed``, dispatch follow-up,
  batch bookkeeping, and the two new ones);
- new consequences: the two new methods alone, given that same ``Change``.
The ratio new / change is their share of a status change. No workers run; everything created is deleted.

Run: ``.venv/bin/python -m benchmarks.run_all outcomes`` (``BENCH_QUICK=1`` for a smoke run).
"""

import time
from datetime import timedelta

import benchmarks

NAME = "outcomes"
JOBS = benchmarks.size(2000, 100)
ROUNDS = benchmarks.size(10, 2)


def _scheduled_jobs(job_type: str, org: str, user: str, count: int) -> list[str]:
	import frappe
	from frappe.utils import now_datetime

	from dartwing.dartwing_core.background_jobs import engine

	frappe.set_user(user)
	later = now_datetime() + timedelta(days=30)
	names = [engine.submit_job(job_type, org, {"i": i}, run_at=later).name for i in range(count)]
	frappe.db.commit()
	frappe.set_user("Administrator")
	return names


def _time_changes(names: list[str]) -> tuple[list[float], list]:
	import frappe

	from dartwing.dartwing_core.background_jobs import state
	from dartwing.dartwing_core.background_jobs.transitions import JobStatus

	seconds, changes = [], []
	for name in names:
		started = time.perf_counter()
		change = state.transition(state.load(name, for_update=True), JobStatus.CANCELED, message="bench")
		frappe.db.commit()
		seconds.append(time.perf_counter() - started)
		changes.append(change)
	return seconds, changes


def _time_new_consequences(changes: list) -> list[float]:
	from dartwing.dartwing_core.background_jobs import job_events, notifications

	seconds = []
	for change in changes:
		started = time.perf_counter()
		notifications.on_transitions([change])
		job_events.on_transitions([change])
		seconds.append(time.perf_counter() - started)
	return seconds


def main() -> dict:
	benchmarks.connect()
	((user, org),) = benchmarks.make_tenants(1)
	job_type = benchmarks.make_job_type("dartwing.demo.demo_noop", rate_limit_count=1_000_000)
	changed: list[float] = []
	new: list[float] = []
	try:
		per_round = max(JOBS // ROUNDS, 1)
		for _round in range(ROUNDS):
			names = _scheduled_jobs(job_type, org, user, per_round)
			seconds, changes = _time_changes(names)
			changed += seconds
			new += _time_new_consequences(changes)
	finally:
		benchmarks.delete_job_type(job_type)
	change_summary, new_summary = benchmarks.latency_summary(changed), benchmarks.latency_summary(new)
	results = {
		"jobs": len(changed),
		"status_change_with_commit": change_summary,
		"new_consequences": new_summary,
		"ratio_p50": round(new_summary["p50_ms"] / change_summary["p50_ms"], 4),
		"ratio_mean": round(new_summary["mean_ms"] / change_summary["mean_ms"], 4),
	}
	benchmarks.report(
		"after-commit consequences of issue #14",
		[
			("status change + commit p50 / p99 ms", (change_summary["p50_ms"], change_summary["p99_ms"])),
			("the two new consequences p50 / p99 ms", (new_summary["p50_ms"], new_summary["p99_ms"])),
			("share of a status change (p50, mean)", (results["ratio_p50"], results["ratio_mean"])),
		],
	)
	benchmarks.write_result(NAME, results)
	return results
