"""Scheduler sweeps (registered in hooks.py): on every scheduler tick the due work (jobs for later whose
``run_at`` has come, recurring schedules, jobs waiting on a start window or a global cap:
``dispatcher.dispatch_limited_types``) and, as a job of its own, the recovery (retries that are due,
Running jobs whose heartbeat stopped, Queued jobs whose RQ job was lost); every minute the dispatch of
waiting jobs of every organization; daily the retention.

Contract:
- Every sweep works through its whole backlog in one run, one bounded batch (``SWEEP_BATCH_SIZE``) per
  short transaction, until a batch comes back short or its time budget (``SWEEP_BUDGET_SECONDS``) is
  spent; what is left is the next run's. Batches follow a keyset (the sweep's time column, then the
  name), so a job a sweep leaves where it is (its step failed, its RQ job is alive) is read once per run.
- Safe on two scheduler processes at once: each job is moved only through the compare-and-set in
  ``state.transition`` (the second sweeper's change simply does not apply). Every sweep reads its
  batch with ``FOR UPDATE SKIP LOCKED``, so two sweepers split a backlog instead of both working the
  same rows (a worker claiming a row of a lost-dispatch batch waits for that batch's short
  transaction); the lost-dispatch sweep also guards its change with the RQ job id it found missing.
- A run whose first batch is full enqueues ``dartwing_sweep_helpers`` (``SWEEP_HELPERS``) helper RQ jobs
  on ``short`` running the same sweep (deduplicated job ids; a helper calls none), so free workers
  share a backlog: the row sweeps split it by SKIP LOCKED, the dispatch walk by organization hash.
- With ``dartwing_due_lookahead_seconds`` set, the due sweep stays until just before the next tick and
  releases each job at its own ``run_at`` (sub-tick precision, a ``default`` worker waiting meanwhile).
- Each batch commits its own work; one failing sweep is logged and does not stop the others. What a
  moved job causes (its dispatch) follows from its status change (``state.ON_TRANSITION``), after
  the batch's commit.
- The dispatch sweep walks every organization that has Pending jobs and may dispatch (Active, or gone:
  dispatch dead-letters their jobs), in name order from where the last unfinished walk stopped;
  Suspended organizations are never read, so they cannot crowd out active ones.
"""

import time
from collections.abc import Callable
from datetime import timedelta

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

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
_DISPATCH_CURSOR = "dartwing:dispatch_sweep_after"  # cache key: the last organization of an unfinished walk


def run_sweeps() -> None:
	"""Cron entry point (every minute)."""
	_run_isolated(dispatch_waiting_jobs)


def run_due_work() -> None:
	"""Cron entry point of every scheduler tick (hooks.py registers it with a seconds field, so Frappe
	finds it due on each tick): jobs for later, then recurring schedules."""
	from dartwing.dartwing_core.background_jobs import schedules

	for sweep in (
		release_due_jobs,
		schedules.submit_due_schedules,
		dispatcher.dispatch_limited_types,
		release_until_next_tick,  # last: it may wait until the next tick
	):
		_run_isolated(sweep)


def run_recovery() -> None:
	"""Cron entry point of every scheduler tick, a job of its own beside ``run_due_work``: a recovery
	backlog (a vendor outage's retries, a flushed Redis) never delays jobs for later."""
	for sweep in (retry_due_jobs, recover_stale_jobs, requeue_lost_jobs):
		_run_isolated(sweep)


class Budget:
	"""A sweep run's time budget: batches go on until it is spent (monotonic clock)."""

	def __init__(self, seconds: float | None = None) -> None:
		seconds = config.SWEEP_BUDGET_SECONDS if seconds is None else seconds
		self.deadline = time.monotonic() + seconds

	def spent(self) -> bool:
		return time.monotonic() >= self.deadline


def _run_isolated(sweep: Callable[[], int]) -> None:
	try:
		count = sweep()
		frappe.db.commit()
		if count:
			frappe.logger("dartwing.jobs").info(f"{sweep.__name__}: {count}")
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Job sweep {sweep.__name__} failed")


_HELPED_SWEEPS = {
	"release": "release_due_jobs",
	"retry": "retry_due_jobs",
	"stale": "recover_stale_jobs",
	"lost": "requeue_lost_jobs",
	"dispatch": "dispatch_waiting_jobs",
}
_HELPER = "dartwing_sweep_helper"  # flag: this run is a helper (it never calls helpers itself)


def call_helpers(sweep: str, parts: int = 0) -> None:
	"""Enqueue ``dartwing_sweep_helpers`` (site config, default ``SWEEP_HELPERS``) RQ jobs on the
	``short`` queue that run the same sweep: the backlog is shared by as many workers (worker hosts)
	as are free. One job id per (sweep, helper), deduplicated, so two schedulers never start more."""
	if frappe.flags.get(_HELPER):
		return
	for helper in range(helper_count()):
		frappe.enqueue(
			f"{__name__}.help_sweep",
			queue="short",
			job_id=f"dartwing_sweep_helper::{sweep}::{helper}",
			deduplicate=True,
			sweep=sweep,
			helper=helper,
			parts=parts,
		)


def helper_count() -> int:
	configured = frappe.conf.get("dartwing_sweep_helpers")
	return max(0, int(config.SWEEP_HELPERS if configured is None else configured))


def help_sweep(sweep: str, helper: int = 0, parts: int = 0) -> None:
	"""RQ job: one more worker on a sweep's backlog. The retry, release, stale and lost sweeps split it
	by ``FOR UPDATE SKIP LOCKED``; the dispatch walk by organization (part ``helper + 1`` of ``parts``,
	as the caller split it)."""
	function = globals()[_HELPED_SWEEPS[sweep]]
	frappe.flags[_HELPER] = True
	try:
		if sweep == "dispatch":
			_run_isolated(lambda: dispatch_waiting_jobs(part=helper + 1, parts=parts))
		else:
			_run_isolated(function)
	finally:
		frappe.flags[_HELPER] = False


def _work_through(
	condition: str,
	column: str,
	step: Callable[[frappe._dict], bool],
	*,
	batch_size: int,
	budget: Budget,
	check_batch: Callable[[list[frappe._dict]], object] | None = None,
	helped: str = "",
	**values: object,
) -> int:
	"""Run ``step`` on every job matching ``condition``, ``column`` order then name, one batch per
	transaction, until a batch comes back short or ``budget`` is spent; returns how many steps
	reported a move. ``check_batch`` sees each batch before its steps (one Redis round trip for all).
	``helped`` names the sweep for ``help_sweep`` when a first full batch calls helpers. A batch that
	InnoDB picks as a deadlock's victim (concurrent dispatches and sweeps lock the same jobs' index
	entries) was rolled back whole: it is read and run again, up to ``SWEEP_DEADLOCK_RETRIES`` times."""
	moved, after, deadlocks = 0, None, 0
	while True:
		frappe.db.commit()  # a fresh read view for this batch; the caller's work is its own
		rows = _batch(condition, column, after, batch_size, **values)
		if after is None and len(rows) == batch_size and helped and not deadlocks:
			call_helpers(helped)  # a backlog beyond one batch: more workers share it (SKIP LOCKED)
		try:
			if check_batch and rows:
				check_batch(rows)
			batch_moved = sum(1 for row in rows if step(row))
			frappe.db.commit()  # releases the batch's locks; its moved jobs dispatch now
		except frappe.QueryDeadlockError:
			frappe.db.rollback()  # the batch's changes are gone: forget their consequences too
			deadlocks += 1
			if deadlocks > config.SWEEP_DEADLOCK_RETRIES:
				raise
			frappe.log_error(title=f"Sweep batch retried after a deadlock ({deadlocks})")
			continue
		moved += batch_moved
		if len(rows) < batch_size or budget.spent():
			return moved
		after = (rows[-1].sweep_key, rows[-1].name)


def _batch(
	condition: str,
	column: str,
	after: tuple | None,
	batch_size: int,
	**values: object,
) -> list[frappe._dict]:
	keyset = ""
	if after is not None:
		keyset = f" AND (j.`{column}` > %(after_value)s OR (j.`{column}` = %(after_value)s AND j.name > %(after_name)s))"
		values = {**values, "after_value": after[0], "after_name": after[1]}
	return state.select(
		condition + keyset,
		{"now": now_datetime(), **_STATUSES, **values},
		order_by=f"j.`{column}`, j.name",
		limit=batch_size,
		extra_columns=(f"j.`{column}` AS sweep_key",),  # not every sweep's column is in the JobRow
		skip_locked=True,
	)


def release_due_jobs(batch_size: int = config.SWEEP_BATCH_SIZE, budget: Budget | None = None) -> int:
	"""Scheduled jobs whose ``run_at`` has come go to Pending (and so to dispatch), oldest first.

	Reads only the due range of the (status, run_at) index; jobs scheduled for later are never read."""

	def release(job: frappe._dict) -> bool:
		message = _("Due: scheduled for {0}").format(job.run_at)
		return bool(state.transition(job, JobStatus.PENDING, message=message))

	return _work_through(
		"j.status = %(scheduled)s AND j.run_at <= %(now)s",
		"run_at",
		release,
		batch_size=batch_size,
		budget=budget or Budget(),
		helped="release",
	)


def release_until_next_tick() -> int:
	"""Sub-tick precision, when the site asks for it (``dartwing_due_lookahead_seconds`` > 0): the due
	sweep stays up to that long (never past the next tick, so that tick's sweep is not skipped as a
	duplicate) and releases each job at its own ``run_at`` instead of with the next tick's batch.
	The cost is a worker of the ``default`` queue waiting meanwhile (spec.md, "Jobs for later");
	it returns at once when nothing is due inside the window."""
	# The next tick comes one tick after this run's RQ job was enqueued, not after it started: a run
	# that waited for a worker must end as much sooner, or that tick finds it running and skips it.
	until_next_tick = _tick_seconds() - config.DUE_LOOKAHEAD_TICK_MARGIN_SECONDS - _seconds_since_enqueued()
	lookahead = min(_due_lookahead_seconds(), until_next_tick)
	if _due_lookahead_seconds() <= 0 or lookahead <= 0:
		return 0
	horizon = now_datetime() + timedelta(seconds=lookahead)
	released = 0
	while True:
		released += release_due_jobs()  # its commits give a fresh view: jobs submitted meanwhile are seen
		next_at = frappe.db.sql(
			"SELECT MIN(run_at) FROM `tabBackground Job` WHERE status = %(scheduled)s AND run_at > %(now)s",
			{"now": now_datetime(), **_STATUSES},
		)[0][0]
		now = now_datetime()
		if next_at is None or next_at > horizon:
			return released
		# wait for it, looking again at least every poll interval for a job submitted to come sooner
		time.sleep(max(0.0, min((next_at - now).total_seconds(), config.DUE_LOOKAHEAD_POLL_SECONDS)))


def _seconds_since_enqueued() -> float:
	"""How long ago the RQ job running this was enqueued (0 outside a worker)."""
	from datetime import datetime, timezone

	from rq import get_current_job

	job = get_current_job()
	enqueued_at = job.enqueued_at if job else None
	if not enqueued_at:
		return 0.0
	if enqueued_at.tzinfo is None:  # RQ before 2.0 stores naive UTC
		enqueued_at = enqueued_at.replace(tzinfo=timezone.utc)
	return max(0.0, (datetime.now(timezone.utc) - enqueued_at).total_seconds())


def _due_lookahead_seconds() -> float:
	return float(frappe.conf.get("dartwing_due_lookahead_seconds") or 0)


def _tick_seconds() -> float:
	"""Frappe's scheduler tick, read as ``frappe.utils.scheduler.get_scheduler_tick`` reads it (an
	integer from ``scheduler_tick_interval``, else 60 s)."""
	return float(cint(frappe.get_conf().get("scheduler_tick_interval")) or 60)


def retry_due_jobs(batch_size: int = config.SWEEP_BATCH_SIZE, budget: Budget | None = None) -> int:
	"""Failed / Timed Out jobs whose ``next_retry_at`` has come go back to Pending, then dispatch.
	One walk per status keeps each batch a range read of the (status, next_retry_at) index."""

	def retry(job: frappe._dict) -> bool:
		attempt = int(job.retry_count or 0) + 1
		message = _("Retry {0} of {1} is due").format(attempt, job.max_retries)
		updates = {"retry_count": attempt, "next_retry_at": None}
		return bool(state.transition(job, JobStatus.PENDING, message=message, updates=updates))

	budget = budget or Budget()
	return sum(
		_work_through(
			"j.status = %(status)s AND j.next_retry_at <= %(now)s",
			"next_retry_at",
			retry,
			batch_size=batch_size,
			budget=budget,
			helped="retry",
			status=status,
		)
		for status in _STATUSES["retry_waiting"]
	)


def recover_stale_jobs(
	batch_size: int = config.SWEEP_BATCH_SIZE, stale_after: float | None = None, budget: Budget | None = None
) -> int:
	"""Running jobs whose heartbeat stopped (worker killed, out of memory, machine lost) fail over.

	The batch is read locked (``FOR UPDATE``), so each row is current when it is decided on: a
	heartbeat or a cancel request that came since the threshold is seen."""
	stale_after = stale_after or float(
		frappe.conf.get("dartwing_stale_heartbeat_seconds") or config.STALE_HEARTBEAT_SECONDS
	)
	threshold = now_datetime() - timedelta(seconds=stale_after)

	def recover(job: frappe._dict) -> bool:
		if job.status != JobStatus.RUNNING.value or (job.heartbeat_at and job.heartbeat_at >= threshold):
			return False
		lost = WorkerLost(_("No heartbeat from worker {0} since {1}").format(job.worker, job.heartbeat_at))
		return _isolated(lambda: outcome.record_failure(job, lost))

	return _work_through(
		"j.status = %(running)s AND j.heartbeat_at < %(threshold)s",
		"heartbeat_at",
		recover,
		batch_size=batch_size,
		budget=budget or Budget(),
		helped="stale",
		threshold=threshold,
	)


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
	batch_size: int = config.SWEEP_BATCH_SIZE,
	grace_seconds: float = config.LOST_DISPATCH_GRACE_SECONDS,
	budget: Budget | None = None,
) -> int:
	"""Queued jobs whose RQ job vanished (Redis restarted or flushed, enqueue failed) are dispatched again.

	Each batch's RQ jobs are looked up in one Redis round trip; the change is guarded by the RQ job
	id found missing, so a job dispatched again meanwhile is left alone. The batch's rows are locked
	for its short transaction: a worker claiming one of them waits that long."""
	threshold = now_datetime() - timedelta(seconds=grace_seconds)
	alive: set[str] = set()

	def look_up(rows: list[frappe._dict]) -> None:
		alive.clear()
		alive.update(live_rq_jobs([row.rq_job_id for row in rows if row.rq_job_id]))

	def requeue(job: frappe._dict) -> bool:
		if job.rq_job_id in alive:
			return False
		message = _("Its RQ job was lost; dispatching again")
		guard = {"rq_job_id": job.rq_job_id}
		return bool(state.transition(job, JobStatus.PENDING, message=message, guard=guard))

	return _work_through(
		"j.status = %(queued)s AND j.enqueued_at < %(threshold)s",
		"enqueued_at",
		requeue,
		batch_size=batch_size,
		budget=budget or Budget(),
		check_batch=look_up,
		helped="lost",
		threshold=threshold,
	)


def live_rq_jobs(rq_job_ids: list[str]) -> set[str]:
	"""Those of ``rq_job_ids`` whose RQ job is still queued, started, deferred or scheduled: one
	pipelined read of each job's status field (what ``Job.get_status`` reads)."""
	from frappe.utils.background_jobs import get_redis_conn
	from rq.job import Job

	if not rq_job_ids:
		return set()
	pipe = get_redis_conn().pipeline(transaction=False)
	for rq_job_id in rq_job_ids:
		pipe.hget(Job.key_for(rq_job_id), "status")
	statuses = pipe.execute()
	return {
		rq_job_id
		for rq_job_id, status in zip(rq_job_ids, statuses, strict=True)
		if status and status.decode() in LIVE_RQ_STATUSES
	}


def dispatch_waiting_jobs(
	batch_size: int = config.SWEEP_BATCH_SIZE,
	budget: Budget | None = None,
	part: int = 0,
	parts: int = 0,
) -> int:
	"""Pending jobs of every organization (reactivated, below its cap again, parents done) are dispatched.

	Walks the organizations that may dispatch in name order, a batch of names at a time, each
	organization in its own transaction (``dispatcher.dispatch_now``). When there are more than one
	batch of them, the walk is split by organization into ``1 + helpers`` parts and the helpers walk
	the others in parallel. A walk the budget cuts short is resumed after its last organization by
	the next run (then wraps around), so no organization waits more than a walk however many there are."""
	budget = budget or Budget()
	parts = parts or _split_walk(batch_size)
	return _walk(part, parts, batch_size, budget)


def _split_walk(batch_size: int) -> int:
	"""How many parts the walk has: one, or (more than a batch of organizations waiting) one per
	helper too, whose jobs are enqueued here."""
	if not helper_count() or len(dispatcher.organizations_with_pending(limit=batch_size)) < batch_size:
		return 1
	parts = helper_count() + 1
	call_helpers("dispatch", parts)
	return parts


def _walk(part: int, parts: int, batch_size: int, budget: Budget) -> int:
	cursor = f"{_DISPATCH_CURSOR}:{part}/{parts}"
	start = frappe.cache.get_value(cursor) or ""
	after, queued, wrapped = start, 0, not start
	while True:
		frappe.db.commit()  # a fresh view of which organizations have Pending jobs
		organizations = dispatcher.organizations_with_pending(
			after=after, limit=batch_size, part=part, parts=parts
		)
		if wrapped and start:
			organizations = [org for org in organizations if org <= start]
		for organization in organizations:
			queued += dispatcher.dispatch_now(organization)
			after = organization
			if budget.spent():
				frappe.cache.set_value(cursor, after)
				return queued
		if len(organizations) < batch_size:
			if wrapped:
				frappe.cache.delete_value(cursor)
				return queued
			after, wrapped = "", True  # resumed mid-walk: the organizations before the cursor come last


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
