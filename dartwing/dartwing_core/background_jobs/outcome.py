"""The outcome of an attempt: Completed, or a failure that the retry policy turns into a scheduled
retry (Failed / Timed Out) or the dead letter queue. The only caller of the retry policy.

Contract:
- ``record_success`` completes the job only while this dispatch still owns it and no cancellation was
  requested (compare-and-set guarded by the RQ job id and ``cancel_requested = 0``); losing to a
  cancellation finishes the cancellation, losing to a sweeper keeps the sweeper's outcome. A result
  that cannot be stored as JSON is a permanent failure of the attempt.
- ``record_failure`` decides on a Running job row: a requested cancellation wins; otherwise the error
  is classified and the retry policy decides, counting from the start of the job's current retry
  budget. The budget is stored on the job (``budget_start``, and ``max_retries`` where it ends), so a
  Job Type edited while the job is in flight changes neither its backoff nor its exhaustion; a
  person's retry starts a fresh budget of the Job Type's size at that time.
- A ``Snooze`` (``ctx.snooze``) is recorded here too, as no failure: Running → Scheduled with ``run_at``
  (the due sweep releases it), ``snooze_count`` + 1, no retry spent, the attempt number kept. Past the
  Job Type's ``max_snoozes`` it is a permanent ``SnoozeLimitReached`` failure (Dead Letter). A
  ``TransientError(retry_after=s)`` schedules its retry ``s`` from now instead of the backoff (``retry``).
- ``record_failure_committed`` rolls the attempt back and records the failure in a fresh transaction,
  retried on lock conflicts; it records nothing for a job that is no longer this dispatch's.
- Nothing here commits except ``record_failure_committed`` and the worker's own completion path.
"""

import dataclasses
import time
import traceback
from datetime import timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import cancellation, config, state
from dartwing.dartwing_core.background_jobs.errors import (
	JobCanceled,
	JobTimedOut,
	PermanentError,
	Snooze,
	SnoozeLimitReached,
	TransientError,
)
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

RQ_TIMEOUT_EXCEPTIONS = frozenset({"JobTimeoutException"})


def job_type_settings(job_type: str) -> frappe._dict | None:
	"""What running and recording a job of the type need: its handler, permission and retry policy."""
	rows = frappe.db.sql(
		"""SELECT name, handler, required_permission, max_retries, backoff_base_seconds, backoff_factor,
			backoff_max_seconds, backoff_jitter, unknown_error_policy, max_snoozes, paused
		FROM `tabJob Type` WHERE name = %(name)s""",
		{"name": job_type},
		as_dict=True,
	)
	return rows[0] if rows else None


def record_success(
	job: frappe._dict, result: Any, output_reference: str | None, settings: frappe._dict
) -> None:
	"""Running → Completed with the handler's result (no commit)."""
	try:
		result_json = frappe.as_json(result) if result is not None else None
	except (TypeError, ValueError) as exc:
		frappe.db.rollback()
		bad = PermanentError(_("The handler's result cannot be stored: {0}").format(exc))
		record_failure(state.load(job.name, for_update=True), bad, traceback_text="", settings=settings)
		return
	updates = {
		"result": result_json,
		"output_reference": output_reference,
		"progress": 100,
		"completed_at": now_datetime(),
		"next_retry_at": None,
	}
	# Guarded by this dispatch's RQ job id: a worker that lost contact and was replaced must not
	# complete the retry's attempt.
	guard = {"cancel_requested": 0, "rq_job_id": job.rq_job_id}
	if state.transition(job, JobStatus.COMPLETED, message=_("Completed"), updates=updates, guard=guard):
		return
	# Lost the race: a cancellation arrived, or a sweeper already ended the job. Keep its outcome.
	frappe.db.rollback()
	current = state.load(job.name, for_update=True)
	if (
		current
		and current.status == JobStatus.RUNNING.value
		and current.cancel_requested
		and current.rq_job_id == job.rq_job_id
	):
		cancellation.finish(current, _("Canceled before completion"))


def record_failure_committed(
	job: frappe._dict, exc: BaseException, trace: str, settings: frappe._dict | None
) -> None:
	"""Roll back the attempt and record its failure in a fresh transaction, retried on lock conflicts.

	Nothing is recorded when the job is no longer this dispatch's (a sweep replaced a lost worker).
	"""
	for attempt in range(1, config.RECORD_OUTCOME_ATTEMPTS + 1):
		frappe.db.rollback()
		try:
			current = state.load(job.name, for_update=True)
			if current and current.rq_job_id == job.rq_job_id:
				record_failure(current, exc, traceback_text=trace, settings=settings)
			frappe.db.commit()
			return
		except Exception:
			if attempt == config.RECORD_OUTCOME_ATTEMPTS:
				raise  # the stale-heartbeat sweep will recover the job
			time.sleep(0.05 * attempt)


def record_lost_completion(job: frappe._dict, exc: Exception, settings: frappe._dict) -> None:
	"""The completion could not be committed (a deadlock, a lost connection): that rolled back the
	handler's own writes with it, so the attempt did not happen. Record a transient failure, retried."""
	lost = TransientError(_("Could not record the completion: {0}").format(exc))
	record_failure_committed(job, lost, traceback.format_exc(), settings)


def record_failure(
	job: frappe._dict | None,
	exc: BaseException,
	*,
	traceback_text: str = "",
	settings: frappe._dict | None = None,
) -> None:
	"""Record a failed attempt of a Running job (no commit). ``settings`` default to its Job Type's."""
	from dartwing.dartwing_core.background_jobs import retry  # failures only: not in every work horse

	if not job or job.status != JobStatus.RUNNING.value:
		return  # someone else already decided this job's outcome
	if isinstance(exc, JobCanceled) or job.cancel_requested:
		cancellation.finish(job, _("Canceled"))
		return
	settings = settings if settings is not None else job_type_settings(job.job_type)
	if isinstance(exc, Snooze):
		exc = _snooze_or_limit(job, exc, settings)
		if exc is None:
			return
	timed_out = isinstance(exc, JobTimedOut) or type(exc).__name__ in RQ_TIMEOUT_EXCEPTIONS
	spent, size = retry_budget(job)
	policy = dataclasses.replace(
		retry.RetryPolicy.from_job_type(settings or {}), max_retries=min(size, config.MAX_RETRIES_LIMIT)
	)
	basis = TransientError(str(exc)) if timed_out else exc
	decision = retry.decide(basis, retry_count=spent, policy=policy, now=now_datetime())
	updates = _failure_updates(job, exc, traceback_text, timed_out)
	if decision.retry:
		to_status = JobStatus.TIMED_OUT if timed_out else JobStatus.FAILED
		updates["next_retry_at"] = decision.next_retry_at
	else:
		to_status = JobStatus.DEAD_LETTER
		updates.update(completed_at=now_datetime(), next_retry_at=None, dedup_key=None)
	message = f"{type(exc).__name__}: {exc}"[:500] + f" ({decision.reason})"
	if (
		state.transition(job, to_status, message=message, updates=updates)
		and to_status is JobStatus.DEAD_LETTER
	):
		frappe.log_error(title=f"Background Job {job.name} dead-lettered", message=traceback_text or message)


def _snooze_or_limit(
	job: frappe._dict, snooze: Snooze, settings: frappe._dict | None
) -> SnoozeLimitReached | None:
	"""Running → Scheduled for ``snooze.seconds`` (no retry spent); past the cap, the failure to record."""
	cap = snooze_cap(settings)
	count = int(job.get("snooze_count") or 0)
	reason = f": {snooze.reason}" if snooze.reason else ""
	if count >= cap:
		return SnoozeLimitReached(
			_("Snoozed {0} times, the limit of its Job Type ({1}){2}").format(count, cap, reason)
		)
	run_at = now_datetime() + timedelta(seconds=snooze.seconds)
	message = _("Snoozed for {0} s until {1} (snooze {2} of {3}){4}").format(
		f"{snooze.seconds:g}", run_at.isoformat(), count + 1, cap, reason
	)
	updates = {"run_at": run_at, "snooze_count": count + 1, "next_retry_at": None}
	state.transition(job, JobStatus.SCHEDULED, message=message[:1000], updates=updates)
	return None


def snooze_cap(settings: Any) -> int:
	"""How often a job of the type may snooze (the Job Type's ``max_snoozes``; empty: the default)."""
	value = (settings or {}).get("max_snoozes")
	return config.DEFAULT_MAX_SNOOZES if value is None or value == "" else max(int(value), 0)


def retry_budget(job: Any) -> tuple[int, int]:
	"""(retries spent, retries allowed) in the job's current budget, which starts at ``budget_start``
	(0, or the attempt at which a person retried it) and ends at ``max_retries``."""
	start = int(job.get("budget_start") or 0)
	spent = max(int(job.get("retry_count") or 0) - start, 0)
	return spent, max(int(job.get("max_retries") or 0) - start, 0)


def fresh_budget(job: Any, budget: int) -> dict[str, Any]:
	"""Columns of a job a person retries: the attempt numbers keep counting (the log never repeats
	one), a budget of ``budget`` retries starts at the new attempt, and its snoozes count from 0."""
	retries = int(job.get("retry_count") or 0) + 1
	return {
		"retry_count": retries,
		"budget_start": retries,
		"max_retries": retries + budget,
		"snooze_count": 0,
	}


def _failure_updates(
	job: frappe._dict, exc: BaseException, traceback_text: str, timed_out: bool
) -> dict[str, Any]:
	error_type = "JobTimedOut" if timed_out else type(exc).__name__
	attempts = frappe.parse_json(job.attempts) if job.get("attempts") else []
	attempts.append(
		{
			"attempt": int(job.retry_count or 0) + 1,
			"error_type": error_type,
			"error_message": str(exc)[:1000],
			"traceback": traceback_text[-config.TRACEBACK_LIMIT_CHARS :],
			"at": now_datetime().isoformat(),
			"worker": job.get("worker"),
		}
	)
	return {
		"error_type": error_type,
		"error_message": str(exc)[:2000],
		"error_traceback": traceback_text[-config.TRACEBACK_LIMIT_CHARS :],
		"attempts": frappe.as_json(attempts),
	}
