"""Runs one Background Job inside an RQ worker (the function ``dispatcher.enqueue`` hands to RQ).

Contract:
- ``run_job`` never raises to the worker for anything a handler does: every outcome ends in a
  recorded status (Completed, Failed / Timed Out with a retry scheduled, Canceled, Dead Letter).
- A job runs at most once at a time: the claim is a compare-and-set from Queued to Running that also
  matches the RQ job id of this dispatch, so stale or duplicate RQ jobs change nothing.
- Before claiming, the organization and the submitter's right to act in it are checked again:
  a deleted organization or a lost membership dead-letters the job ("Organization not found",
  "Permission denied"), a suspended organization sends it back to Pending to wait.
- The handler runs with full Frappe context as the submitter, in the worker's main thread. A side
  channel thread with its own database connection beats the heartbeat, stores and publishes progress,
  watches for cancellation, and stops the job by force when it overruns its timeout or ignores a
  cancellation past the grace period (RQ's stop-job command, then SIGKILL of this work horse).
- Timeouts: RQ's own death penalty (SIGALRM in the work horse's main thread, the thread that runs the
  handler) interrupts a handler at ``timeout_seconds``; a handler stuck where signals cannot reach is
  killed by the side channel after ``TIMEOUT_KILL_GRACE_SECONDS``. Either way the job is Timed Out.
"""

import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import config, permissions, progress, state
from dartwing.dartwing_core.background_jobs.errors import (
	JobCanceled,
	JobTimedOut,
	PermanentError,
	TransientError,
)
from dartwing.dartwing_core.background_jobs.progress import ProgressThrottle, ProgressUpdate, publish_progress
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

if TYPE_CHECKING:
	from dartwing.dartwing_core.background_jobs import retry

RQ_TIMEOUT_EXCEPTIONS = frozenset({"JobTimeoutException"})


def run_job(background_job: str, dispatch_token: str) -> None:
	"""RQ entry point: check, claim, execute and record one job."""
	job = state.load(background_job, for_update=True, with_parameters=True)
	if not job or job.status != JobStatus.QUEUED.value or job.rq_job_id != dispatch_token:
		frappe.logger("dartwing.jobs").info(f"Skipping stale dispatch {dispatch_token} of {background_job}")
		return
	settings = _settings(job.job_type)  # read once: refusal, execution and outcome all use it
	refusal = _refusal(job, settings)
	if refusal:
		to_status, reason, updates = refusal
		state.transition(job, to_status, message=reason, updates=updates, guard={"rq_job_id": dispatch_token})
		frappe.db.commit()
		return
	progress.note_submitter_may_act(job.submitted_by, job.organization)  # the re-check above said so
	if not _claim(job, dispatch_token):
		frappe.db.rollback()
		return
	frappe.db.commit()
	_execute(job, settings)


def _refusal(
	job: frappe._dict, settings: frappe._dict | None
) -> tuple[JobStatus, str, dict[str, Any]] | None:
	found = frappe.db.sql("SELECT status FROM `tabOrganization` WHERE name = %s", (job.organization,))
	org_status = found[0][0] if found else None
	if org_status is None:
		return (
			JobStatus.DEAD_LETTER,
			_("Organization not found"),
			_final_error("OrganizationNotFound", _("Organization not found")),
		)
	if org_status != "Active":
		return JobStatus.PENDING, _("Organization is {0}; waiting").format(org_status), {}
	if settings is None:
		return (
			JobStatus.DEAD_LETTER,
			_("Job Type not found"),
			_final_error("JobTypeNotFound", _("Job Type not found")),
		)
	if not _submitter_still_permitted(job, settings.required_permission):
		return (
			JobStatus.DEAD_LETTER,
			_("Permission denied"),
			_final_error("PermissionDenied", _("Permission denied")),
		)
	return None


def _submitter_still_permitted(job: frappe._dict, required_permission: str | None) -> bool:
	"""The submitter may still submit in the organization and, if the Job Type asks, create its doctype."""
	if not permissions.can_act_in(job.organization, user=job.submitted_by, action="submit"):
		return False
	return not required_permission or frappe.has_permission(
		required_permission, "create", user=job.submitted_by
	)


def _final_error(error_type: str, message: str) -> dict[str, Any]:
	return {
		"error_type": error_type,
		"error_message": message,
		"completed_at": now_datetime(),
		"dedup_key": None,
	}


def _claim(job: frappe._dict, dispatch_token: str) -> bool:
	now = now_datetime()
	worker = f"{socket.gethostname()}:{os.getpid()}"
	updates = {
		"worker": worker,
		"started_at": now,
		"heartbeat_at": now,
		"progress": 0,
		"progress_message": "",
	}
	claimed = state.transition(
		job,
		JobStatus.RUNNING,
		message=_("Started"),
		updates=updates,
		guard={"rq_job_id": dispatch_token},
		actor=job.submitted_by,
	)
	if claimed:
		job.update(updates)
		job.status = JobStatus.RUNNING.value
	return claimed


class JobContext:
	"""What a handler receives: its parameters and the means to report progress and stop early."""

	def __init__(
		self, job: Mapping[str, Any], parameters: dict[str, Any], throttle: ProgressThrottle
	) -> None:
		self.name: str = job["name"]
		self.job_type: str = job["job_type"]
		self.organization: str = job["organization"]
		self.submitted_by: str = job["submitted_by"]
		self.attempt: int = int(job.get("retry_count") or 0) + 1
		self.parameters = parameters
		self.output_reference: str | None = None
		self._throttle = throttle
		self._cancel = threading.Event()
		self._urgent: ProgressUpdate | None = None
		self._wake = threading.Event()

	@property
	def cancel_requested(self) -> bool:
		return self._cancel.is_set()

	def checkpoint(self) -> None:
		"""Raise ``JobCanceled`` if cancellation was requested. Costs no I/O."""
		if self._cancel.is_set():
			raise JobCanceled(_("Job {0} was canceled").format(self.name))

	def update_progress(self, percent: float, message: str = "") -> None:
		"""Report progress (0-100) and a step message; also a cancellation checkpoint."""
		self.checkpoint()
		percent = min(max(float(percent), 0.0), 100.0)
		update = self._throttle.offer(percent, str(message or "")[:140])
		if update is not None:
			self._urgent = update
			self._wake.set()


class SideChannel(threading.Thread):
	"""Heartbeat, progress, cancellation and overrun watch for one running job (own DB connection)."""

	def __init__(self, job: frappe._dict, ctx: JobContext) -> None:
		super().__init__(name=f"dartwing-side-{job.name}", daemon=True)
		self.job = job
		self.ctx = ctx
		self.site = frappe.local.site
		self.grace = float(frappe.conf.get("dartwing_cancel_grace_seconds") or config.CANCEL_GRACE_SECONDS)
		self.deadline = time.monotonic() + int(job.timeout_seconds or config.DEFAULT_TIMEOUT_SECONDS)
		self._stop_event = threading.Event()
		self._cancel_seen_at: float | None = None
		self._last_beat = 0.0

	def stop(self) -> None:
		self._stop_event.set()
		self.ctx._wake.set()
		self.join(timeout=10)

	def run(self) -> None:
		# Most jobs end within one heartbeat: those never open the side channel's connection.
		self.ctx._wake.wait(config.HEARTBEAT_INTERVAL_SECONDS)
		if self._stop_event.is_set() and self.ctx._urgent is None and not self.ctx._throttle.pending:
			return
		frappe.init(self.site)
		try:
			frappe.connect(set_admin_as_user=False)
			frappe.set_user(self.job.submitted_by)
			while not self._stop_event.is_set():
				self.ctx._wake.wait(min(config.PROGRESS_THROTTLE_SECONDS, config.HEARTBEAT_INTERVAL_SECONDS))
				self.ctx._wake.clear()
				self._guarded_tick()
			self._flush(self.ctx._throttle.drain() or self._take_urgent())
		except Exception:
			frappe.logger("dartwing.jobs").exception(f"Side channel of job {self.job.name} stopped")
		finally:
			frappe.destroy()

	def _guarded_tick(self) -> None:
		"""One failed tick (a lost connection, a lock wait) must not end the heartbeat for good."""
		try:
			self._tick()
		except Exception:
			frappe.logger("dartwing.jobs").exception(f"Side channel tick of job {self.job.name} failed")
			try:
				frappe.db.rollback()
			except Exception:
				frappe.local.db = None
				frappe.connect(set_admin_as_user=False)

	def _tick(self) -> None:
		self._flush(self._take_urgent() or self.ctx._throttle.due())
		if time.monotonic() - self._last_beat >= config.HEARTBEAT_INTERVAL_SECONDS:
			self._beat()
		if self._cancel_seen_at and time.monotonic() - self._cancel_seen_at > self.grace:
			self._force(
				JobStatus.CANCELED, _("Stopped by force: cancellation ignored for {0} s").format(self.grace)
			)
		elif time.monotonic() > self.deadline + config.TIMEOUT_KILL_GRACE_SECONDS:
			self._force(JobStatus.TIMED_OUT, _("Stopped by force: over its timeout"))

	def _take_urgent(self) -> ProgressUpdate | None:
		update, self.ctx._urgent = self.ctx._urgent, None
		return update

	def _flush(self, update: ProgressUpdate | None) -> None:
		if update is None:
			return
		frappe.db.sql(
			"""UPDATE `tabBackground Job` SET progress = %s, progress_message = %s, heartbeat_at = %s
			WHERE name = %s AND status = 'Running'""",
			(update.percent, update.message, now_datetime(), self.job.name),
		)
		frappe.db.commit()
		publish_progress(self.job, update.percent, update.message)

	def _beat(self) -> None:
		self._last_beat = time.monotonic()
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET heartbeat_at = %s WHERE name = %s AND status = 'Running'",
			(now_datetime(), self.job.name),
		)
		row = frappe.db.sql(
			"SELECT status, cancel_requested FROM `tabBackground Job` WHERE name = %s",
			(self.job.name,),
			as_dict=True,
		)
		frappe.db.commit()
		if not row or row[0].status != JobStatus.RUNNING.value or row[0].cancel_requested:
			self.ctx._cancel.set()
			self._cancel_seen_at = self._cancel_seen_at or time.monotonic()

	def _force(self, to_status: JobStatus, reason: str) -> None:
		# Reached only while the handler still runs: either we end the job now, or someone else
		# already ended it and this work horse is an orphan whose outcome would be discarded.
		current = state.load(self.job.name, for_update=True)
		if current and current.status == JobStatus.RUNNING.value and current.worker == self.job.worker:
			if to_status is JobStatus.CANCELED:
				_end_canceled(current, reason)
			else:
				_record_failure(
					current, JobTimedOut(reason), traceback_text="", settings=_settings(current.job_type)
				)
			frappe.db.commit()
		_stop_this_work_horse(self.job.rq_job_id)


def _stop_this_work_horse(rq_job_id: str) -> None:
	"""Ask the RQ worker to kill its work horse (this process); SIGKILL ourselves if it does not."""
	try:
		from frappe.utils.background_jobs import get_redis_conn
		from rq.command import send_stop_job_command

		send_stop_job_command(get_redis_conn(), rq_job_id)
		time.sleep(config.HEARTBEAT_INTERVAL_SECONDS * 5)
	finally:
		os.kill(os.getpid(), signal.SIGKILL)


def _execute(job: frappe._dict, settings: frappe._dict) -> None:
	ctx = JobContext(
		job,
		frappe.parse_json(job.pop("parameters", None) or "{}") or {},
		ProgressThrottle(config.PROGRESS_THROTTLE_SECONDS),
	)
	frappe.set_user(job.submitted_by)
	side = SideChannel(job, ctx)
	side.start()
	try:
		handler = frappe.get_attr(settings.handler)
		result = handler(ctx)
	except BaseException as exc:
		trace = traceback.format_exc()
		side.stop()
		_record_failure_committed(job, exc, trace, settings)
		if isinstance(exc, KeyboardInterrupt | SystemExit):
			raise
		return
	side.stop()
	try:
		_record_success(job, result, ctx.output_reference, settings)
		frappe.db.commit()
	except Exception as exc:
		# A deadlock or lost connection here rolled back the handler's own writes with it, so
		# the attempt did not happen: record a transient failure and let the retry policy run it again.
		lost = TransientError(_("Could not record the completion: {0}").format(exc))
		_record_failure_committed(job, lost, traceback.format_exc(), settings)


def _record_failure_committed(
	job: frappe._dict, exc: BaseException, trace: str, settings: frappe._dict
) -> None:
	"""Roll back the attempt and record its failure in a fresh transaction, retried on lock conflicts.

	Nothing is recorded when the job is no longer this dispatch's (a sweep replaced a lost worker).
	"""
	for attempt in range(1, config.RECORD_OUTCOME_ATTEMPTS + 1):
		frappe.db.rollback()
		try:
			current = state.load(job.name, for_update=True)
			if current and current.rq_job_id == job.rq_job_id:
				_record_failure(current, exc, traceback_text=trace, settings=settings)
			frappe.db.commit()
			return
		except Exception:
			if attempt == config.RECORD_OUTCOME_ATTEMPTS:
				raise  # the stale-heartbeat sweep will recover the job
			time.sleep(0.05 * attempt)


def _settings(job_type: str) -> frappe._dict | None:
	rows = frappe.db.sql(
		"""SELECT name, handler, required_permission, max_retries, backoff_base_seconds, backoff_factor,
			backoff_max_seconds, backoff_jitter, unknown_error_policy
		FROM `tabJob Type` WHERE name = %s""",
		(job_type,),
		as_dict=True,
	)
	return rows[0] if rows else None


def _record_success(
	job: frappe._dict, result: Any, output_reference: str | None, settings: frappe._dict
) -> None:
	try:
		result_json = frappe.as_json(result) if result is not None else None
	except (TypeError, ValueError) as exc:
		frappe.db.rollback()
		bad = PermanentError(_("The handler's result cannot be stored: {0}").format(exc))
		_record_failure(state.load(job.name, for_update=True), bad, traceback_text="", settings=settings)
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
		_end_canceled(current, _("Canceled before completion"))


def record_failure(job: frappe._dict, exc: BaseException, *, traceback_text: str = "") -> None:
	"""Record a failed attempt of a Running job (used by the stale-worker sweep). No commit."""
	_record_failure(job, exc, traceback_text=traceback_text, settings=_settings(job.job_type))


def _record_failure(
	job: frappe._dict | None, exc: BaseException, *, traceback_text: str, settings: frappe._dict
) -> None:
	from dartwing.dartwing_core.background_jobs import retry  # failures only: not in every work horse

	if not job or job.status != JobStatus.RUNNING.value:
		return  # someone else already decided this job's outcome
	if isinstance(exc, JobCanceled) or job.cancel_requested:
		_end_canceled(job, _("Canceled"))
		return
	timed_out = isinstance(exc, JobTimedOut) or type(exc).__name__ in RQ_TIMEOUT_EXCEPTIONS
	policy = retry.RetryPolicy.from_job_type(settings or {})
	basis = TransientError(str(exc)) if timed_out else exc
	decision = retry.decide(
		basis, retry_count=_retries_in_budget(job, policy), policy=policy, now=now_datetime()
	)
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


def _retries_in_budget(job: frappe._dict, policy: "retry.RetryPolicy") -> int:
	"""Retries spent from the job's current budget. A person's retry starts a fresh budget of the Job
	Type's size at a later attempt number (max_retries = retries so far + budget), so both the
	exhaustion check and the backoff count from the start of that budget."""
	budget_start = max(int(job.max_retries or 0) - policy.max_retries, 0)
	return max(int(job.retry_count or 0) - budget_start, 0)


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


def _end_canceled(job: frappe._dict, message: str) -> bool:
	"""Running → Canceled, recorded as done by whoever asked for the cancellation."""
	return state.transition(
		job, JobStatus.CANCELED, message=message, updates=state.canceled_updates(job), actor=job.canceled_by
	)
