"""Helpers for engine tests that run real workers: unique tenants and job types, committed data,
and polling that reads fresh rows.

Every class with workers starts its own: on benchless, benchless's workers; on a real bench, Frappe's own
``bench worker`` processes, because the bench runs one worker for all queues (bench's Procfile), which the
scheduler or an earlier class may keep busy, and some tests need two jobs running at once. A class ends
what it left unfinished (cancels it and waits until nothing of it runs), so the next class starts with idle
workers and no backlog. Tests with workers must commit (workers are other processes), so every tenant and
job type made here has a unique name and is left behind in the test database like any other test record.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs.transitions import CANCELABLE, JobStatus
from dartwing.tests.utils import ON_BENCHLESS, make_member, make_org, make_user, recount_rollup, wait_until

WORKER_QUEUES = "short,default,long"  # what bench's Procfile worker serves (Frappe's standard queues)
WORKER_START_TIMEOUT = 60  # s for a Frappe worker process to register with RQ
WORKER_STOP_GRACE = 10  # s after SIGTERM (RQ's warm shutdown) before the process group is killed
LEFTOVER_TIMEOUT = 60  # s for canceled Running jobs to stop at their next checkpoint


def unique(prefix: str) -> str:
	return f"{prefix}-{frappe.generate_hash(length=8)}"


def make_tenant(role: str = "Owner", org: str | None = None) -> tuple[str, str]:
	"""A fresh user who is an Active `role` of a fresh (or the given) Active organization."""
	org = org or make_org(unique("T Org"))
	user = make_user(f"{unique('user').lower()}@example.test")
	make_member(user, org, role=role)
	return user, org


def make_job_type(handler: str = "dartwing.demo.demo_noop", **fields: Any) -> str:
	"""A fresh enabled Job Type with short backoff, so retries happen in seconds."""
	name = unique("t_type").replace("-", "_")
	values = {
		"doctype": "Job Type",
		"job_type_name": name,
		"handler": handler,
		"enabled": 1,
		"backoff_base_seconds": 1,
		"backoff_factor": 1,
		"backoff_max_seconds": 1,
		"backoff_jitter": 0,
		"dedup_window_seconds": 0,
		**fields,
	}
	frappe.get_doc(values).insert(ignore_permissions=True)
	return name


def update_jobs_directly(organization: str, query: str, values: Any = ()) -> None:
	"""Run ``query`` (an UPDATE of job rows of ``organization``) past the engine's transitions, as a test's
	shortcut, then ``recount_rollup``."""
	frappe.db.sql(query, values)
	recount_rollup(organization)


def set_job_directly(job: str, fieldname: str | dict, value: Any = None) -> None:
	"""``frappe.db.set_value`` on a job past its transitions (a test's shortcut), then its organization's
	rollup recounted (``recount_rollup``)."""
	frappe.db.set_value("Background Job", job, fieldname, value)
	recount_rollup(frappe.db.get_value("Background Job", job, "organization"))


def fresh_row(job: str, fields: Iterable[str] = ("status",)) -> frappe._dict:
	"""Read a job as committed now (ends the current read snapshot first)."""
	frappe.db.rollback()
	return frappe.db.get_value("Background Job", job, list(fields), as_dict=True)


def wait_for_status(
	job: str,
	statuses: str | Iterable[str],
	timeout: float = 30,
	tick: Callable[[], Any] | None = None,
) -> frappe._dict:
	"""Poll until the job reaches one of ``statuses``; ``tick`` runs each round (e.g. a sweep)."""
	wanted = {statuses} if isinstance(statuses, str) else set(statuses)
	deadline = time.monotonic() + timeout
	row = None
	while time.monotonic() < deadline:
		if tick:
			tick()
			frappe.db.commit()
		row = fresh_row(
			job, ("status", "progress", "retry_count", "error_type", "error_message", "next_retry_at")
		)
		if row and row.status in wanted:
			return row
		time.sleep(0.2)
	raise AssertionError(f"job {job} did not reach {sorted(wanted)} in {timeout}s; last seen {row}")


def history(job: str) -> list[tuple[str, str, int]]:
	frappe.db.rollback()
	rows = frappe.db.sql(
		"""SELECT from_status, to_status, attempt FROM `tabJob Execution Log`
		WHERE job = %s ORDER BY `timestamp`, creation""",
		(job,),
	)
	return [(from_status or "", to_status, int(attempt)) for from_status, to_status, attempt in rows]


def as_user(user: str) -> None:
	frappe.set_user(user)


def running_workers(count: int = 2) -> contextlib.AbstractContextManager:
	"""``count`` real RQ worker processes for the test site, idle when the block starts, stopped when it
	ends: benchless's workers on benchless, Frappe's own ``bench worker`` processes on a real bench."""
	if ON_BENCHLESS:
		from benchless.testing import start_workers

		return start_workers(site=frappe.local.site, count=count)
	return frappe_workers(count)


@contextlib.contextmanager
def frappe_workers(count: int) -> Iterator[list[subprocess.Popen]]:
	"""Start ``count`` workers with the command bench's Procfile runs (``bench worker``: Frappe's CLI,
	from the bench's sites directory, this interpreter); each in its own process group, so its work
	horses stop with it."""
	sites = os.path.join(frappe.utils.get_bench_path(), "sites")
	command = [
		sys.executable,
		"-m",
		"frappe.utils.bench_helper",
		"frappe",
		"worker",
		"--queue",
		WORKER_QUEUES,
	]
	procs: list[subprocess.Popen] = []
	try:
		for _ in range(count):
			procs.append(
				subprocess.Popen(
					command,
					cwd=sites,
					stdin=subprocess.DEVNULL,
					stdout=subprocess.DEVNULL,
					start_new_session=True,
				)
			)
		wait_until(lambda: _registered(procs), timeout=WORKER_START_TIMEOUT, interval=0.2)
		yield procs
	finally:
		for proc in procs:
			_stop(proc)


def _rq_workers() -> dict[int, Any]:
	from frappe.utils.background_jobs import get_redis_conn
	from rq import Worker

	return {worker.pid: worker for worker in Worker.all(connection=get_redis_conn())}


def _registered(procs: list[subprocess.Popen]) -> bool:
	for proc in procs:
		if proc.poll() is not None:
			raise RuntimeError(f"worker {proc.pid} exited with code {proc.returncode}")
	registered = _rq_workers()
	return all(proc.pid in registered for proc in procs)


def _stop(proc: subprocess.Popen) -> None:
	"""SIGTERM (RQ's warm shutdown), then SIGKILL the group; unregister a worker killed before it could."""
	if proc.poll() is None:
		with contextlib.suppress(ProcessLookupError):
			os.killpg(proc.pid, signal.SIGTERM)
		with contextlib.suppress(subprocess.TimeoutExpired):
			proc.wait(timeout=WORKER_STOP_GRACE)
	with contextlib.suppress(ProcessLookupError, PermissionError):
		os.killpg(proc.pid, signal.SIGKILL)  # work horses of a stopped worker must not outlive it
	proc.wait()
	worker = _rq_workers().get(proc.pid)
	if worker is not None:
		worker.register_death()


def end_unfinished_jobs(since: datetime | None = None, wait: bool = True) -> list[str]:
	"""Cancel every job (created since ``since``, if given) that has not ended, as a System Manager
	would; with ``wait``, wait until none of them still runs (a Running one stops at its next
	checkpoint, so only wait where workers run). Returns their names."""
	from dartwing.dartwing_core.background_jobs import engine

	frappe.db.rollback()
	filters: dict[str, Any] = {"status": ["in", [status.value for status in CANCELABLE]]}
	if since is not None:
		filters["creation"] = [">=", since]
	names = frappe.get_all("Background Job", filters=filters, pluck="name")
	user = frappe.session.user
	frappe.set_user("Administrator")
	try:
		for name in names:
			try:
				engine.cancel_job(name)
				frappe.db.commit()
			except frappe.ValidationError:  # it ended meanwhile
				frappe.db.rollback()
	finally:
		frappe.set_user(user)
	if names and wait:
		wait_until(
			lambda: frappe.db.rollback()
			or not frappe.db.count(
				"Background Job", {"name": ["in", names], "status": JobStatus.RUNNING.value}
			),
			timeout=LEFTOVER_TIMEOUT,
			interval=0.2,
		)
	return names


def submit_as(user: str, job_type: str, org: str, parameters: dict | None = None, **kwargs: Any) -> str:
	"""Submit as `user` and commit, as an API request would; returns the job name."""
	from dartwing.dartwing_core.background_jobs import engine

	frappe.set_user(user)
	try:
		job = engine.submit_job(job_type, org, parameters, **kwargs)
		frappe.db.commit()
		return job.name
	finally:
		frappe.set_user("Administrator")


class WorkersTestCase(FrappeTestCase):
	"""Tests that need real worker processes. Jobs earlier classes left unfinished are canceled, then
	``set_up_data`` runs and is committed, then the workers start. When the class ends, the jobs it left
	unfinished are canceled (and waited for), then its workers stop."""

	worker_count = 2

	@classmethod
	def setUpClass(cls) -> None:
		super().setUpClass()
		# what earlier classes left unfinished would run ahead of this class's jobs (FIFO queues)
		end_unfinished_jobs(wait=False)
		cls._started_at = now_datetime()
		cls.set_up_data()
		frappe.db.commit()
		cls._workers = running_workers(cls.worker_count)
		cls._workers.__enter__()

	@classmethod
	def set_up_data(cls) -> None:
		"""Tenants and job types the whole class shares (committed before workers start)."""

	@classmethod
	def tearDownClass(cls) -> None:
		try:
			end_unfinished_jobs(cls._started_at)
		finally:
			cls._workers.__exit__(None, None, None)
			super().tearDownClass()
