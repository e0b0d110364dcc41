"""Lateness of jobs for later: how long after its ``run_at`` does a Scheduled job start?

What is measured (issue #12: "no later than one scheduler tick after run_at plus a small margin, never
early"): a real benchless scheduler process ticking every ``TICK_SECONDS`` (``--tick 5``, as
``scheduler_tick_interval: 5`` gives) enqueues the due sweep (hooks.py's seconds-field cron event) on
each tick; two real workers run it and the jobs. ``JOBS`` ``demo_noop`` jobs get ``run_at`` values
spread evenly over ``SPREAD_SECONDS`` (so they fall on every phase of the tick); lateness is
``started_at - run_at`` (negative would be early), and the sweep's own share of it, ``released -
run_at`` (the Scheduled → Pending log row). Baseline in the same run: the same jobs submitted
without ``run_at``, one at a time, whose "lateness" is ``started_at - creation`` (dispatch and a
worker alone).

Then ``FAR_JOBS`` Scheduled rows due in 30 days are inserted straight into the table and the lateness
run is repeated, then once more with ``dartwing_due_lookahead_seconds`` = tick - 1 s (the due sweep
waits inside its tick and releases each job at its own ``run_at``; site config, read by the workers); the due sweep's query time is also timed with nothing due, before and after, to show
it reads only the due range of the (status, run_at) index. Everything is deleted afterwards.

Run: ``.venv/bin/python -m benchmarks.run_all scheduled`` (``BENCH_QUICK=1`` for a smoke run).
"""

import time
from datetime import timedelta

import benchmarks

NAME = "scheduled"
JOBS = benchmarks.size(200, 20)
FAR_JOBS = benchmarks.size(100_000, 5_000)
TICK_SECONDS = 5
SPREAD_SECONDS = benchmarks.size(200, 15)  # about one job a second: precision, not worker throughput
MAX_RUNNING = 20  # per organization: a tick's releases are not held back by the fairness cap
LEAD_SECONDS = 6  # first run_at this far after the submissions end
WORKERS = 2
WAIT_SECONDS = SPREAD_SECONDS + LEAD_SECONDS + 120  # s for the last job to start
SWEEP_SAMPLES = 20
BASELINE_SAMPLES = benchmarks.size(20, 5)
LOOKAHEAD_SECONDS = TICK_SECONDS - 1  # dartwing_due_lookahead_seconds for the sub-tick run


def _submit(user: str, org: str, job_type: str, tag: str, run_ats: list) -> list[str]:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	frappe.set_user(user)
	names = [
		engine.submit_job(job_type, org, {"tag": tag, "i": i}, run_at=at).name for i, at in enumerate(run_ats)
	]
	frappe.db.commit()
	frappe.set_user("Administrator")
	return names


def _wait_started(names: list[str]) -> list:
	import frappe

	deadline = time.monotonic() + WAIT_SECONDS
	while time.monotonic() < deadline:
		frappe.db.rollback()
		rows = frappe.db.sql(
			"""SELECT j.name, j.creation, j.run_at, j.started_at,
				(SELECT MIN(l.`timestamp`) FROM `tabJob Execution Log` l
				WHERE l.job = j.name AND l.from_status = 'Scheduled') AS released
			FROM `tabBackground Job` j WHERE j.name IN %(names)s""",
			{"names": tuple(names)},
			as_dict=True,
		)
		if all(row.started_at for row in rows):
			return rows
		time.sleep(0.5)
	raise TimeoutError(f"{sum(1 for r in rows if not r.started_at)} jobs not started in {WAIT_SECONDS} s")


def warm_up(tenant: tuple[str, str], job_type: str) -> None:
	"""Wait until the scheduler has run the due sweep once: it sees an event for the first time on its
	first pass and runs it from the next, so the first tick would otherwise count as lateness."""
	from frappe.utils import now_datetime

	_wait_started(_submit(*tenant, job_type, "warm-up", [now_datetime() + timedelta(seconds=1)]))


def lateness(tenant: tuple[str, str], job_type: str, tag: str) -> dict:
	from frappe.utils import now_datetime

	start = now_datetime() + timedelta(seconds=LEAD_SECONDS)
	run_ats = [start + timedelta(seconds=SPREAD_SECONDS * i / JOBS) for i in range(JOBS)]
	rows = _wait_started(_submit(*tenant, job_type, tag, run_ats))
	late = [(row.started_at - row.run_at).total_seconds() for row in rows]
	summary = benchmarks.latency_summary([max(s, 0) for s in late])
	summary["early"] = sum(1 for s in late if s < 0)
	summary["min_ms"] = round(min(late) * 1000, 2)
	released = [(row.released - row.run_at).total_seconds() for row in rows if row.released]
	summary["released_after_run_at"] = benchmarks.latency_summary(released)
	summary["released_early"] = sum(1 for s in released if s < 0)
	# the rest of the way: dispatch, the wait in RQ's queue behind the tick's other releases, the horse
	summary["started_after_release"] = benchmarks.latency_summary(
		[(row.started_at - row.released).total_seconds() for row in rows if row.released]
	)
	return summary


def baseline(tenant: tuple[str, str], job_type: str) -> dict:
	"""Jobs without run_at, one at a time: what dispatch and a worker take alone."""
	delays = []
	for n in range(BASELINE_SAMPLES):
		(row,) = _wait_started(_submit(*tenant, job_type, f"now{n}", [None]))
		delays.append((row.started_at - row.creation).total_seconds())
	return benchmarks.latency_summary(delays)


def insert_far_jobs(org: str, job_type: str) -> str:
	"""``FAR_JOBS`` Scheduled rows due in 30 days, inserted by SQL (a bulk fixture, not the API)."""
	import frappe

	tag = frappe.generate_hash(length=6)
	frappe.db.sql(
		f"""INSERT INTO `tabBackground Job` (name, creation, modified, owner, modified_by, job_type,
			organization, submitted_by, status, priority, run_at, parameters, retry_count, max_retries,
			budget_start, timeout_seconds)
		SELECT CONCAT('far-', %(tag)s, '-', seq), NOW(6), NOW(6), 'Administrator', 'Administrator',
			%(type)s, %(org)s, 'Administrator', 'Scheduled', 'Normal',
			NOW() + INTERVAL 30 DAY + INTERVAL seq SECOND, '{{}}', 0, 0, 0, 60
		FROM seq_1_to_{int(FAR_JOBS)}""",
		{"tag": tag, "type": job_type, "org": org},
	)
	frappe.db.commit()
	return tag


def sweep_query_ms() -> dict:
	"""The due sweep with nothing due: its query's time (ms), sampled."""
	import frappe

	from dartwing.dartwing_core.background_jobs import scheduler

	samples = []
	for _ in range(SWEEP_SAMPLES):
		frappe.db.rollback()
		started = time.perf_counter()
		scheduler._batch("j.status = %(scheduled)s AND j.run_at <= %(now)s", "run_at", None, 200)
		samples.append(time.perf_counter() - started)
	return benchmarks.latency_summary(samples)


def _delete_far(tag: str) -> None:
	import frappe

	frappe.db.sql("DELETE FROM `tabBackground Job` WHERE name LIKE %s", (f"far-{tag}-%",))
	frappe.db.commit()


def main() -> dict:
	import frappe

	from benchless.testing import site_config, spawn, start_workers, stop_process

	benchmarks.connect()
	(tenant,) = benchmarks.make_tenants(1)
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop", rate_limit_count=0, max_running_per_org=MAX_RUNNING
	)
	results: dict = {
		"jobs": JOBS,
		"tick_s": TICK_SECONDS,
		"spread_s": SPREAD_SECONDS,
		"workers": WORKERS,
		"max_running_per_org": MAX_RUNNING,
	}
	tag = None
	scheduler = spawn("scheduler", "--site", benchmarks.SITE, "--tick", str(TICK_SECONDS))
	try:
		with start_workers(site=benchmarks.SITE, count=WORKERS):
			results["baseline_start_delay"] = baseline(tenant, job_type)
			warm_up(tenant, job_type)
			results["sweep_query_empty_table"] = sweep_query_ms()
			results["lateness"] = lateness(tenant, job_type, "late")
			tag = insert_far_jobs(tenant[1], job_type)
			results["far_jobs"] = FAR_JOBS
			results["sweep_query_with_far_jobs"] = sweep_query_ms()
			results["lateness_with_far_jobs"] = lateness(tenant, job_type, "late-far")
			# sub-tick release: the due sweep waits inside its tick for what comes due (spec.md)
			with site_config(
				benchmarks.SITE,
				dartwing_due_lookahead_seconds=LOOKAHEAD_SECONDS,
				scheduler_tick_interval=TICK_SECONDS,
			):
				results["lateness_lookahead_with_far_jobs"] = lateness(tenant, job_type, "late-ahead")
	finally:
		stop_process(scheduler)
		if tag:
			_delete_far(tag)
		frappe.db.rollback()
		results["jobs_deleted"] = benchmarks.delete_job_type(job_type)
	late, far = results["lateness"], results["lateness_with_far_jobs"]
	ahead = results["lateness_lookahead_with_far_jobs"]
	margin_s = 0.5
	results["targets"] = {
		"never_early": all(r["early"] == 0 and r["released_early"] == 0 for r in (late, far, ahead)),
		"max_within_tick_plus_half_s": max(late["max_ms"], far["max_ms"]) <= (TICK_SECONDS + margin_s) * 1000,
		"lookahead_max_within_tick_plus_half_s": ahead["max_ms"] <= (TICK_SECONDS + margin_s) * 1000,
	}
	benchmarks.report(
		f"{JOBS} jobs for later, run_at spread over {SPREAD_SECONDS} s, scheduler tick {TICK_SECONDS} s",
		[
			("baseline start delay (no run_at)", results["baseline_start_delay"]),
			("lateness", late),
			(f"lateness with {FAR_JOBS} far jobs", far),
			(f"lateness, look-ahead {LOOKAHEAD_SECONDS} s, {FAR_JOBS} far jobs", ahead),
			("sweep query, nothing due", results["sweep_query_empty_table"]),
			(f"sweep query with {FAR_JOBS} far jobs", results["sweep_query_with_far_jobs"]),
			*results["targets"].items(),
		],
	)
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	return results


def lookahead_only() -> dict:
	"""``python -m benchmarks.scheduled_bench lookahead``: only the look-ahead lateness (``JOBS`` jobs, no far
	jobs), written to ``results/scheduled_lookahead.json``."""
	import frappe

	from benchless.testing import site_config, spawn, start_workers, stop_process

	benchmarks.connect()
	(tenant,) = benchmarks.make_tenants(1)
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop", rate_limit_count=0, max_running_per_org=MAX_RUNNING
	)
	results: dict = {
		"jobs": JOBS,
		"tick_s": TICK_SECONDS,
		"lookahead_s": LOOKAHEAD_SECONDS,
		"workers": WORKERS,
	}
	scheduler = spawn("scheduler", "--site", benchmarks.SITE, "--tick", str(TICK_SECONDS))
	try:
		with (
			site_config(
				benchmarks.SITE,
				dartwing_due_lookahead_seconds=LOOKAHEAD_SECONDS,
				scheduler_tick_interval=TICK_SECONDS,
			),
			start_workers(site=benchmarks.SITE, count=WORKERS),
		):
			warm_up(tenant, job_type)
			results["lateness_lookahead"] = lateness(tenant, job_type, "late-ahead")
	finally:
		stop_process(scheduler)
		frappe.db.rollback()
		results["jobs_deleted"] = benchmarks.delete_job_type(job_type)
	benchmarks.report(
		f"{JOBS} jobs for later, tick {TICK_SECONDS} s, look-ahead {LOOKAHEAD_SECONDS} s",
		[("lateness", results["lateness_lookahead"])],
	)
	print(f"  results: {benchmarks.write_result(NAME + '_lookahead', results)}")
	return results


if __name__ == "__main__":
	import sys

	lookahead_only() if sys.argv[1:] == ["lookahead"] else main()
