"""The cost of the global running cap and the start rate: submit latency and end-to-end throughput of
job types with each limit against the same runs of a job type without them.

What is measured (issue #14: "the overhead of the global cap and the rate limit on submit and
throughput, ratios against the same run without them"):
- three Job Types alike but for their limits: ``plain`` (none), ``global_cap`` (``max_running_global``
  10,000: its dispatch locks the Job Type row and counts every organization's slots) and ``start_rate``
  (``rate_limit_starts`` 100,000 per 60 s: every dispatched job takes a start from the Redis window).
  Neither limit binds, so what differs is the mechanism's own cost, not waiting.
- submit: ``submit_job`` + commit (the commit runs the follow-up dispatch that applies the gates) by one
  user, round robin over the three types so that load drifts hit them alike; no workers run, so every job
  stays Queued (the per-organization cap is 10,000, so nothing waits on it).
- throughput: N ``demo_noop`` jobs over 10 organizations on 2 real workers, timed from the first
  submission until the last is Completed (``throughput_bench.engine_run``), for each type in turn, and
  ``plain`` once more at the end: the two plain runs show how much the machine drifted meanwhile.

Run: ``.venv/bin/python -m benchmarks.run_all limits`` (``BENCH_QUICK=1`` for a smoke run).
"""

import time

import benchmarks
from benchmarks import throughput_bench

NAME = "limits"
SUBMITS = benchmarks.size(1000, 60)  # per type
JOBS = benchmarks.size(1000, 150)  # per throughput run
ORGS = 10
WORKERS = 2
KINDS = ("plain", "global_cap", "start_rate")
LIMITS = {
	"plain": {},
	"global_cap": {"max_running_global": 10_000},
	"start_rate": {"rate_limit_starts": 100_000, "rate_limit_starts_window_seconds": 60},
}
COMMON = {
	"rate_limit_count": 0,
	"max_queued_per_org": 100_000,
	"dedup_window_seconds": 0,
}


def make_types(max_running_per_org: int) -> dict[str, str]:
	return {
		kind: benchmarks.make_job_type(
			"dartwing.demo.demo_noop", max_running_per_org=max_running_per_org, **COMMON, **LIMITS[kind]
		)
		for kind in KINDS
	}


def submit_latency(user: str, org: str, types: dict[str, str]) -> dict:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
	frappe.set_user(user)
	try:
		for _round in range(SUBMITS):
			for kind in KINDS:
				started = time.perf_counter()
				engine.submit_job(types[kind], org, {})
				frappe.db.commit()
				seconds[kind].append(time.perf_counter() - started)
	finally:
		frappe.set_user("Administrator")
	summary = {kind: benchmarks.latency_summary(values) for kind, values in seconds.items()}
	for kind in ("global_cap", "start_rate"):
		summary[f"{kind}_p50_ratio"] = round(summary[kind]["p50_ms"] / summary["plain"]["p50_ms"], 2)
		summary[f"{kind}_p99_ratio"] = round(summary[kind]["p99_ms"] / summary["plain"]["p99_ms"], 2)
	return summary


def throughput(tenants: list[tuple[str, str]], types: dict[str, str]) -> dict:
	runs = {}
	for kind in (*KINDS, "plain_again"):
		job_type = types["plain" if kind == "plain_again" else kind]
		runs[kind] = throughput_bench.engine_run(JOBS, tenants, job_type)
		benchmarks.delete_job_type(job_type, keep_type=True)
	for kind in ("global_cap", "start_rate", "plain_again"):
		runs[f"{kind}_ratio"] = round(runs[kind]["jobs_per_second"] / runs["plain"]["jobs_per_second"], 2)
	return runs


def main() -> dict:
	from benchless.testing import registered_worker_count, start_workers

	benchmarks.connect()
	tenants = benchmarks.make_tenants(ORGS)
	results: dict = {
		"submits_per_type": SUBMITS,
		"jobs_per_run": JOBS,
		"organizations": ORGS,
		"workers": WORKERS,
	}
	types = make_types(10_000)
	try:
		results["submit"] = submit_latency(*tenants[0], types)
	finally:
		for job_type in types.values():
			benchmarks.delete_job_type(job_type)
	types = make_types(50)
	try:
		with start_workers(site=benchmarks.SITE, count=WORKERS):
			results["workers_registered"] = registered_worker_count(benchmarks.SITE)
			results["throughput"] = throughput(tenants, types)
	finally:
		for job_type in types.values():
			benchmarks.delete_job_type(job_type)
	submit, runs = results["submit"], results["throughput"]
	benchmarks.report(
		f"limits: {SUBMITS} submits per type; {JOBS} no-op jobs per run, {ORGS} organizations, {WORKERS} workers",
		[
			("submit p50 ms plain / global cap / start rate", _three(submit, "p50_ms")),
			("submit p99 ms plain / global cap / start rate", _three(submit, "p99_ms")),
			(
				"submit p50 ratio global cap, start rate",
				(submit["global_cap_p50_ratio"], submit["start_rate_p50_ratio"]),
			),
			("jobs/s plain / global cap / start rate / plain again", _rates(runs)),
			("throughput ratio global cap, start rate, plain again", _ratios(runs)),
			("workers registered", results["workers_registered"]),
		],
	)
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	return results


def _three(submit: dict, key: str) -> tuple:
	return tuple(submit[kind][key] for kind in KINDS)


def _rates(runs: dict) -> tuple:
	return tuple(runs[kind]["jobs_per_second"] for kind in (*KINDS, "plain_again"))


def _ratios(runs: dict) -> tuple:
	return tuple(runs[f"{kind}_ratio"] for kind in ("global_cap", "start_rate", "plain_again"))


if __name__ == "__main__":
	main()
