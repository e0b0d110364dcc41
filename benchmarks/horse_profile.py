"""Where a job's time goes in RQ's work horse: the engine's ``demo_noop`` job beside a raw ``frappe.ping``.

Not a ``*_bench.py`` (``make bench`` does not run it): a tool to look inside the throughput figure. It
pre-loads jobs, then drains them with ONE real RQ worker (benchless ``start_worker``, burst mode: a forked
work horse per job, as in ``throughput_bench``) whose ``perform_job`` is wrapped, in the worker before it
forks, to measure each horse: wall and CPU time, MariaDB round trips (every command the pymysql
connections send, the side channel's included) and Redis round trips (every packed send, a pipeline is
one), with the statements' first words. ``--profile`` also runs cProfile in every horse and prints the
merged cumulative profile.

Raw: N ``frappe.ping`` enqueued up front. Engine: N ``demo_noop`` jobs submitted in one organization
(its Owner, 50 per transaction) with ``max_running_per_org`` = 20, so that, as in ``throughput_bench``,
most jobs wait Pending and every completion dispatches the next one.

Run: ``BENCHLESS_TEST_SLOT=N .venv/bin/python -m benchmarks.horse_profile [--jobs 200] [--profile]
[--only raw|engine]``.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import benchmarks

CAP = 20
SUBMIT_BATCH = 50
_CLEANUP: list = []


def _patch_horse(outdir: str, profile: bool) -> None:
	"""In the worker process, before it forks: wrap perform_job (runs in the horse) with counters."""
	import pymysql.connections
	import redis.connection
	from rq.worker import Worker

	counts = {"sql": [], "redis": 0, "sql_ms": {}}
	original_execute = pymysql.connections.Connection._execute_command
	original_send = redis.connection.AbstractConnection.send_packed_command
	original_perform = Worker.perform_job

	original_query = pymysql.connections.Connection.query

	def execute_command(self, command, sql):
		text = sql.decode() if isinstance(sql, bytes) else str(sql)
		counts["sql"].append(" ".join(text.split()[:3])[:60])
		return original_execute(self, command, sql)

	def query(self, sql, unbuffered=False):
		started = time.perf_counter()
		try:
			return original_query(self, sql, unbuffered)
		finally:
			text = sql.decode() if isinstance(sql, bytes) else str(sql)
			key = " ".join(text.split()[:3])[:60]
			counts["sql_ms"][key] = counts["sql_ms"].get(key, 0.0) + (time.perf_counter() - started) * 1000

	def send_packed_command(self, command, check_health=True):
		counts["redis"] += 1
		return original_send(self, command, check_health)

	def perform_job(self, job, queue):
		import cProfile

		counts["sql"].clear()
		counts["sql_ms"] = {}
		counts["redis"] = 0
		prof = cProfile.Profile() if profile else None
		modules_before = set(sys.modules)
		wall, cpu = time.perf_counter(), time.process_time()
		if prof:
			prof.enable()
		try:
			return original_perform(self, job, queue)
		finally:
			if prof:
				prof.disable()
			wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
			if prof:
				prof.dump_stats(os.path.join(outdir, f"{os.getpid()}.prof"))
			line = {"wall": wall, "cpu": cpu, "sql": list(counts["sql"]), "redis": counts["redis"]}
			line["imported"] = sorted(set(sys.modules) - modules_before)
			line["sql_ms"] = counts["sql_ms"]
			with open(os.path.join(outdir, "horses.jsonl"), "a") as f:
				f.write(json.dumps(line) + "\n")

	pymysql.connections.Connection._execute_command = execute_command
	pymysql.connections.Connection.query = query
	redis.connection.AbstractConnection.send_packed_command = send_packed_command
	Worker.perform_job = perform_job


def worker_main(site: str, outdir: str, profile: bool) -> None:
	"""A burst worker over the bench's queues, as ``python -m benchless worker --burst`` runs it (each
	app's ``commands`` imported first, as bench does), unless HORSE_APP_COMMANDS=0."""
	import benchless

	benchless.activate()
	os.chdir(benchless.SITES_PATH)
	import frappe
	from frappe.utils.background_jobs import start_worker

	from benchless.__main__ import import_app_commands

	_patch_horse(outdir, profile)
	if os.environ.get("HORSE_APP_COMMANDS", "1") != "0":
		import_app_commands()
	frappe.init(site=site)
	start_worker(queue="short,default,long", quiet=True, burst=True)


def _drain(outdir: str, profile: bool, app_commands: bool) -> float:
	"""Run one burst worker until the queues are empty; returns its wall time."""
	started = time.perf_counter()
	subprocess.run(
		[
			sys.executable,
			"-m",
			"benchmarks.horse_profile",
			"--worker",
			outdir,
			*(["--profile"] if profile else []),
		],
		check=True,
		cwd=os.path.dirname(benchmarks.BENCH_DIR),
		env={**os.environ, "HORSE_APP_COMMANDS": "1" if app_commands else "0"},
	)
	return time.perf_counter() - started


def _load_raw(count: int) -> None:
	import frappe

	from benchmarks.throughput_bench import _delete_rq_jobs

	run = uuid.uuid4().hex[:10]
	ids = [
		frappe.enqueue("frappe.ping", queue="default", job_id=f"bench-prof-{run}-{i}").id
		for i in range(count)
	]
	_CLEANUP.append(lambda: _delete_rq_jobs(ids))


def _load_engine(count: int, tenant: tuple[str, str], job_type: str) -> None:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	user, org = tenant
	frappe.set_user(user)
	for start in range(0, count, SUBMIT_BATCH):
		for _ in range(min(SUBMIT_BATCH, count - start)):
			engine.submit_job(job_type, org, {})
		frappe.db.commit()
	frappe.set_user("Administrator")


def _summary(outdir: str, wall: float) -> dict:
	with open(os.path.join(outdir, "horses.jsonl")) as f:
		horses = [json.loads(line) for line in f]
	statements = collections.Counter(s for h in horses for s in h["sql"])
	n = len(horses)
	return {
		"horses": n,
		"drain_wall_s": round(wall, 2),
		"jobs_per_s_one_worker": round(n / wall, 1),
		"horse_wall_ms": benchmarks.latency_summary([h["wall"] for h in horses]),
		"horse_cpu_ms_mean": round(sum(h["cpu"] for h in horses) / n * 1000, 2),
		"sql_round_trips_per_job": round(sum(len(h["sql"]) for h in horses) / n, 2),
		"redis_round_trips_per_job": round(sum(h["redis"] for h in horses) / n, 2),
		"statements_per_job": {s: round(c / n, 2) for s, c in statements.most_common()},
		"statement_ms_per_job": _ms_per_job(horses),
		"sql_ms_per_job": round(sum(sum(h["sql_ms"].values()) for h in horses) / n, 2),
		"modules_imported_per_job": round(sum(len(h["imported"]) for h in horses) / n, 1),
		"imported_by_first_horse": horses[0]["imported"] if horses else [],
	}


def _ms_per_job(horses: list[dict]) -> dict[str, float]:
	"""Wall milliseconds per job spent waiting for each kind of statement (send to last byte read)."""
	total: collections.Counter = collections.Counter()
	for horse in horses:
		total.update(horse["sql_ms"])
	return {key: round(ms / len(horses), 2) for key, ms in total.most_common()}


def _print_profile(outdir: str, top: int = 60) -> None:
	import pstats

	files = [os.path.join(outdir, f) for f in os.listdir(outdir) if f.endswith(".prof")]
	if not files:
		return
	stats = pstats.Stats(files[0])
	for path in files[1:]:
		stats.add(path)
	print(f"\n-- merged cProfile of {len(files)} horses (cumulative)")
	stats.files = []  # not one header line per horse
	stats.sort_stats("cumulative").print_stats(top)
	stats.sort_stats("tottime").print_stats(45)


def phase(name: str, count: int, load, profile: bool, app_commands: bool = True) -> dict:
	outdir = tempfile.mkdtemp(prefix=f"horse-{name}-")
	load(count)
	import frappe

	frappe.db.commit()
	wall = _drain(outdir, profile, app_commands)
	result = _summary(outdir, wall)
	print(f"\n== {name}: {json.dumps(result, indent=1)}", flush=True)
	if profile:
		_print_profile(outdir)
	return result


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--jobs", type=int, default=200)
	parser.add_argument("--profile", action="store_true")
	parser.add_argument("--only", choices=("raw", "engine"))
	parser.add_argument("--rounds", type=int, default=1)
	parser.add_argument("--worker")
	parser.add_argument(
		"--without-app-commands",
		action="store_true",
		help="also an engine phase whose worker does not import the apps' commands modules (no preload)",
	)
	args = parser.parse_args()
	if args.worker:
		worker_main(benchmarks.SITE, args.worker, args.profile)
		return
	from benchmarks import run_all

	run_all.compile_bytecode()
	benchmarks.connect()
	tenant = benchmarks.make_tenants(1)[0]
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_noop",
		max_running_per_org=CAP,
		rate_limit_count=0,
		max_queued_per_org=100_000,
		dedup_window_seconds=0,
	)
	results = []
	try:
		for _ in range(args.rounds):
			row = {"load_average": os.getloadavg()[0]}
			if args.only != "engine":
				row["raw"] = phase("raw", args.jobs, _load_raw, args.profile)
			if args.only != "raw":
				row["engine"] = phase(
					"engine", args.jobs, lambda n: _load_engine(n, tenant, job_type), args.profile
				)
				if args.without_app_commands:
					row["engine_no_preload"] = phase(
						"engine_no_preload",
						args.jobs,
						lambda n: _load_engine(n, tenant, job_type),
						args.profile,
						app_commands=False,
					)
			results.append(row)
	finally:
		benchmarks.delete_job_type(job_type)
		for cleanup in _CLEANUP:
			cleanup()
	for row in results:
		raw, eng = row.get("raw"), row.get("engine")
		if raw and eng:
			for key in ("engine", "engine_no_preload"):
				if key not in row:
					continue
				eng = row[key]
				print(
					f"load {row['load_average']:.1f}: one worker raw {raw['jobs_per_s_one_worker']} jobs/s, "
					f"{key} {eng['jobs_per_s_one_worker']} jobs/s, ratio "
					f"{eng['jobs_per_s_one_worker'] / raw['jobs_per_s_one_worker']:.2f}; horse wall p50 "
					f"{raw['horse_wall_ms']['p50_ms']} / {eng['horse_wall_ms']['p50_ms']} ms, cpu "
					f"{raw['horse_cpu_ms_mean']} / {eng['horse_cpu_ms_mean']} ms"
				)


if __name__ == "__main__":
	main()
