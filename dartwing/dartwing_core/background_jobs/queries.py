"""Read side of the engine: a job's status, lists and history, shaped for the API.

Contract: callers pass only fixed column names; every value is a query parameter. Users are limited
to their organizations (``permissions.org_scope``); unrestricted users see all. Dates
are ISO 8601 strings (naive, in the site's time zone, as Frappe stores them); JSON columns are returned
parsed. Each job carries ``can_manage``: whether the caller may cancel or retry it; one job's status
also ``waiting_for`` (``gates.waiting_for``: the gate that holds a job not yet running, or None).
"""

from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime

from dartwing.dartwing_core.background_jobs import arguments, config, gates, permissions

SUMMARY_COLUMNS = (
	"name",
	"job_type",
	"organization",
	"status",
	"priority",
	"run_at",
	"progress",
	"progress_message",
	"retry_count",
	"max_retries",
	"next_retry_at",
	"output_reference",
	"error_type",
	"error_message",
	"submitted_by",
	"creation",
	"enqueued_at",
	"started_at",
	"completed_at",
	"canceled_at",
	"canceled_by",
	"cancel_requested",
)
DETAIL_COLUMNS = (*SUMMARY_COLUMNS, "result", "error_traceback", "attempts", "parameters")
FILTER_COLUMNS = frozenset({"organization", "status", "job_type", "error_type", "submitted_by"})


def job_status(job_id: str) -> dict[str, Any]:
	row = frappe.db.sql(
		f"SELECT {_columns(DETAIL_COLUMNS)} FROM `tabBackground Job` WHERE name = %s", (job_id,), as_dict=True
	)[0]
	status = _with_can_manage([serialize(row, detail=True)])[0]
	status["waiting_for"] = gates.waiting_for(row)
	return status


def list_jobs(
	filters: dict[str, Any],
	*,
	from_date: Any = None,
	to_date: Any = None,
	limit: int = config.LIST_LIMIT_DEFAULT,
	start: int = 0,
	detail: bool = False,
) -> dict[str, Any]:
	where, values = _conditions(filters, from_date, to_date)
	if where is None:
		return {"jobs": [], "total": 0}
	values.update(
		limit=arguments.integer(
			"limit", limit, lo=1, hi=config.LIST_LIMIT_MAX, default=config.LIST_LIMIT_DEFAULT
		),
		start=arguments.integer("start", start, lo=0, hi=config.LIST_START_MAX, default=0),
	)
	columns = DETAIL_COLUMNS if detail else SUMMARY_COLUMNS
	rows = frappe.db.sql(
		f"""SELECT {_columns(columns)} FROM `tabBackground Job` WHERE {where}
		ORDER BY creation DESC, name DESC LIMIT %(limit)s OFFSET %(start)s""",
		values,
		as_dict=True,
	)
	total = frappe.db.sql(f"SELECT COUNT(*) FROM `tabBackground Job` WHERE {where}", values)[0][0]
	jobs = _with_can_manage([serialize(row, detail=detail) for row in rows])
	return {"jobs": jobs, "total": int(total)}


def history(job_id: str) -> list[dict[str, Any]]:
	rows = frappe.db.sql(
		"""SELECT from_status, to_status, `timestamp`, actor, message, attempt, worker
		FROM `tabJob Execution Log` WHERE job = %s ORDER BY `timestamp`, creation""",
		(job_id,),
		as_dict=True,
	)
	return [
		{
			"from_status": row.from_status or None,
			"to_status": row.to_status,
			"timestamp": _iso(row.timestamp),
			"actor": row.actor,
			"message": row.message,
			"attempt": int(row.attempt or 0),
			"worker": row.worker or None,
		}
		for row in rows
	]


def serialize(row: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
	job = {
		"job_id": row["name"],
		"job_type": row["job_type"],
		"organization": row["organization"],
		"status": row["status"],
		"priority": row["priority"],
		"run_at": _iso(row["run_at"]),
		"progress": float(row["progress"] or 0),
		"progress_message": row["progress_message"] or "",
		"retry_count": int(row["retry_count"] or 0),
		"max_retries": int(row["max_retries"] or 0),
		"next_retry_at": _iso(row["next_retry_at"]),
		"output_reference": row["output_reference"],
		"error": {"type": row["error_type"], "message": row["error_message"]} if row["error_type"] else None,
		"submitted_by": row["submitted_by"],
		"created_at": _iso(row["creation"]),
		"enqueued_at": _iso(row["enqueued_at"]),
		"started_at": _iso(row["started_at"]),
		"completed_at": _iso(row["completed_at"]),
		"canceled_at": _iso(row["canceled_at"]),
		"canceled_by": row["canceled_by"],
		"cancel_requested": bool(row["cancel_requested"]),
	}
	if detail:
		job["result"] = frappe.parse_json(row["result"]) if row.get("result") else None
		job["parameters"] = frappe.parse_json(row["parameters"]) if row.get("parameters") else {}
		job["attempts"] = frappe.parse_json(row["attempts"]) if row.get("attempts") else []
		if job["error"]:
			job["error"]["traceback"] = row.get("error_traceback")
	return job


def _with_can_manage(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
	"""Add ``can_manage`` (may the caller cancel or retry it: ``permissions.may_manage``), asked once per
	organization and ownership, so a client shows only the buttons the API will honour."""
	user, answers = frappe.session.user, {}
	for job in jobs:
		key = (job["organization"], job["submitted_by"] == user)
		if key not in answers:
			answers[key] = permissions.may_manage(job["organization"], job["submitted_by"], user)
		job["can_manage"] = answers[key]
	return jobs


def _conditions(filters: dict[str, Any], from_date: Any, to_date: Any) -> tuple[str | None, dict[str, Any]]:
	clauses, values = ["1 = 1"], {}
	for column, value in filters.items():
		if value in (None, ""):
			continue
		if column not in FILTER_COLUMNS or not isinstance(value, str):
			frappe.throw(_("Invalid filter {0}").format(column), frappe.ValidationError)
		arguments.text(column, value)
		clauses.append(f"`{column}` = %({column})s")
		values[column] = value
	scope = permissions.org_scope()
	if scope.empty:
		return None, values
	condition, scope_values = scope.sql()
	clauses.append(condition)
	values.update(scope_values)
	for name, value, op in (("from_date", from_date, ">="), ("to_date", to_date, "<=")):
		moment = arguments.moment(name, value)
		if moment is not None:
			clauses.append(f"creation {op} %({name})s")
			values[name] = moment
	return " AND ".join(clauses), values


def _columns(columns: tuple[str, ...]) -> str:
	return ", ".join(f"`{column}`" for column in columns)


def _iso(value: Any) -> str | None:
	return get_datetime(value).isoformat() if value else None
