"""Helpers for engine tests that run real workers: unique tenants and job types, committed data,
and polling that reads fresh rows.

On benchless the workers are started by the tests; on a real bench they are the bench's own (``bench start``
must run). Tests with workers must commit (workers are other processes), so every tenant and job type made
here has a unique name and is left behind in the test database like any other test record.
"""

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.tests.utils import ON_BENCHLESS, make_member, make_org, make_user


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
	"""Real RQ workers for the test site. On benchless, ``count`` workers are started here; on a real
	bench the bench's own workers serve the tests (``bench start`` must run), which is checked."""
	if ON_BENCHLESS:
		from benchless.testing import start_workers

		return start_workers(site=frappe.local.site, count=count)
	_require_bench_workers()
	return contextlib.nullcontext()


def _require_bench_workers() -> None:
	from frappe.utils.background_jobs import get_redis_conn
	from rq import Worker

	if not Worker.all(connection=get_redis_conn()):
		raise RuntimeError("no RQ worker is running for this bench: start `bench start` before the tests")


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
	"""Tests that need real worker processes: ``set_up_data`` runs first and is committed, then the
	workers start; they stop when the class ends."""

	worker_count = 2

	@classmethod
	def setUpClass(cls) -> None:
		super().setUpClass()
		cls.set_up_data()
		frappe.db.commit()
		cls._workers = running_workers(cls.worker_count)
		cls._workers.__enter__()

	@classmethod
	def set_up_data(cls) -> None:
		"""Tenants and job types the whole class shares (committed before workers start)."""

	@classmethod
	def tearDownClass(cls) -> None:
		cls._workers.__exit__(None, None, None)
		super().tearDownClass()
