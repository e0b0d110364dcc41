"""frappe.enqueue / execute_job against real Redis, RQ workers and MariaDB (test_site).

The job targets live in this module so that worker processes can import them by dotted path.
"""

import time
import uuid

import frappe
import pytest
import redis
from frappe.utils.background_jobs import (
	create_job_id,
	enqueue,
	generate_qname,
	get_job,
	get_job_status,
	get_queue,
	is_job_enqueued,
)
from rq.job import JobStatus

from benchless.testing import redis_queue_conn, start_workers, wait_for

THIS = "benchless.tests.test_jobs_background"
JOB_TIMEOUT = 30  # seconds to wait for a worker to finish a job


# ---------------------------------------------------------------- job targets (run inside workers)
def record_context(marker: str) -> str:
	"""Inserts an Error Log describing the context it ran in; never commits (execute_job must)."""
	description = f"site={frappe.local.site} user={frappe.session.user} job={frappe.local.job.method}"
	frappe.get_doc({"doctype": "Error Log", "method": marker, "error": description}).insert(
		ignore_permissions=True
	)
	return description


def insert_then_fail(marker: str) -> None:
	frappe.get_doc({"doctype": "Error Log", "method": marker, "error": "must be rolled back"}).insert(
		ignore_permissions=True
	)
	raise ValueError(f"boom {marker}")


def fail_once_then_record(marker: str) -> None:
	"""Asks for a retry on the first attempt (RetryBackgroundJobError), records the attempt count after."""
	attempts = redis_queue_conn(frappe.local.site).incr(f"benchless-test:{marker}")
	if attempts == 1:
		raise frappe.RetryBackgroundJobError("try again")
	frappe.get_doc({"doctype": "Error Log", "method": marker, "error": f"attempts={attempts}"}).insert(
		ignore_permissions=True
	)


def nap(seconds: float, marker: str = "") -> None:
	"""Keeps a job STARTED for a while, so deduplication holds even if a worker picked it up."""
	time.sleep(seconds)


# ---------------------------------------------------------------- helpers
def committed_value(marker: str, field: str = "error"):
	"""The committed row written by a worker (roll back first: our snapshot predates it)."""
	frappe.db.rollback()
	return frappe.db.get_value("Error Log", {"method": marker}, field)


def new_marker() -> str:
	return f"bl-job-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def job_id():
	"""A unique job id whose RQ job is deleted afterwards (other suites may share the queues)."""
	value = new_marker()
	yield value
	job = get_job(value)
	if job:
		job.delete()


# ---------------------------------------------------------------- tests without workers
def test_job_id_is_namespaced_by_site_and_queue_by_bench():
	assert create_job_id("abc") == "test_site::abc"
	assert create_job_id(None).startswith("test_site::")
	assert generate_qname("long") == f"{frappe.conf.bench_id}:long"
	assert get_queue("short").name == f"{frappe.conf.bench_id}:short"


def test_enqueue_returns_rq_job_carrying_site_user_and_kwargs(job_id):
	job = enqueue(f"{THIS}.nap", queue="short", job_id=job_id, seconds=0, marker="m1")
	assert job.id == f"test_site::{job_id}"
	assert job.origin == f"{frappe.conf.bench_id}:short"
	assert job.timeout == 300
	assert job.kwargs["site"] == "test_site"
	assert job.kwargs["user"] == "Administrator"
	assert job.kwargs["kwargs"] == {"seconds": 0, "marker": "m1"}
	assert job.kwargs["job_name"] == f"{THIS}.nap"
	assert get_job_status(job_id) is not None


def test_unknown_queue_is_rejected_with_validation_error():
	with pytest.raises(frappe.ValidationError, match="Queue should be one of short, default, long"):
		enqueue(f"{THIS}.nap", queue="urgent", seconds=0)


def test_deduplicate_requires_job_id():
	with pytest.raises(frappe.ValidationError):
		enqueue(f"{THIS}.nap", deduplicate=True, seconds=0)


def test_deduplicate_skips_a_job_already_queued(job_id):
	first = enqueue(f"{THIS}.nap", job_id=job_id, deduplicate=True, seconds=5, marker="x")
	second = enqueue(f"{THIS}.nap", job_id=job_id, deduplicate=True, seconds=5, marker="y")
	assert first is not None
	assert second is None
	assert is_job_enqueued(job_id)
	assert get_job(job_id).kwargs["kwargs"]["marker"] == "x"


def test_deduplicate_replaces_a_finished_job(job_id):
	first = enqueue(f"{THIS}.nap", job_id=job_id, deduplicate=True, seconds=0, marker="x")
	first.set_status(JobStatus.FINISHED)
	second = enqueue(f"{THIS}.nap", job_id=job_id, deduplicate=True, seconds=0, marker="y")
	assert second is not None
	assert get_job(job_id).kwargs["kwargs"]["marker"] == "y"


def test_enqueue_after_commit_is_dropped_on_rollback(job_id):
	assert enqueue(f"{THIS}.nap", enqueue_after_commit=True, job_id=job_id, seconds=0) is None
	frappe.db.rollback()
	assert get_job(job_id) is None
	frappe.db.commit()  # the callback must have been discarded, not merely postponed
	assert get_job(job_id) is None


def test_enqueue_after_commit_happens_on_commit(job_id):
	enqueue(f"{THIS}.nap", enqueue_after_commit=True, job_id=job_id, seconds=0)
	assert get_job(job_id) is None
	frappe.db.commit()
	assert get_job(job_id) is not None


def test_now_runs_in_process_and_returns_the_value():
	marker = new_marker()
	frappe.local.job = frappe._dict(method="inline")
	try:
		result = enqueue(f"{THIS}.record_context", now=True, marker=marker)
	finally:
		frappe.db.rollback()
		del frappe.local.job
	assert result == "site=test_site user=Administrator job=inline"


def test_redis_down_raises_connection_error(monkeypatch):
	monkeypatch.setitem(frappe.local.conf, "redis_queue", "redis://127.0.0.1:1/0")
	monkeypatch.setattr("frappe.utils.background_jobs.REDIS_CONNECT_ATTEMPTS", 1)
	with pytest.raises(redis.exceptions.ConnectionError):
		enqueue(f"{THIS}.nap", seconds=0)


# ---------------------------------------------------------------- tests with real workers
@pytest.mark.workers
def test_worker_runs_job_in_site_context_and_commits():
	marker = new_marker()
	with start_workers("test_site", count=1):
		job = enqueue(f"{THIS}.record_context", queue="short", marker=marker)
		wait_for(lambda: committed_value(marker), timeout=JOB_TIMEOUT)
		wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, timeout=JOB_TIMEOUT)
	assert committed_value(marker) == (f"site=test_site user=Administrator job={THIS}.record_context")
	assert job.return_value(refresh=True) == committed_value(marker)


@pytest.mark.workers
def test_failing_job_rolls_back_and_writes_error_log():
	marker = new_marker()
	with start_workers("test_site", count=1):
		job = enqueue(f"{THIS}.insert_then_fail", marker=marker)
		wait_for(lambda: job.get_status(refresh=True) == JobStatus.FAILED, timeout=JOB_TIMEOUT)
	assert committed_value(marker) is None, "the job's own write must be rolled back"
	frappe.db.rollback()
	logs = frappe.get_all(
		"Error Log",
		filters={"method": f"{THIS}.insert_then_fail"},
		fields=["error"],
		order_by="creation desc",
	)
	assert any(f"boom {marker}" in log.error for log in logs)


@pytest.mark.workers
def test_retry_background_job_error_reruns_the_job():
	marker = new_marker()
	with start_workers("test_site", count=1):
		job = enqueue(f"{THIS}.fail_once_then_record", marker=marker)
		wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, timeout=JOB_TIMEOUT)
	assert committed_value(marker) == "attempts=2"
	redis_queue_conn("test_site").delete(f"benchless-test:{marker}")


@pytest.mark.workers
def test_deduplicated_job_runs_once_per_queueing(job_id):
	enqueue(f"{THIS}.record_context", job_id=job_id, deduplicate=True, marker=job_id)
	assert enqueue(f"{THIS}.record_context", job_id=job_id, deduplicate=True, marker=job_id) is None
	with start_workers("test_site", count=2):
		wait_for(lambda: get_job_status(job_id) == JobStatus.FINISHED, timeout=JOB_TIMEOUT)
	frappe.db.rollback()
	assert frappe.db.count("Error Log", {"method": job_id}) == 1
