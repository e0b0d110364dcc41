"""Recurring schedules (Job Schedule): who may keep one, when it runs, and the sweep that submits its
occurrences.

Contract:
- ``submit_due_schedules()`` (every scheduler tick) submits exactly one job per occurrence, even with
  two schedulers or two benches on one database: each occurrence is claimed with a compare-and-set on
  ``next_run_at`` (``UPDATE … WHERE name=%s AND next_run_at=%s``) and its job is submitted in the same
  transaction, which commits both or neither. A crash between the claim and the submission rolls the
  claim back: the occurrence stays due and is submitted once, later. The occurrence is also part of the
  job's dedup key. The next ``next_run_at`` is always after now, so occurrences missed while no
  scheduler ran collapse into one job ("Run once") or none ("Skip missed"; ``scheduling.decide_due``).
- An occurrence that may not be submitted is skipped and the reason shown on the schedule:
  organization suspended ("Paused"), organization or Job Type missing, Job Type disabled, the owner no
  longer allowed to submit it, or the engine refusing the job (rate limit, queue full): "Not submitted".
  The schedule carries on with its next occurrence. Only "Redis unreachable" and unexpected errors
  leave the occurrence due (it is retried on the next tick).
- Jobs are submitted as the schedule's owner, whose rights ``engine.submit_job`` checks again each time.
- Reads (``list_schedules``, ``get_schedule``) are scoped by ``permissions.org_scope``; a schedule of an
  organization the caller cannot see is answered exactly like a missing one.
"""

from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime, get_system_timezone, now_datetime

from dartwing.dartwing_core.background_jobs import config, engine, permissions, scheduling, state
from dartwing.dartwing_core.background_jobs.errors import JobSubmissionUnavailable
from dartwing.dartwing_core.background_jobs.hashing import canonical_json

SCHEDULE = "Job Schedule"
UPCOMING_COUNT = 5  # occurrences the desk and the monitor show
RECENT_JOBS = 10  # last jobs a schedule's detail shows
ACTIVE, PAUSED, NOT_SUBMITTED = "Active", "Paused", "Not submitted"
_REFUSALS = (frappe.ValidationError, frappe.PermissionError, frappe.DoesNotExistError)
_COLUMNS = (
	"name",
	"organization",
	"job_type",
	"description",
	"enabled",
	"cron_expression",
	"time_zone",
	"catch_up",
	"priority",
	"parameters",
	"schedule_status",
	"status_reason",
	"next_run_at",
	"last_run_at",
	"last_job",
	"owner",
	"creation",
)
_SELECT = ", ".join(f"`{column}`" for column in _COLUMNS)


def site_time_zone() -> str:
	return get_system_timezone() or "UTC"


# Who may keep a schedule


def check_may_schedule(organization: str, job_type: str, owner: str | None = None) -> None:
	"""Raise PermissionError unless the session user may submit ``job_type`` in ``organization`` (and,
	for someone else's schedule, manage others' work there)."""
	permissions.check_org_access(organization, action=permissions.SUBMIT)
	if owner and not permissions.may_manage(organization, owner):
		frappe.throw(_("Not permitted to change this schedule"), frappe.PermissionError)
	required = frappe.db.get_value("Job Type", job_type, "required_permission")
	if required and not frappe.has_permission(required, "create"):
		frappe.throw(
			_("You need permission to create {0} to schedule {1} jobs").format(required, job_type),
			frappe.PermissionError,
		)


def parameters_json(parameters: Any) -> str:
	"""The schedule's parameters as stored JSON text: a JSON object within the engine's size limit."""
	if parameters in (None, ""):
		return "{}"
	value = frappe.parse_json(parameters) if isinstance(parameters, str) else parameters
	if not isinstance(value, dict):
		frappe.throw(_("Parameters must be a JSON object"), frappe.ValidationError)
	try:
		text = canonical_json(value)
	except (TypeError, ValueError) as exc:
		frappe.throw(_("Parameters cannot be stored: {0}").format(exc), frappe.ValidationError)
	if len(text.encode()) > config.MAX_PARAMETERS_BYTES:
		frappe.throw(
			_("Parameters exceed the limit of {0} KB").format(config.MAX_PARAMETERS_BYTES // 1024),
			frappe.ValidationError,
		)
	return frappe.as_json(value)


# When it runs


def upcoming(schedule: Any, count: int = UPCOMING_COUNT, after: datetime | None = None) -> list[datetime]:
	"""The next ``count`` occurrences after ``after`` (default now), site time zone."""
	return scheduling.occurrences_after(
		schedule.cron_expression,
		schedule.time_zone or site_time_zone(),
		after or now_datetime(),
		site_time_zone(),
		count,
	)


def submit_due_schedules(
	batch_size: int = config.SWEEP_BATCH_SIZE, max_batches: int = config.MAX_DUE_BATCHES_PER_RUN
) -> int:
	"""Submit every due occurrence (bounded per tick); returns how many jobs were submitted."""
	submitted = 0
	for _batch in range(max_batches):
		frappe.db.commit()  # a fresh read view: what another scheduler claimed is seen
		due = frappe.db.sql(
			"""SELECT name, next_run_at FROM `tabJob Schedule`
			WHERE enabled = 1 AND next_run_at <= %(now)s ORDER BY next_run_at LIMIT %(limit)s""",
			{"now": now_datetime(), "limit": batch_size},
			as_dict=True,
		)
		for row in due:
			submitted += run_occurrence(row.name, row.next_run_at)
		if len(due) < batch_size:
			break
	return submitted


def run_occurrence(name: str, occurrence: datetime) -> bool:
	"""Claim one due occurrence and submit its job, in one transaction that this function commits.
	False when another scheduler claimed it, or it was skipped or refused (the reason is recorded)."""
	schedule = _load(name)
	if not schedule or not schedule.enabled or schedule.next_run_at != occurrence:
		return False
	now = now_datetime()
	decision = scheduling.decide_due(
		schedule.cron_expression, schedule.time_zone, occurrence, now, site_time_zone(), schedule.catch_up
	)
	if not _claim(name, occurrence, decision.next_run_at):
		frappe.db.rollback()
		return False
	if not decision.submit:
		skipped = _("Missed occurrence {0} skipped (catch-up: {1})").format(occurrence, schedule.catch_up)
		return _finish(name, ACTIVE, skipped)
	blocked = _why_not(schedule)
	if blocked:
		return _finish(name, *blocked)
	try:
		with state.savepoint("dartwing_occurrence"):  # a refusal undoes (and forgets) only the submission
			job = _submit_as_owner(schedule, occurrence)
	except JobSubmissionUnavailable:
		frappe.db.rollback()  # the claim too: the occurrence stays due for the next tick
		return False
	except _REFUSALS as exc:
		frappe.clear_last_message()
		return _finish(name, NOT_SUBMITTED, _("Occurrence {0} not submitted: {1}").format(occurrence, exc))
	except Exception:
		frappe.db.rollback()  # as a crash would: the occurrence stays due
		frappe.log_error(title=f"Job Schedule {name}: occurrence {occurrence} failed")
		return False
	return _finish(name, ACTIVE, "", last_run_at=occurrence, last_job=job.name)


def _load(name: str) -> frappe._dict | None:
	rows = frappe.db.sql(f"SELECT {_SELECT} FROM `tabJob Schedule` WHERE name = %s", (name,), as_dict=True)
	return rows[0] if rows else None


def _claim(name: str, occurrence: datetime, next_run_at: datetime) -> bool:
	"""The compare-and-set that makes this transaction the only one to handle ``occurrence``."""
	frappe.db.sql(
		"""UPDATE `tabJob Schedule` SET next_run_at = %(next)s
		WHERE name = %(name)s AND next_run_at = %(occurrence)s AND enabled = 1""",
		{"name": name, "occurrence": occurrence, "next": next_run_at},
	)
	return int(frappe.db._cursor.rowcount) == 1  # as state.affected_rows(): Frappe has no public API


def _why_not(schedule: frappe._dict) -> tuple[str, str] | None:
	"""(status, reason) when this occurrence may not be submitted, before the engine is asked."""
	org_status = frappe.db.get_value("Organization", schedule.organization, "status")
	if not org_status:
		return NOT_SUBMITTED, _("Organization {0} not found").format(schedule.organization)
	if org_status != "Active":
		return PAUSED, _("Organization {0} is {1}: occurrences are skipped until it is Active").format(
			schedule.organization, org_status
		)
	enabled = frappe.db.get_value("Job Type", schedule.job_type, "enabled")
	if enabled is None:
		return NOT_SUBMITTED, _("Job Type {0} not found").format(schedule.job_type)
	if not int(enabled):
		return NOT_SUBMITTED, _("Job Type {0} is disabled").format(schedule.job_type)
	if not permissions.can_act_in(schedule.organization, schedule.owner, permissions.SUBMIT):
		return NOT_SUBMITTED, _("{0} (the schedule's owner) may no longer submit jobs in {1}").format(
			schedule.owner, schedule.organization
		)
	return None


def _submit_as_owner(schedule: frappe._dict, occurrence: datetime) -> Any:
	previous = frappe.session.user
	frappe.set_user(schedule.owner)
	try:
		return engine.submit_job(
			schedule.job_type,
			schedule.organization,
			frappe.parse_json(schedule.parameters or "{}"),
			priority=schedule.priority or None,
			schedule=schedule.name,
			dedup_scope=f"{schedule.name}@{occurrence.isoformat()}",
		)
	finally:
		frappe.set_user(previous)


def _finish(name: str, status: str, reason: str, **done: Any) -> bool:
	"""Record the outcome on the schedule (``modified`` untouched: a form open in desk stays saveable)
	and commit it with the claim and the job."""
	values = {"name": name, "status": status, "reason": reason[:1000], **done}
	extra = "".join(f", `{column}` = %({column})s" for column in sorted(done))
	frappe.db.sql(
		f"""UPDATE `tabJob Schedule` SET schedule_status = %(status)s, status_reason = %(reason)s{extra}
		WHERE name = %(name)s""",
		values,
	)
	frappe.db.commit()
	return bool(done)


# Reads


def list_schedules(
	organization: str | None = None, limit: int = config.LIST_LIMIT_DEFAULT, start: int = 0
) -> dict[str, Any]:
	"""The caller's organizations' schedules, soonest next run first, with the total."""
	if not isinstance(limit, int) or not 1 <= limit <= config.LIST_LIMIT_MAX:
		frappe.throw(
			_("limit must be between 1 and {0}").format(config.LIST_LIMIT_MAX), frappe.ValidationError
		)
	if not isinstance(start, int) or start < 0:
		frappe.throw(_("start must be 0 or more"), frappe.ValidationError)
	scope = permissions.org_scope(organization)
	if scope.empty:
		return {"schedules": [], "total": 0}
	condition, values = scope.sql()
	rows = frappe.db.sql(
		f"""SELECT {_SELECT} FROM `tabJob Schedule` WHERE {condition}
		ORDER BY enabled DESC, next_run_at IS NULL, next_run_at, name LIMIT %(limit)s OFFSET %(start)s""",
		{**values, "limit": limit, "start": start},
		as_dict=True,
	)
	total = frappe.db.sql(f"SELECT COUNT(*) FROM `tabJob Schedule` WHERE {condition}", values)[0][0]
	return {"schedules": [serialize(row) for row in rows], "total": int(total)}


def get_schedule(name: str) -> dict[str, Any]:
	"""One schedule with its next occurrences and last jobs; DoesNotExistError when not visible."""
	row = _load(name) if isinstance(name, str) else None
	if not row or not permissions.can_act_in(row.organization, action=permissions.READ):
		frappe.throw(_("Job Schedule {0} not found").format(name), frappe.DoesNotExistError)
	detail = serialize(row)
	detail["parameters"] = frappe.parse_json(row.parameters or "{}")
	detail["upcoming"] = [when.isoformat() for when in upcoming(row)] if row.enabled else []
	detail["recent_jobs"] = recent_jobs(name)
	return detail


def recent_jobs(name: str, limit: int = RECENT_JOBS) -> list[dict[str, Any]]:
	rows = frappe.db.sql(
		"""SELECT name, status, creation, run_at, completed_at FROM `tabBackground Job`
		WHERE schedule = %s ORDER BY creation DESC LIMIT %s""",
		(name, limit),
		as_dict=True,
	)
	return [
		{
			"job_id": row.name,
			"status": row.status,
			"created_at": _iso(row.creation),
			"completed_at": _iso(row.completed_at),
		}
		for row in rows
	]


def serialize(row: frappe._dict) -> dict[str, Any]:
	return {
		"schedule": row.name,
		"organization": row.organization,
		"job_type": row.job_type,
		"description": row.description or "",
		"enabled": bool(row.enabled),
		"cron_expression": row.cron_expression,
		"time_zone": row.time_zone,
		"catch_up": row.catch_up,
		"priority": row.priority or None,
		"status": row.schedule_status,
		"reason": row.status_reason or "",
		"next_run_at": _iso(row.next_run_at),
		"last_run_at": _iso(row.last_run_at),
		"last_job": row.last_job,
		"owner": row.owner,
	}


def _iso(value: Any) -> str | None:
	return get_datetime(value).isoformat() if value else None
