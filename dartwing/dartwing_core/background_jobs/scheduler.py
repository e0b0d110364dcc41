"""Scheduler sweeps (registered in hooks.py): retries, recovery, re-dispatch and retention; and, on every
scheduler tick, the due work: jobs for later whose ``run_at`` has come, recurring schedules, and jobs
waiting on a start window or a global cap (``dispatcher.dispatch_limited_types``).

Contract: every sweep is idempotent, bounded per run (``SWEEP_BATCH_SIZE`` / ``PURGE_BATCH_SIZE``) and
safe to run on two scheduler processes at once, because each job is moved only through the
compare-and-set in ``state.transition`` (the second sweeper's change simply does not apply).
Each sweep commits its own work; one failing sweep is logged and does not stop the others. What a
moved job causes (its dispatch) follows from its status change (``state.ON_TRANSITION``).
"""

from collections.abc import Callable
from datetime import timedelta

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import config, dispatcher, outcome, state
from dartwing.dartwing_core.background_jobs.errors import WorkerLost
from dartwing.dartwing_core.background_jobs.transitions import FINAL, RETRY_WAITING, JobStatus

_STATUSES = state.status_values(
	final=FINAL,
	retry_waiting=RETRY_WAITING,
	running=JobStatus.RUNNING,
	queued=JobStatus.QUEUED,
	scheduled=JobStatus.SCHEDULED,
)
LIVE_RQ_STATUSES = frozenset({"queued", "started", "deferred", "scheduled"})


def run_sweeps() -> None:
	"""Cron entry point (every minute)."""
	for sweep in (retry_due_jobs, recover_stale_jobs, requeue_lost_jobs, dispatch_waiting_jobs):
		_run_isolated(sweep)


def run_due_work() -> None:
	"""Cron entry point of every scheduler tick (hooks.py registers it with a seconds field, so Frappe
	finds it due on each tick): jobs for later, then recurring schedules."""
	from dartwing.dartwing_core.background_jobs import schedules

	for sweep in (release_due_jobs, schedules.submit_due_schedules, dispatcher.dispatch_limited_types):
		_run_isolated(sweep)


def release_due_jobs(
	batch_size: int = config.SWEEP_BATCH_SIZE, max_batches: int = config.MAX_DUE_BATCHES_PER_RUN
) -> int:
	"""Scheduled jobs whose ``run_at`` has come go to Pending (and so to dispatch), oldest first.

	Reads only the due range of the (status, run_at) index, one bounded batch at a time, each batch
	its own transaction; jobs scheduled for later are never read. Two sweepers may read the same
	batch: the compare-and-set lets one of them move each job."""
	released = 0
	for _batch in range(max_batches):
		jobs = _select("j.status = %(scheduled)s AND j.run_at <= %(now)s", "j.run_at", batch_size)
		for job in jobs:
			if state.transition(
				job, JobStatus.PENDING, message=_("Due: scheduled for {0}").format(job.run_at)
			):
				released += 1
		frappe.db.commit()  # each batch's releases dispatch after this commit
		if len(jobs) < batch_size:
			break
	return released


def _run_isolated(sweep: Callable[[], int]) -> None:
	try:
		count = sweep()
		frappe.db.commit()
		if count:
			frappe.logger("dartwing.jobs").info(f"{sweep.__name__}: {count}")
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Job sweep {sweep.__name__} failed")


def retry_due_jobs(limit: int = config.SWEEP_BATCH_SIZE) -> int:
	"""Failed / Timed Out jobs whose ``next_retry_at`` has come go back to Pending, then dispatch."""
	jobs = _select("j.status IN %(retry_waiting)s AND j.next_retry_at <= %(now)s", "j.next_retry_at", limit)
	moved = 0
	for job in jobs:
		attempt = int(job.retry_count or 0) + 1
		message = _("Retry {0} of {1} is due").format(attempt, job.max_retries)
		if state.transition(
			job, JobStatus.PENDING, message=message, updates={"retry_count": attempt, "next_retry_at": None}
		):
			moved += 1
	return moved


def recover_stale_jobs(limit: int = config.SWEEP_BATCH_SIZE, stale_after: float | None = None) -> int:
	"""Running jobs whose heartbeat stopped (worker killed, out of memory, machine lost) fail over."""
	stale_after = stale_after or float(
		frappe.conf.get("dartwing_stale_heartbeat_seconds") or config.STALE_HEARTBEAT_SECONDS
	)
	threshold = now_datetime() - timedelta(seconds=stale_after)
	jobs = _select(
		"j.status = %(running)s AND j.heartbeat_at < %(threshold)s",
		"j.heartbeat_at",
		limit,
		threshold=threshold,
	)
	recovered = 0
	for candidate in jobs:
		# Decide on the locked, current row: a heartbeat or a cancel request may have come since.
		job = state.load(candidate.name, for_update=True)
		if (
			not job
			or job.status != JobStatus.RUNNING.value
			or (job.heartbeat_at and job.heartbeat_at >= threshold)
		):
			continue
		lost = WorkerLost(_("No heartbeat from worker {0} since {1}").format(job.worker, job.heartbeat_at))
		if _isolated(lambda job=job, lost=lost: outcome.record_failure(job, lost)):
			recovered += 1
	return recovered


def _isolated(step: Callable[[], None]) -> bool:
	"""Run one job's step so that its failure is logged and skipped, not the whole batch's undoing."""
	try:
		with state.savepoint("dartwing_sweep_step"):
			step()
		return True
	except Exception:
		frappe.log_error(title="Job sweep step failed")
		return False


def requeue_lost_jobs(
	limit: int = config.SWEEP_BATCH_SIZE, grace_seconds: float = config.LOST_DISPATCH_GRACE_SECONDS
) -> int:
	"""Queued jobs whose RQ job vanished (Redis restarted or flushed, enqueue failed) are dispatched again."""
	from frappe.utils.background_jobs import get_redis_conn

	threshold = now_datetime() - timedelta(seconds=grace_seconds)
	jobs = _select(
		"j.status = %(queued)s AND j.enqueued_at < %(threshold)s", "j.enqueued_at", limit, threshold=threshold
	)
	connection = get_redis_conn()
	moved = 0
	for job in jobs:
		if _rq_job_alive(connection, job.rq_job_id):
			continue
		if state.transition(job, JobStatus.PENDING, message=_("Its RQ job was lost; dispatching again")):
			moved += 1
	return moved


def dispatch_waiting_jobs(limit: int = config.SWEEP_BATCH_SIZE) -> int:
	"""Pending jobs of every organization (reactivated, below its cap again, parents done) are dispatched."""
	return sum(dispatcher.dispatch_now(org) for org in dispatcher.organizations_with_pending(limit))


def purge_old_jobs(days: int | None = None) -> int:
	"""Delete jobs that ended more than ``days`` ago with their log and dependency rows, in batches."""
	days = int(days or frappe.conf.get("dartwing_job_retention_days") or config.RETENTION_DAYS)
	cutoff = now_datetime() - timedelta(days=days)
	deleted = 0
	for _batch in range(config.MAX_PURGE_BATCHES_PER_RUN):
		names = frappe.db.sql_list(
			"""SELECT name FROM `tabBackground Job`
			WHERE status IN %(final)s AND completed_at < %(cutoff)s ORDER BY completed_at LIMIT %(limit)s""",
			{"final": _STATUSES["final"], "cutoff": cutoff, "limit": config.PURGE_BATCH_SIZE},
		)
		if not names:
			break
		state.delete_jobs(names)
		frappe.db.commit()  # one short transaction per batch keeps locks brief
		deleted += len(names)
	from dartwing.dartwing_core.doctype.job_execution_log.job_execution_log import JobExecutionLog

	JobExecutionLog.clear_old_logs(days)  # log rows left behind by jobs deleted some other way
	return deleted


def _select(condition: str, order_by: str, limit: int, **values: object) -> list[frappe._dict]:
	return state.select(
		condition, {"now": now_datetime(), **_STATUSES, **values}, order_by=order_by, limit=limit
	)


def _rq_job_alive(connection: object, rq_job_id: str | None) -> bool:
	from rq.exceptions import NoSuchJobError
	from rq.job import Job

	if not rq_job_id:
		return False
	try:
		return Job.fetch(rq_job_id, connection=connection).get_status(refresh=False) in LIVE_RQ_STATUSES
	except NoSuchJobError:
		return False
