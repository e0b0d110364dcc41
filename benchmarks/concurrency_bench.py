"""Many jobs at once in one organization, and two "hosts" sharing one MariaDB and Redis.

Phase ``hundred`` (issue #13.5: "100 concurrent jobs in one organization"):
- one organization, a ``demo_sleep`` Job Type allowing ``CONCURRENT`` running per organization, and
  ``CONCURRENT`` real ``python -m benchless worker`` processes; ``CONCURRENT`` jobs submitted in one
  transaction, each sleeping ``SLEEP_SECONDS`` in ``STEPS`` slices with a progress update after each.
- claim latency: the job row's ``started_at`` (``now_datetime()``, the site's time zone) minus the moment
  the submitting transaction committed (the jobs exist for nobody before). Baseline in the same run, on the same idle workers: ``CONCURRENT`` raw
  ``frappe.enqueue("frappe.ping")`` jobs, RQ's own ``started_at`` minus ``enqueued_at``.
- most running at once: sampled from the table while the jobs run, and exact from the jobs'
  ``[started_at, completed_at]`` intervals.
- progress at the client: a python-socketio client, a Member of the organization subscribed to the
  organization's room, stamps each ``job_progress`` arrival; latency is arrival minus the event's own
  ``time`` (set by the engine when it publishes, just after the progress UPDATE commits).
- database work: MariaDB's ``USER_STATISTICS`` for the site's own database user (UPDATE and COMMIT
  commands, rows updated), before and after the run: exact for this site, whoever else uses the server.
  ``userstat`` is turned on for the run and put back as it was. Connections: the most seen at once in
  ``information_schema.PROCESSLIST`` for that user. ``max_connections`` is raised for the run if it is
  below what the run needs (each running job holds two connections: its work horse's and, after its
  first heartbeat, its side channel's), and put back afterwards.
- memory: PSS (shared pages counted once) and RSS of the worker processes and their work horses at the
  peak, from ``/proc/<pid>/smaps_rollup``.

Phase ``two_hosts`` (issue #13.6: "two sets of workers and schedulers on one database and Redis"):
- two groups of ``HOST_WORKERS`` workers and two ``benchless scheduler`` processes (1 s tick), as two
  bench hosts would run them; ``HOST_ORGS`` organizations each submit ``HOST_JOBS_PER_ORG`` short jobs of
  a Job Type capped at ``HOST_CAP`` running per organization.
- caps exact: held (never above) and reached (the cap was the limit), from the most overlapping ``[started_at, completed_at]`` intervals per organization;
  exactly once: each job's count of ``Queued -> Running`` log rows (the claim) is 1 and all are Completed.

Run: ``.venv/bin/python -m benchmarks.run_all concurrency`` (``BENCH_QUICK=1`` for a smoke run).
"""

import contextlib
import datetime
import os
import threading
import time
import uuid
from collections import Counter
from zoneinfo import ZoneInfo

import benchmarks

NAME = "concurrency"
CONCURRENT = benchmarks.size(100, 10)
SLEEP_SECONDS = benchmarks.size(20, 6)
STEPS = benchmarks.size(40, 12)  # a progress update every 0.5 s, beyond the 0.25 s throttle window
WORKER_START_CHUNK = 20  # workers started (and awaited) together: 100 booting at once would starve each other
HOST_WORKERS = benchmarks.size(4, 2)
HOST_ORGS = 3
HOST_JOBS_PER_ORG = benchmarks.size(60, 10)
HOST_CAP = 2
SCHEDULER_TICK = 1.0  # s
CONNECTION_HEADROOM = 50
WAIT_TIMEOUT = 300  # s
POLL_SECONDS = 0.1


# ---------------------------------------------------------------- MariaDB server settings for the run
@contextlib.contextmanager
def admin_connection():
	"""A connection as MariaDB's root (``root_login`` / ``root_password`` of the site's config, as bench's
	own commands use them; root with no password otherwise): the site's user may not change globals."""
	import frappe
	import pymysql

	conn = pymysql.connect(
		host=frappe.conf.db_host or "127.0.0.1",
		port=int(frappe.conf.db_port or 3306),
		user=frappe.conf.root_login or "root",
		password=frappe.conf.root_password or "",
		autocommit=True,
	)
	try:
		yield conn.cursor()
	finally:
		conn.close()


@contextlib.contextmanager
def server_settings(max_connections: int):
	"""Turn on ``userstat`` and raise ``max_connections`` to at least the given value for the block."""
	with admin_connection() as cursor:
		cursor.execute("SELECT @@GLOBAL.userstat, @@GLOBAL.max_connections")
		userstat, connections = cursor.fetchone()
		before = {"userstat": int(userstat), "max_connections": int(connections)}
		cursor.execute("SET GLOBAL userstat = 1")
		if before["max_connections"] < max_connections:
			cursor.execute(f"SET GLOBAL max_connections = {int(max_connections)}")
	try:
		yield before
	finally:
		with admin_connection() as cursor:
			cursor.execute(f"SET GLOBAL userstat = {before['userstat']}")
			cursor.execute(f"SET GLOBAL max_connections = {before['max_connections']}")


def db_user() -> str:
	import frappe

	return frappe.conf.db_user or frappe.conf.db_name


def user_statistics() -> dict[str, int]:
	"""This site's user's counters (reading them needs the PROCESS privilege, hence the admin connection)."""
	keys = ("update_commands", "commits", "rows_updated", "select_commands")
	with admin_connection() as cursor:
		cursor.execute(
			"""SELECT UPDATE_COMMANDS, COMMIT_TRANSACTIONS, ROWS_UPDATED, SELECT_COMMANDS
			FROM information_schema.USER_STATISTICS WHERE USER = %s""",
			(db_user(),),
		)
		row = cursor.fetchone()
	if row is None:
		raise RuntimeError(f"MariaDB keeps no USER_STATISTICS row for {db_user()}: is userstat on?")
	return dict(zip(keys, (int(v) for v in row), strict=True))


def connections_in_use() -> int:
	import frappe

	return int(
		frappe.db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (db_user(),))[0][
			0
		]
	)


# ---------------------------------------------------------------- processes and memory
def _descendants(pid: int) -> list[int]:
	children = []
	with contextlib.suppress(FileNotFoundError):
		for task in os.listdir(f"/proc/{pid}/task"):
			with open(f"/proc/{pid}/task/{task}/children") as f:
				children.extend(int(c) for c in f.read().split())
	return children + [grand for child in children for grand in _descendants(child)]


def _memory_kb(pid: int) -> tuple[int, int]:
	"""(Pss, Rss) in kB, (0, 0) for a process that is gone."""
	values = {}
	with contextlib.suppress(FileNotFoundError, ProcessLookupError):
		with open(f"/proc/{pid}/smaps_rollup") as f:
			for line in f:
				key, _, rest = line.partition(":")
				if key in ("Pss", "Rss"):
					values[key] = int(rest.split()[0])
	return values.get("Pss", 0), values.get("Rss", 0)


def worker_memory(worker_pids: list[int]) -> dict:
	parents = [_memory_kb(pid) for pid in worker_pids]
	horses = [_memory_kb(child) for pid in worker_pids for child in _descendants(pid)]
	return {
		"workers": len(parents),
		"work_horses": len(horses),
		"pss_mb_total": round(sum(p for p, _ in parents + horses) / 1024, 1),
		"rss_mb_total": round(sum(r for _, r in parents + horses) / 1024, 1),
		"worker_rss_mb_mean": round(sum(r for _, r in parents) / max(1, len(parents)) / 1024, 1),
		"horse_rss_mb_mean": round(sum(r for _, r in horses) / max(1, len(horses)) / 1024, 1),
	}


@contextlib.contextmanager
def many_workers(count: int):
	"""``count`` workers, started in chunks; yields all their pids."""
	from benchless.testing import start_workers

	with contextlib.ExitStack() as stack:
		pids = []
		for start in range(0, count, WORKER_START_CHUNK):
			group = stack.enter_context(
				start_workers(site=benchmarks.SITE, count=min(WORKER_START_CHUNK, count - start))
			)
			pids.extend(worker.pid for worker in group.workers)
		yield pids


# ---------------------------------------------------------------- realtime client on the organization's room
class OrgListener:
	"""A Member's Socket.IO client on ``doc:Organization/<org>``, stamping every ``job_progress``."""

	def __init__(self, rt_url: str, web_url: str, authorization: str, org: str) -> None:
		import socketio

		self.namespace = f"/{benchmarks.SITE}"
		self.org = org
		self.arrivals: list[tuple[float, dict]] = []
		self._probe_seen = threading.Event()
		self._lock = threading.Lock()
		self.sio = socketio.Client(reconnection=False)
		self.sio.on("job_progress", self._progress, namespace=self.namespace)
		self.sio.on("bench_probe", lambda *_: self._probe_seen.set(), namespace=self.namespace)
		headers = {"Origin": web_url, "Cookie": "io=1", "Authorization": authorization}
		self.sio.connect(rt_url, headers=headers, namespaces=[self.namespace], wait_timeout=20)

	def _progress(self, data: dict) -> None:
		with self._lock:
			self.arrivals.append((time.time(), data))

	def subscribe(self) -> None:
		"""``doc_subscribe`` has no acknowledgement: publish probes to the room until one arrives."""
		import frappe

		self.sio.emit("doc_subscribe", ("Organization", self.org), namespace=self.namespace)
		deadline = time.monotonic() + 20
		while not self._probe_seen.wait(0.2):
			if time.monotonic() > deadline:
				raise TimeoutError("the organization's room never delivered a probe")
			frappe.publish_realtime("bench_probe", {}, doctype="Organization", docname=self.org)

	def latencies(self, names: set[str], zone: ZoneInfo) -> list[float]:
		with self._lock:
			arrivals = list(self.arrivals)
		out = []
		for arrived, data in arrivals:
			if data.get("job") in names and data.get("time"):
				sent = datetime.datetime.fromisoformat(data["time"]).replace(tzinfo=zone).timestamp()
				out.append(arrived - sent)
		return out

	def close(self) -> None:
		self.sio.disconnect()


# ---------------------------------------------------------------- phase: 100 at once
def raw_pickup(count: int) -> list[float]:
	"""Seconds from RQ's ``enqueued_at`` to its ``started_at`` for ``count`` raw ``frappe.ping`` jobs."""
	import frappe
	from frappe.utils.background_jobs import get_redis_conn
	from rq.job import Job

	run = uuid.uuid4().hex[:8]
	ids = [
		frappe.enqueue("frappe.ping", queue="default", job_id=f"bench-pick-{run}-{i}").id
		for i in range(count)
	]
	conn = get_redis_conn()
	jobs: list[Job] = []

	def all_done() -> bool:
		jobs[:] = Job.fetch_many(ids, connection=conn)
		return all(job is not None and job.get_status(refresh=False) == "finished" for job in jobs)

	_wait(all_done, "raw RQ jobs to finish")
	pickups = [(job.started_at - job.enqueued_at).total_seconds() for job in jobs]
	conn.delete(*[f"rq:job:{rq_id}" for rq_id in ids])
	return pickups


def hundred(rt_url: str, web_url: str) -> dict:
	import frappe

	from benchmarks.realtime_bench import token_for
	from dartwing.dartwing_core.background_jobs import engine
	from dartwing.tests.engine_utils import make_tenant

	((owner, org),) = benchmarks.make_tenants(1)
	member, _ = make_tenant("Member", org=org)
	frappe.db.commit()
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_sleep",
		timeout_seconds=600,
		max_running_per_org=CONCURRENT,
		max_queued_per_org=10 * CONCURRENT,
		rate_limit_count=0,
	)
	zone = ZoneInfo(frappe.utils.get_system_timezone())
	listener = OrgListener(rt_url, web_url, token_for(member), org)
	needed = 2 * CONCURRENT + CONNECTION_HEADROOM
	try:
		listener.subscribe()
		with server_settings(needed) as before, many_workers(CONCURRENT) as pids:
			baseline = raw_pickup(CONCURRENT)
			stats_before = user_statistics()
			frappe.set_user(owner)
			submit_started = time.monotonic()
			names = [
				engine.submit_job(job_type, org, {"seconds": SLEEP_SECONDS, "steps": STEPS}).name
				for _ in range(CONCURRENT)
			]
			frappe.db.commit()
			committed_at = time.time()
			submit_seconds = time.monotonic() - submit_started
			frappe.set_user("Administrator")
			started = time.monotonic()
			samples = _watch(job_type, pids)
			elapsed = time.monotonic() - started
			stats_after = user_statistics()
		rows = _timings(job_type)
		latencies = listener.latencies(set(names), zone)
	finally:
		listener.close()
		deleted = benchmarks.delete_job_type(job_type)
	claims = [r["started_at"].replace(tzinfo=zone).timestamp() - committed_at for r in rows]
	delta = {key: stats_after[key] - stats_before[key] for key in stats_after}
	return {
		"jobs": CONCURRENT,
		"workers": CONCURRENT,
		"sleep_seconds": SLEEP_SECONDS,
		"progress_updates_per_job": STEPS,
		"completed": sum(1 for r in rows if r["status"] == "Completed"),
		"wall_seconds": round(elapsed, 2),
		"wall_over_sleep": round(elapsed / SLEEP_SECONDS, 2),
		"most_running_sampled": samples["most_running"],
		"most_running_exact": _most_overlapping(rows),
		"submit_seconds_one_transaction": round(submit_seconds, 2),
		"claim_latency_from_commit": benchmarks.latency_summary(claims),
		"raw_rq_pickup_baseline": benchmarks.latency_summary(baseline),
		"progress_at_client": benchmarks.latency_summary(latencies),
		"progress_events_received": len(latencies),
		"database": {
			**delta,
			"update_commands_per_second": round(delta["update_commands"] / elapsed, 1),
			"commits_per_second": round(delta["commits"] / elapsed, 1),
			"most_connections": samples["most_connections"],
			"max_connections_before": before["max_connections"],
			"max_connections_during": max(needed, before["max_connections"]),
		},
		"memory_at_peak": samples["memory"],
		"load_average_before": samples["load_before"],
		"jobs_deleted": deleted,
	}


def _watch(job_type: str, pids: list[int]) -> dict:
	"""Poll until every job of ``job_type`` has ended; the peaks of running jobs, connections, memory."""
	import frappe

	peak = {"most_running": 0, "most_connections": 0, "memory": {}, "load_before": os.getloadavg()[0]}
	deadline = time.monotonic() + WAIT_TIMEOUT
	while time.monotonic() < deadline:
		frappe.db.rollback()
		counts = dict(
			frappe.db.sql(
				"SELECT status, COUNT(*) FROM `tabBackground Job` WHERE job_type = %s GROUP BY status",
				(job_type,),
			)
		)
		running = int(counts.get("Running", 0))
		if running > peak["most_running"]:
			peak["most_running"] = running
			peak["memory"] = worker_memory(pids)
		peak["most_connections"] = max(peak["most_connections"], connections_in_use())
		if set(counts) <= {"Completed", "Failed", "Dead Letter", "Canceled", "Timed Out"}:
			return peak
		time.sleep(POLL_SECONDS)
	raise TimeoutError(f"jobs of {job_type} still not ended after {WAIT_TIMEOUT} s")


def _timings(job_type: str) -> list[dict]:
	import frappe

	frappe.db.rollback()
	return frappe.db.sql(
		"""SELECT name, organization, status, creation, started_at, completed_at
		FROM `tabBackground Job` WHERE job_type = %s""",
		(job_type,),
		as_dict=True,
	)


def _most_overlapping(rows: list[dict]) -> int:
	"""The most ``[started_at, completed_at]`` intervals that overlap at one instant."""
	edges = []
	for row in rows:
		if row["started_at"] and row["completed_at"]:
			edges += [(row["started_at"], 1), (row["completed_at"], -1)]
	most = current = 0
	for _at, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
		current += step
		most = max(most, current)
	return most


def _wait(predicate, what: str) -> None:
	deadline = time.monotonic() + WAIT_TIMEOUT
	while not predicate():
		if time.monotonic() > deadline:
			raise TimeoutError(f"waited {WAIT_TIMEOUT} s for {what}")
		time.sleep(POLL_SECONDS)


# ---------------------------------------------------------------- phase: two hosts
@contextlib.contextmanager
def host(name: str):
	"""One "host": its own workers and its own scheduler process, on the shared site."""
	from benchless.testing import spawn, start_workers, stop_process

	scheduler = spawn("scheduler", "--site", benchmarks.SITE, "--tick", str(SCHEDULER_TICK))
	try:
		with start_workers(site=benchmarks.SITE, count=HOST_WORKERS) as group:
			yield group
	finally:
		stop_process(scheduler)


def two_hosts() -> dict:
	import frappe

	from dartwing.dartwing_core.background_jobs import engine

	tenants = benchmarks.make_tenants(HOST_ORGS)
	job_type = benchmarks.make_job_type(
		"dartwing.demo.demo_sleep",
		max_running_per_org=HOST_CAP,
		max_queued_per_org=HOST_JOBS_PER_ORG,
		rate_limit_count=0,
	)
	try:
		with host("a") as host_a, host("b") as host_b:
			started = time.monotonic()
			for user, org in tenants:
				frappe.set_user(user)
				for _ in range(HOST_JOBS_PER_ORG):
					engine.submit_job(job_type, org, {"seconds": 0.2, "steps": 1})
				frappe.db.commit()
			frappe.set_user("Administrator")
			expected = HOST_ORGS * HOST_JOBS_PER_ORG
			_wait(
				lambda: benchmarks.status_counts(job_type).get("Completed", 0) >= expected, "two hosts' jobs"
			)
			elapsed = time.monotonic() - started
			rq_jobs_per_host = [_rq_jobs_run(group) for group in (host_a, host_b)]
		rows = _timings(job_type)
		claims = _claims_per_job(job_type)
	finally:
		deleted = benchmarks.delete_job_type(job_type)
	by_org: dict[str, list[dict]] = {}
	for row in rows:
		by_org.setdefault(row["organization"], []).append(row)
	most_per_org = {org: _most_overlapping(org_rows) for org, org_rows in by_org.items()}
	return {
		"hosts": 2,
		"workers_per_host": HOST_WORKERS,
		"schedulers": 2,
		"organizations": HOST_ORGS,
		"jobs": len(rows),
		"cap_per_org": HOST_CAP,
		"most_running_per_org": most_per_org,
		"cap_held": all(most <= HOST_CAP for most in most_per_org.values()),
		"cap_reached": all(most == HOST_CAP for most in most_per_org.values()),
		"claims_per_job": dict(Counter(claims.values())),
		"every_job_exactly_once": len(claims) == len(rows) and set(claims.values()) == {1},
		"all_completed": all(r["status"] == "Completed" for r in rows),
		"rq_jobs_run_per_host": rq_jobs_per_host,
		"wall_seconds": round(elapsed, 2),
		"jobs_deleted": deleted,
	}


def _claims_per_job(job_type: str) -> dict[str, int]:
	import frappe

	return dict(
		frappe.db.sql(
			"""SELECT l.job, COUNT(*) FROM `tabJob Execution Log` l
			JOIN `tabBackground Job` j ON j.name = l.job
			WHERE j.job_type = %s AND l.to_status = 'Running' GROUP BY l.job""",
			(job_type,),
		)
	)


def _rq_jobs_run(group) -> int:
	"""RQ jobs (engine jobs and the schedulers' sweeps) that this host's workers ran, by RQ's own counts."""
	total = 0
	for worker in group.workers:
		rq_worker = worker.rq_worker()
		if rq_worker is not None:
			rq_worker.refresh()
			total += rq_worker.successful_job_count + rq_worker.failed_job_count
	return total


def main() -> dict:
	from benchless.testing import start_realtime, start_server

	benchmarks.connect()
	results: dict = {}
	with (
		start_server(benchmarks.SITE) as web_url,
		start_realtime(benchmarks.SITE, webserver_url=web_url) as rt_url,
	):
		results["hundred"] = hundred(rt_url, web_url)
	_print_hundred(results["hundred"])
	results["two_hosts"] = two_hosts()
	_print_two_hosts(results["two_hosts"])
	print(f"  results: {benchmarks.write_result(NAME, results)}")
	return results


def _print_hundred(row: dict) -> None:
	claim, base, prog, db = (
		row["claim_latency_from_commit"],
		row["raw_rq_pickup_baseline"],
		row["progress_at_client"],
		row["database"],
	)
	benchmarks.report(
		f"{row['jobs']} jobs in one organization on {row['workers']} workers",
		[
			("completed", row["completed"]),
			("submit of all, one transaction, s", row["submit_seconds_one_transaction"]),
			(
				"most running (sampled / exact)",
				f"{row['most_running_sampled']} / {row['most_running_exact']}",
			),
			(
				"claim after commit p50 / p99 / max ms",
				f"{claim['p50_ms']} / {claim['p99_ms']} / {claim['max_ms']}",
			),
			("raw RQ pickup p50 / p99 / max ms", f"{base['p50_ms']} / {base['p99_ms']} / {base['max_ms']}"),
			(
				"progress at client p50 / p99 ms",
				f"{prog.get('p50_ms')} / {prog.get('p99_ms')} (n={prog['n']})",
			),
			("UPDATEs / s, COMMITs / s", f"{db['update_commands_per_second']} / {db['commits_per_second']}"),
			("most DB connections", db["most_connections"]),
			("wall / sleep", row["wall_over_sleep"]),
			("memory at peak", row["memory_at_peak"]),
		],
	)


def _print_two_hosts(row: dict) -> None:
	benchmarks.report(
		f"two hosts: {row['jobs']} jobs, cap {row['cap_per_org']} per organization",
		[
			("most running per organization", row["most_running_per_org"]),
			("cap held / reached", f"{row['cap_held']} / {row['cap_reached']}"),
			("claims per job", row["claims_per_job"]),
			("every job exactly once", row["every_job_exactly_once"]),
			("RQ jobs run per host", row["rq_jobs_run_per_host"]),
		],
	)


if __name__ == "__main__":
	main()
