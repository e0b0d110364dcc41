"""Batches after their submission (``engine.submit_jobs`` creates them): bookkeeping, the end of a batch
and its ``on_complete`` job, reads, cancellation.

Contract:
- ``on_transitions(changes)`` is a consequence of status changes (``state.ON_TRANSITION``), run after
  their commit: each batch that had a job end is reconciled in a transaction of its own. Reconciling
  recounts the batch's jobs (the ``(batch, status)`` index) rather than keeping counters in the ending
  job's transaction: thousands of parallel completions would otherwise queue on one row lock of the
  batch. A recount after commit is exact: of two jobs ending at once, the later commit's recount sees
  both ended.
- A batch ends exactly once: the batch row moves from Running to its final status with a
  compare-and-set (``UPDATE … WHERE status = 'Running'``), and its ``on_complete`` job is submitted in
  that same transaction, as the batch's creator (whose permissions are checked again then). Two workers
  ending the last two jobs at once both reach the compare-and-set; one wins, the other changes nothing.
  A refused or failing ``on_complete`` is recorded on the batch (``callback_error``); the batch still
  ends. A batch's end is final: a job retried by a person afterwards does not reopen it.
- If the process dies between a job's commit and its batch's reconciliation, ``sweep_running`` (a
  scheduler event) reconciles Running batches untouched for ``BATCH_SWEEP_AGE_SECONDS``.
- ``batch_progress`` is published at most once per ``BATCH_PROGRESS_THROTTLE_SECONDS`` per batch (a
  Redis key claimed with SET NX), ``batch_completed`` once, by the reconciliation that ended the batch,
  after its commit, through ``progress.publish_batch``.
- Reads and cancellation answer a batch of an organization the user may not read exactly like a
  missing one (``DoesNotExistError``); cancelling needs ``permissions.may_manage`` on the batch.
"""

from datetime import timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from dartwing.dartwing_core.background_jobs import (
	arguments,
	batch_status,
	cancellation,
	config,
	engine,
	permissions,
	progress,
	state,
)
from dartwing.dartwing_core.background_jobs.batch_status import BatchStatus
from dartwing.dartwing_core.background_jobs.transitions import CANCELABLE, FINAL, status_tuple

BATCH = "Background Job Batch"
BATCH_COLUMNS = (
	"name",
	"organization",
	"job_type",
	"status",
	"total",
	"ended",
	"completed",
	"failed",
	"canceled",
	"progress",
	"cancel_requested",
	"canceled_by",
	"on_complete",
	"callback_job",
	"callback_error",
	"created_by",
	"creation",
	"ended_at",
)
_SELECT = ", ".join(f"`{column}`" for column in BATCH_COLUMNS)
_RUNNING = BatchStatus.RUNNING.value
_FINAL = status_tuple(FINAL)
_CANCELABLE = status_tuple(CANCELABLE)


def on_transitions(changes: list[state.Change]) -> None:
	"""After a commit: reconcile every batch one of whose jobs ended."""
	names = sorted(
		{change.job.get("batch") for change in changes if change.ended and change.job.get("batch")}
	)
	for name in names:
		reconcile_now(name)


def reconcile_now(name: str) -> None:
	"""Reconcile one batch in its own transaction; errors are logged, never raised."""
	try:
		frappe.db.commit()  # a fresh read view: it must see the commit that called it
		reconcile(name)
		frappe.db.commit()
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Batch bookkeeping failed for {name}")


def reconcile(name: str) -> str | None:
	"""End the batch if all its jobs ended, else refresh its counts now and then; returns its status."""
	remaining = frappe.db.sql(
		"SELECT COUNT(*) FROM `tabBackground Job` WHERE batch = %(batch)s AND status NOT IN %(final)s",
		{"batch": name, "final": _FINAL},
	)[0][0]
	if remaining == 0:
		return finish(name)
	if _progress_due(name):
		batch = _load(name)
		if batch and batch.status == _RUNNING:
			counts = counts_by_status(name)
			_store_counts(name, counts, int(batch.total or 0))
			frappe.db.commit()
			progress.publish_batch(progress.BATCH_PROGRESS, batch, batch_status.summary(batch, counts))
	return _RUNNING


def finish(name: str) -> str | None:
	"""Running → its final status with a compare-and-set, and the on_complete job in the same
	transaction; commits, then publishes ``batch_completed``. None when the batch is gone."""
	batch = _load(name)
	if not batch or batch.status != _RUNNING:
		return batch.status if batch else None
	counts = counts_by_status(name)
	status = batch_status.final_status(counts, cancel_requested=bool(batch.cancel_requested))
	if status is BatchStatus.RUNNING:
		return _RUNNING
	frappe.db.sql(
		"""UPDATE `tabBackground Job Batch` SET status = %(status)s, ended_at = %(now)s, modified = %(now)s
		WHERE name = %(name)s AND status = %(running)s""",
		{"status": status.value, "now": now_datetime(), "name": name, "running": _RUNNING},
	)
	if state.affected_rows() != 1:
		return None  # another process ended it
	_store_counts(name, counts, int(batch.total or 0))
	batch.status = status.value
	summary = batch_status.summary(batch, counts)
	if batch.on_complete:
		_submit_on_complete(batch, summary)
	frappe.db.commit()
	progress.publish_batch(progress.BATCH_COMPLETED, batch, summary)
	return status.value


def _submit_on_complete(batch: frappe._dict, summary: dict[str, Any]) -> None:
	"""The batch's on_complete job, submitted as its creator (checked again); a refusal is recorded."""
	previous = frappe.session.user
	try:
		with state.savepoint("batch_on_complete"):  # a refusal undoes (and forgets) only the callback
			frappe.set_user(batch.created_by or "Administrator")
			job = engine.submit_job(batch.on_complete, batch.organization, summary)
		updates = {"callback_job": job.name}
	except Exception as exc:
		frappe.clear_last_message()
		frappe.log_error(title=f"on_complete of batch {batch.name} was not submitted")
		updates = {"callback_error": str(exc)[:1000] or type(exc).__name__}
	finally:
		frappe.set_user(previous)
	frappe.db.set_value(BATCH, batch.name, updates, update_modified=False)
	batch.update(updates)


def counts_by_status(name: str) -> dict[str, int]:
	return dict(
		frappe.db.sql(
			"SELECT status, COUNT(*) FROM `tabBackground Job` WHERE batch = %(batch)s GROUP BY status",
			{"batch": name},
		)
	)


def _store_counts(name: str, counts: dict[str, int], total: int) -> None:
	summary = batch_status.summary(
		{"name": name, "organization": "", "job_type": "", "status": "", "total": total}, counts
	)
	frappe.db.sql(
		"""UPDATE `tabBackground Job Batch` SET ended = %(ended)s, completed = %(completed)s,
			failed = %(failed)s, canceled = %(canceled)s, progress = %(progress)s WHERE name = %(name)s""",
		{key: summary[key] for key in ("ended", "completed", "failed", "canceled", "progress")}
		| {"name": name},
	)


def _progress_due(name: str) -> bool:
	"""Claim this window's batch_progress event (one process per window wins)."""
	try:
		from frappe.utils.background_jobs import get_redis_conn

		key = f"dartwing:batch_progress:{frappe.local.site}:{name}"
		window_ms = int(config.BATCH_PROGRESS_THROTTLE_SECONDS * 1000)
		return bool(get_redis_conn().set(key, 1, nx=True, px=window_ms))
	except Exception:
		return False  # progress is best effort; the end of the batch never depends on it


def sweep_running(limit: int = config.SWEEP_BATCH_SIZE) -> int:
	"""Scheduler event: reconcile Running batches nobody touched lately (a lost reconciliation)."""
	cutoff = now_datetime() - _age()
	names = frappe.db.sql(
		"""SELECT name FROM `tabBackground Job Batch` WHERE status = %(running)s AND modified < %(cutoff)s
		ORDER BY modified LIMIT %(limit)s""",
		{"running": _RUNNING, "cutoff": cutoff, "limit": limit},
		pluck=True,
	)
	for name in names:
		reconcile_now(name)
		frappe.db.sql(  # checked; next look after another age (a still-Running batch is not re-read each tick)
			"UPDATE `tabBackground Job Batch` SET modified = %(now)s WHERE name = %(name)s AND status = %(running)s",
			{"now": now_datetime(), "name": name, "running": _RUNNING},
		)
		frappe.db.commit()
	return len(names)


def _age() -> timedelta:
	return timedelta(seconds=config.BATCH_SWEEP_AGE_SECONDS)


# Reads and cancellation (the API's)


def get_batch_for_user(name: Any, *, manage: bool = False, for_update: bool = False) -> frappe._dict:
	"""The batch row if the session user may read it (and manage it, with ``manage``); a batch of
	another organization is reported exactly like a missing one."""
	batch = _load(name, for_update=for_update) if isinstance(name, str) and name else None
	if not batch or not permissions.can_act_in(batch.organization, action="read"):
		frappe.throw(_("Background Job Batch {0} not found").format(name), frappe.DoesNotExistError)
	if manage and not permissions.may_manage(batch.organization, batch.created_by):
		frappe.throw(_("Not permitted to change batch {0}").format(name), frappe.PermissionError)
	return batch


def get_batch(name: str) -> dict[str, Any]:
	"""Total, live counts by status, progress (share of jobs ended) and status of a batch."""
	batch = get_batch_for_user(name)
	return serialize(batch, counts_by_status(batch.name))


def cancel_batch(name: str) -> dict[str, Any]:
	"""Cancel every job of the batch that has not ended (running ones at their next checkpoint); the
	batch ends Canceled once they all have. Never commits."""
	batch = get_batch_for_user(name, manage=True, for_update=True)
	if batch.status != _RUNNING:
		frappe.throw(
			_("Batch {0} is {1} and cannot be canceled").format(batch.name, batch.status),
			frappe.ValidationError,
		)
	frappe.db.sql(
		"""UPDATE `tabBackground Job Batch` SET cancel_requested = 1, canceled_by = %(user)s,
			modified = %(now)s WHERE name = %(name)s""",
		{"user": frappe.session.user, "now": now_datetime(), "name": batch.name},
	)
	jobs = frappe.db.sql(
		f"""SELECT {state.ROW_SELECT} FROM `tabBackground Job` j FORCE INDEX ({state.BATCH_INDEX_NAME})
		WHERE j.batch = %(batch)s AND j.status IN %(cancelable)s ORDER BY j.name FOR UPDATE""",
		{"batch": batch.name, "cancelable": _CANCELABLE},
		as_dict=True,
	)
	canceled = stopping = 0
	for job in jobs:
		if cancellation.request(job).cancel_requested:
			stopping += 1
		else:
			canceled += 1
	if not jobs:  # nothing left to end: the batch ends now (its last jobs ended before the request)
		frappe.db.after_commit.add(lambda: reconcile_now(batch.name))
	return {"batch": batch.name, "canceled": canceled, "cancel_requested": stopping}


def list_batches(
	organization: str | None = None,
	status: str | None = None,
	limit: int = config.LIST_LIMIT_DEFAULT,
	start: int = 0,
) -> dict[str, Any]:
	"""The caller's organizations' batches, newest first, with their counts, and the total for paging."""
	organization, status = arguments.text("organization", organization), arguments.text("status", status)
	if status is not None and status not in {s.value for s in BatchStatus}:
		frappe.throw(_("Unknown batch status {0}").format(status), frappe.ValidationError)
	limit, start = _paging(limit, start)
	scope = permissions.org_scope(organization or None)
	if scope.empty:
		return {"batches": [], "total": 0}
	condition, values = scope.sql()
	if status:
		condition += " AND status = %(status)s"
		values["status"] = status
	rows = frappe.db.sql(
		f"""SELECT {_SELECT} FROM `tabBackground Job Batch` WHERE {condition}
		ORDER BY creation DESC, name DESC LIMIT %(limit)s OFFSET %(start)s""",
		{**values, "limit": limit, "start": start},
		as_dict=True,
	)
	total = frappe.db.sql(f"SELECT COUNT(*) FROM `tabBackground Job Batch` WHERE {condition}", values)[0][0]
	counts = _counts_of([row.name for row in rows])
	return {"batches": [serialize(row, counts.get(row.name, {})) for row in rows], "total": int(total)}


def serialize(batch: frappe._dict, counts: dict[str, int]) -> dict[str, Any]:
	return {
		**batch_status.summary(batch, counts),
		"on_complete": batch.on_complete,
		"callback_job": batch.callback_job,
		"callback_error": batch.callback_error,
		"cancel_requested": bool(batch.cancel_requested),
		"canceled_by": batch.canceled_by,
		"created_by": batch.created_by,
		"created_at": _iso(batch.creation),
		"ended_at": _iso(batch.ended_at),
	}


def _counts_of(names: list[str]) -> dict[str, dict[str, int]]:
	"""Live counts by status of several batches in one query (the ``(batch, status)`` index)."""
	counts: dict[str, dict[str, int]] = {}
	if not names:
		return counts
	rows = frappe.db.sql(
		"""SELECT batch, status, COUNT(*) FROM `tabBackground Job` WHERE batch IN %(names)s
		GROUP BY batch, status""",
		{"names": tuple(names)},
	)
	for batch, status, count in rows:
		counts.setdefault(batch, {})[status] = int(count)
	return counts


def _paging(limit: Any, start: Any) -> tuple[int, int]:
	return (
		arguments.integer("limit", limit, lo=1, hi=config.LIST_LIMIT_MAX, default=config.LIST_LIMIT_DEFAULT),
		arguments.integer("start", start, lo=0, hi=config.LIST_START_MAX, default=0),
	)


def _load(name: str, *, for_update: bool = False) -> frappe._dict | None:
	rows = frappe.db.sql(
		f"SELECT {_SELECT} FROM `tabBackground Job Batch` WHERE name = %(name)s {'FOR UPDATE' if for_update else ''}",
		{"name": name},
		as_dict=True,
	)
	return rows[0] if rows else None


def _iso(value: Any) -> str | None:
	return get_datetime(value).isoformat() if value else None
