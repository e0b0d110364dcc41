"""The one door through which a Background Job changes status.

Contract:
- ``transition()`` is the only code that writes ``status``. It checks the transition table
  (``transitions.py``), applies the change as a compare-and-set in SQL
  (``UPDATE … WHERE name=%s AND status=%s``), writes the Job Execution Log row, and queues the
  ``job_status_changed`` event for after commit. A worker, a canceler and a sweeper racing on one job
  can never both win: the loser gets ``False`` and changes nothing.
- It never commits: the change is part of the caller's transaction.
- When a job leaves the set of jobs holding a running slot, or ends for good, the organization's
  dispatch and the dependency cascade are scheduled for after commit (``dispatcher.schedule``).
"""

from collections.abc import Mapping
from typing import Any

import frappe
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import admission, progress
from dartwing.dartwing_core.background_jobs.transitions import JobStatus, check_transition

JOB = "Background Job"
LOG = "Job Execution Log"

# Columns a transition may set beside status; names are never taken from callers' data.
UPDATABLE_COLUMNS = frozenset(
	{
		"queue",
		"rq_job_id",
		"worker",
		"heartbeat_at",
		"enqueued_at",
		"started_at",
		"completed_at",
		"canceled_at",
		"canceled_by",
		"cancel_requested",
		"retry_count",
		"max_retries",
		"next_retry_at",
		"progress",
		"progress_message",
		"result",
		"output_reference",
		"error_type",
		"error_message",
		"error_traceback",
		"attempts",
		"dedup_key",
	}
)
# Extra compare-and-set conditions a caller may add (for example the claiming RQ job id).
GUARD_COLUMNS = frozenset({"rq_job_id", "cancel_requested"})
SLOT_HOLDING = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


def transition(
	job: Mapping[str, Any],
	to_status: JobStatus | str,
	*,
	message: str = "",
	updates: Mapping[str, Any] | None = None,
	guard: Mapping[str, Any] | None = None,
	actor: str | None = None,
) -> bool:
	"""Move ``job`` (a row with name, status, organization, submitted_by, retry_count) to ``to_status``.

	Returns True when this call made the change, False when the job was no longer in
	``job["status"]`` (someone else won). Raises ``InvalidTransition`` for a move the table forbids.
	"""
	from_status = JobStatus(job["status"])
	to_status = JobStatus(to_status)
	check_transition(from_status, to_status)
	updates = dict(updates or {})
	_check_columns(updates, UPDATABLE_COLUMNS)
	_check_columns(guard or {}, GUARD_COLUMNS)
	if not _compare_and_set(job["name"], from_status, to_status, updates, guard or {}):
		return False
	attempt = int(updates.get("retry_count", job.get("retry_count") or 0)) + 1
	write_log(
		job,
		from_status,
		to_status,
		message=message,
		attempt=attempt,
		actor=actor,
		worker=updates.get("worker"),
	)
	progress.publish_status_changed({**job, **updates}, from_status, to_status, message=message)
	if to_status is JobStatus.PENDING and from_status is not JobStatus.QUEUED:
		admission.note_back_in_queue(job["organization"], job["job_type"])  # a retry rejoins the queue
	_schedule_follow_ups(job, from_status, to_status)
	return True


def canceled_updates(job: Mapping[str, Any] | None = None) -> dict[str, Any]:
	"""Columns set when a job ends Canceled: who and when (kept from the request if there was one)."""
	now = now_datetime()
	job = job or {}
	return {
		"canceled_at": job.get("canceled_at") or now,
		"canceled_by": job.get("canceled_by") or frappe.session.user,
		"completed_at": now,
		"next_retry_at": None,
		"dedup_key": None,
	}


def write_log(
	job: Mapping[str, Any],
	from_status: JobStatus | None,
	to_status: JobStatus,
	*,
	message: str,
	attempt: int,
	actor: str | None = None,
	worker: str | None = None,
) -> None:
	"""Append one row to the Job Execution Log (also used for a job's creation).

	The row is built here from the job row this module just changed, so it goes in with ``db_insert``
	(no controller hooks, no link checks): every job goes through several transitions.
	"""
	log = frappe.get_doc(
		{
			"doctype": LOG,
			"job": job["name"],
			"organization": job.get("organization"),
			"from_status": from_status.value if from_status else "",
			"to_status": to_status.value,
			"timestamp": now_datetime(),
			"actor": actor or frappe.session.user,
			"message": (message or "")[:1000],
			"attempt": attempt,
			"worker": worker or job.get("worker") or "",
		}
	)
	log.db_insert()


def load(job_name: str, *, for_update: bool = False, with_parameters: bool = False) -> frappe._dict | None:
	"""The columns the engine decides on (and the parameters, for the worker that runs the job), or
	None when the job does not exist."""
	rows = frappe.db.sql(
		f"""SELECT name, status, organization, job_type, submitted_by, priority, retry_count,
			max_retries, timeout_seconds, queue, rq_job_id, worker, cancel_requested, canceled_by,
			canceled_at, started_at, heartbeat_at, next_retry_at, attempts, dedup_key
			{", parameters" if with_parameters else ""}
		FROM `tabBackground Job` WHERE name = %s {"FOR UPDATE" if for_update else ""}""",
		(job_name,),
		as_dict=True,
	)
	return rows[0] if rows else None


def delete_jobs(names: list[str]) -> None:
	"""Delete jobs with their Job Execution Log and dependency rows (no commit)."""
	if not names:
		return
	values = {"names": tuple(names)}
	frappe.db.sql("DELETE FROM `tabJob Execution Log` WHERE job IN %(names)s", values)
	frappe.db.sql("DELETE FROM `tabBackground Job Dependency` WHERE parent IN %(names)s", values)
	frappe.db.sql("DELETE FROM `tabBackground Job` WHERE name IN %(names)s", values)


def _check_columns(columns: Mapping[str, Any], allowed: frozenset[str]) -> None:
	unknown = set(columns) - allowed
	if unknown:
		raise ValueError(f"Columns not allowed in a transition: {sorted(unknown)}")


def _compare_and_set(
	name: str,
	from_status: JobStatus,
	to_status: JobStatus,
	updates: Mapping[str, Any],
	guard: Mapping[str, Any],
) -> bool:
	assignments = ["`status` = %(to_status)s", "`modified` = %(now)s"]
	values: dict[str, Any] = {"name": name, "from_status": from_status.value, "to_status": to_status.value}
	values["now"] = now_datetime()
	for column, value in updates.items():
		assignments.append(f"`{column}` = %(set_{column})s")
		values[f"set_{column}"] = value
	conditions = ["`name` = %(name)s", "`status` = %(from_status)s"]
	for column, value in guard.items():
		conditions.append(f"`{column}` <=> %(guard_{column})s")
		values[f"guard_{column}"] = value
	frappe.db.sql(
		f"UPDATE `tabBackground Job` SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}",
		values,
	)
	return _affected_rows() == 1


def _affected_rows() -> int:
	# DB-API rowcount of the statement just run (Frappe's own tests read it the same way); saves the
	# round trip of SELECT ROW_COUNT() on every transition.
	return int(frappe.db._cursor.rowcount)


def _schedule_follow_ups(job: Mapping[str, Any], from_status: JobStatus, to_status: JobStatus) -> None:
	from dartwing.dartwing_core.background_jobs import dispatcher

	frees_slot = from_status in SLOT_HOLDING and to_status not in SLOT_HOLDING
	ended = to_status in (JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.DEAD_LETTER)
	if frees_slot or ended:
		dispatcher.schedule(
			job["organization"],
			job_types=[job["job_type"]] if frees_slot else [],
			parents=[job["name"]] if ended else [],
		)
