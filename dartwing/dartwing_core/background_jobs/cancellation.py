"""Cancellation, whole: a person's request, its observation by the running job, the forced stop, and
the Canceled status that ends it.

Contract:
- ``request(job)`` takes a job row locked by the caller (permission already checked). A waiting job
  (Pending, Queued, or Failed / Timed Out before its retry) is Canceled at once, and a Queued one's RQ
  job is removed after commit (best effort: the claim's compare-and-set already keeps it from
  running). A Running job is only flagged (``cancel_requested``, who and when); its worker observes it.
- ``observed(row)``: the side channel's heartbeat read says the job must stop (flagged, no longer
  Running, or gone). The handler then sees ``ctx.cancel_requested`` and ``JobCanceled`` at its next
  checkpoint.
- ``force(job, reason)``: a handler that ignores the request past the grace period is ended Canceled
  by the side channel, and its work horse is killed (``stop_work_horse``, also used for a timeout).
- ``finish(job, message)``: Running → Canceled, recorded as done by whoever asked. A completion that
  races a request loses: it is guarded by ``cancel_requested = 0``, and the outcome recorder then
  finishes the cancellation instead.
"""

import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import config, state
from dartwing.dartwing_core.background_jobs.transitions import CANCELABLE, JobStatus


def request(job: frappe._dict) -> frappe._dict:
	"""Cancel ``job`` (locked by the caller) or, when it runs, ask its worker to stop it."""
	if job.status not in CANCELABLE:
		frappe.throw(
			_("Job {0} is {1} and cannot be canceled").format(job.name, job.status), frappe.ValidationError
		)
	if job.status == JobStatus.RUNNING.value:
		if not job.cancel_requested:
			frappe.db.sql(
				"""UPDATE `tabBackground Job` SET cancel_requested = 1, canceled_by = %(user)s,
					canceled_at = %(now)s
				WHERE name = %(name)s AND status = %(running)s""",
				{"user": frappe.session.user, "now": now_datetime(), "name": job.name, "running": _RUNNING},
			)
		return frappe._dict(job=job.name, status=job.status, cancel_requested=True)
	state.transition(
		job,
		JobStatus.CANCELED,
		message=_("Canceled by {0}").format(frappe.session.user),
		updates=canceled_updates(job),
	)
	if job.status == JobStatus.QUEUED.value:
		frappe.db.after_commit.add(lambda: _remove_from_rq(job.rq_job_id))
	return frappe._dict(job=job.name, status=JobStatus.CANCELED.value, cancel_requested=False)


def observed(row: Mapping[str, Any] | None) -> bool:
	"""True when the running job's current row says it must stop."""
	return not row or row["status"] != _RUNNING or bool(row["cancel_requested"])


def force(job: Mapping[str, Any], reason: str) -> None:
	"""End the job Canceled (if this work horse still owns it) and kill this work horse. Never returns."""
	current = state.load(job["name"], for_update=True)
	if current and current.status == _RUNNING and current.worker == job["worker"]:
		finish(current, reason)
		frappe.db.commit()
	stop_work_horse(job["rq_job_id"])


def finish(job: frappe._dict, message: str) -> state.Change | None:
	"""Running → Canceled, recorded as done by whoever asked for the cancellation."""
	return state.transition(
		job, JobStatus.CANCELED, message=message, updates=canceled_updates(job), actor=job.canceled_by
	)


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


def stop_work_horse(rq_job_id: str) -> None:
	"""Ask the RQ worker to kill its work horse (this process); SIGKILL ourselves if it does not."""
	try:
		from frappe.utils.background_jobs import get_redis_conn
		from rq.command import send_stop_job_command

		send_stop_job_command(get_redis_conn(), rq_job_id)
		time.sleep(config.HEARTBEAT_INTERVAL_SECONDS * 5)
	finally:
		os.kill(os.getpid(), signal.SIGKILL)


_RUNNING = JobStatus.RUNNING.value


def _remove_from_rq(rq_job_id: str | None) -> None:
	if not rq_job_id:
		return
	from frappe.utils.background_jobs import get_redis_conn
	from rq.job import Job

	try:
		Job.fetch(rq_job_id, connection=get_redis_conn()).cancel()
	except Exception:
		frappe.logger("dartwing.jobs").info(f"RQ job {rq_job_id} already gone when canceling")
