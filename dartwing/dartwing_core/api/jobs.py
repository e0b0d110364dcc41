"""Whitelisted job API: /api/method/dartwing.jobs.<name> (also reachable at this module's path).

Contract: every endpoint is type-annotated, checks permission first, and stays thin: the work is
done by the engine. Jobs of organizations the caller does not belong to are answered exactly like
jobs that do not exist (404). State-changing endpoints accept POST only. Lists and metrics are
``frappe.read_only()``, as Frappe's own list views and reports: with ``read_from_replica`` set they read
from the MariaDB replica. A job's status and history stay on the primary, so a caller polling the job it
just submitted never misses it through replica lag. Documented in
specs/011-background-job-engine/contracts/api.md.
"""

from typing import Any

import frappe
from frappe import _
from frappe.rate_limiter import rate_limit
from werkzeug.wrappers import Response

from dartwing.dartwing_core.background_jobs import (
	arguments,
	batches,
	config,
	dead_letter,
	engine,
	pauses,
	queries,
	schedules,
)


@frappe.whitelist(methods=["POST"])
# Per client IP: a key taken from the arguments (e.g. organization) would let anyone spend
# another organization's budget, since the limit is counted before permissions are checked.
@rate_limit(limit=config.SUBMIT_RATE_LIMIT, seconds=config.SUBMIT_RATE_WINDOW_SECONDS)
def submit_job(
	job_type: str | None = None,
	organization: str | None = None,
	parameters: dict | str | None = None,
	priority: str | None = None,
	depends_on: list | str | None = None,
	run_at: str | None = None,
) -> dict[str, Any]:
	"""Submit a job; returns at once with its id and status (the work happens in a worker). With a future
	``run_at`` (ISO 8601, the site's time zone unless it carries an offset) the job waits Scheduled."""
	job_type = arguments.text("job_type", job_type, required=True)
	organization = arguments.text("organization", organization, required=True)
	priority = arguments.text("priority", priority)
	run_at = arguments.text("run_at", run_at)
	parameters = _json_argument("parameters", parameters, dict)
	depends_on = _json_argument("depends_on", depends_on, list)
	job = engine.submit_job(
		job_type, organization, parameters, priority=priority, depends_on=depends_on, run_at=run_at
	)
	return {"job_id": job.name, "status": job.status, "deduplicated": bool(job.flags.deduplicated)}


@frappe.whitelist(methods=["POST"])
@rate_limit(limit=config.SUBMIT_RATE_LIMIT, seconds=config.SUBMIT_RATE_WINDOW_SECONDS)
def submit_jobs(
	job_type: str | None = None,
	organization: str | None = None,
	items: list | str | None = None,
	priority: str | None = None,
	run_at: str | None = None,
	on_complete: str | None = None,
) -> dict[str, Any]:
	"""Submit one job per item as one batch, all or nothing; returns the batch and the job ids."""
	job_type = arguments.text("job_type", job_type, required=True)
	organization = arguments.text("organization", organization, required=True)
	priority = arguments.text("priority", priority)
	on_complete = arguments.text("on_complete", on_complete)
	run_at = arguments.text("run_at", run_at)
	_require(items=items)
	items = _json_argument("items", items, list)
	reply = engine.submit_jobs(
		job_type, organization, items, priority=priority, run_at=run_at, on_complete=on_complete
	)
	return {"batch": reply.batch, "job_ids": reply.job_ids, "deduplicated": reply.deduplicated}


@frappe.whitelist(methods=["GET", "POST"])
def get_batch(batch: str | None = None) -> dict[str, Any]:
	"""Total, counts by status, progress and status of a batch."""
	batch = arguments.text("batch", batch, required=True)
	return batches.get_batch(batch)


@frappe.whitelist(methods=["POST"])
def cancel_batch(batch: str | None = None) -> dict[str, Any]:
	"""Cancel every job of a batch that has not ended."""
	batch = arguments.text("batch", batch, required=True)
	return batches.cancel_batch(batch)


@frappe.whitelist(methods=["GET", "POST"])
@frappe.read_only()
def list_batches(
	organization: str | None = None,
	status: str | None = None,
	limit: int = config.LIST_LIMIT_DEFAULT,
	start: int = 0,
) -> dict[str, Any]:
	"""The caller's organizations' batches, newest first, with the total for paging."""
	return batches.list_batches(organization, status, limit=limit, start=start)


@frappe.whitelist(methods=["GET", "POST"])
def get_job_status(job_id: str | None = None) -> dict[str, Any]:
	"""Status, progress, retries, result or error and timestamps of one job."""
	job_id = arguments.text("job_id", job_id, required=True)
	engine.get_job_for_user(job_id)
	return queries.job_status(job_id)


@frappe.whitelist(methods=["GET", "POST"])
@frappe.read_only()
def list_jobs(
	organization: str | None = None,
	status: str | None = None,
	job_type: str | None = None,
	from_date: str | None = None,
	to_date: str | None = None,
	limit: int = config.LIST_LIMIT_DEFAULT,
	start: int = 0,
) -> dict[str, Any]:
	"""The caller's organizations' jobs, newest first, with the total for paging."""
	filters = {"organization": organization, "status": status, "job_type": job_type}
	return queries.list_jobs(filters, from_date=from_date, to_date=to_date, limit=limit, start=start)


@frappe.whitelist(methods=["GET", "POST"])
def get_job_history(job_id: str | None = None) -> dict[str, Any]:
	"""Every status change of a job with actor, time, message and attempt number."""
	job_id = arguments.text("job_id", job_id, required=True)
	engine.get_job_for_user(job_id)
	return {"job_id": job_id, "history": queries.history(job_id)}


@frappe.whitelist(methods=["POST"])
def cancel_job(job_id: str | None = None) -> dict[str, Any]:
	"""Cancel a job: at once if it waits, at its next checkpoint if it runs."""
	job_id = arguments.text("job_id", job_id, required=True)
	return dict(engine.cancel_job(job_id))


@frappe.whitelist(methods=["POST"])
def retry_job(job_id: str | None = None) -> dict[str, Any]:
	"""Retry a Failed, Timed Out, Canceled or Dead Letter job with a fresh retry budget."""
	job_id = arguments.text("job_id", job_id, required=True)
	return dict(engine.retry_job(job_id))


@frappe.whitelist(methods=["GET", "POST"])
@frappe.read_only()
def list_schedules(
	organization: str | None = None, limit: int = config.LIST_LIMIT_DEFAULT, start: int = 0
) -> dict[str, Any]:
	"""The caller's organizations' Job Schedules with their next run, soonest first."""
	organization = arguments.text("organization", organization)
	limit = arguments.integer(
		"limit", limit, lo=1, hi=config.LIST_LIMIT_MAX, default=config.LIST_LIMIT_DEFAULT
	)
	start = arguments.integer("start", start, lo=0, hi=config.LIST_START_MAX)
	return schedules.list_schedules(organization, limit=limit, start=start)


@frappe.whitelist(methods=["GET", "POST"])
def get_schedule(schedule: str | None = None) -> dict[str, Any]:
	"""One Job Schedule with its next five occurrences and last jobs (404 when not visible)."""
	schedule = arguments.text("schedule", schedule, required=True)
	return schedules.get_schedule(schedule)


@frappe.whitelist(methods=["GET", "POST"])
@frappe.read_only()
def get_dead_letter_jobs(
	organization: str | None = None,
	job_type: str | None = None,
	error_type: str | None = None,
	from_date: str | None = None,
	to_date: str | None = None,
	limit: int = config.LIST_LIMIT_DEFAULT,
	start: int = 0,
) -> dict[str, Any]:
	"""System Manager: dead-lettered jobs of every organization with full error context."""
	return dead_letter.list_dead_letters(
		organization=organization,
		job_type=job_type,
		error_type=error_type,
		from_date=from_date,
		to_date=to_date,
		limit=limit,
		start=start,
	)


@frappe.whitelist(methods=["POST"])
def retry_dead_letter_jobs(
	job_ids: list | str | None = None, parameters: dict | str | None = None
) -> dict[str, Any]:
	"""System Manager: put dead-lettered jobs back to Pending with a fresh retry budget; with
	``parameters``, all of them with those parameters (checked as a submission's; all or nothing)."""
	_require(job_ids=job_ids)
	job_ids = _json_argument("job_ids", job_ids, list)
	return dead_letter.retry_dead_letters(job_ids, _json_argument("parameters", parameters, dict))


@frappe.whitelist(methods=["POST"])
def delete_dead_letter_jobs(job_ids: list | str | None = None) -> dict[str, Any]:
	"""System Manager: delete dead-lettered jobs and their logs."""
	_require(job_ids=job_ids)
	return dead_letter.delete_dead_letters(_json_argument("job_ids", job_ids, list))


@frappe.whitelist(methods=["POST"])
def pause_job_type(job_type: str | None = None) -> dict[str, Any]:
	"""System Manager: stop every start of a Job Type (running jobs finish, waiting ones wait)."""
	return pauses.pause_job_type(job_type)


@frappe.whitelist(methods=["POST"])
def resume_job_type(job_type: str | None = None) -> dict[str, Any]:
	"""System Manager: lift a Job Type's pause; its waiting jobs are dispatched at once."""
	return pauses.resume_job_type(job_type)


def _require(**values: Any) -> None:
	"""A missing argument is the caller's mistake (417 with its name), not a server error."""
	for name, value in values.items():
		if value in (None, "", [], {}):
			frappe.throw(_("{0} is required").format(name), frappe.ValidationError)


def _json_argument(name: str, value: Any, expected: type) -> Any:
	"""Form bodies (and desk's frappe.call) send objects as JSON text; JSON bodies send them as is."""
	if not isinstance(value, str):
		return value
	try:
		parsed = frappe.parse_json(value)
	except (ValueError, RecursionError):  # not JSON, or nested deeper than json can read
		parsed = None
	if not isinstance(parsed, expected):
		kind = _("a JSON object") if expected is dict else _("a JSON list")
		frappe.throw(_("{0} must be {1}").format(name, kind), frappe.ValidationError)
	return parsed


@frappe.whitelist(methods=["GET", "POST"])
@frappe.read_only()
def get_job_metrics(
	organization: str | None = None,
	hours: int = 24,
	from_date: str | None = None,
	to_date: str | None = None,
) -> dict[str, Any]:
	"""Jobs by status, queue depth, workers, durations and failures for a window (≤ 90 days).

	Members get their organizations only; System Managers every organization or the one they name.
	"""
	from dartwing.dartwing_core.background_jobs import metrics

	organization = arguments.text("organization", organization)
	return metrics.get_job_metrics(organization, hours=hours, from_date=from_date, to_date=to_date)


@frappe.whitelist(methods=["GET"])
@frappe.read_only()
def prometheus_metrics() -> Response:
	"""System Manager: the metrics of the last 24 hours in Prometheus text format (version 0.0.4)."""
	from dartwing.dartwing_core.background_jobs import metrics, permissions

	if not permissions.is_unrestricted():
		frappe.throw(_("Only a System Manager may read the Prometheus metrics"), frappe.PermissionError)
	# Frappe 15's handler serves a returned werkzeug Response as is (no JSON envelope).
	return Response(metrics.prometheus_exposition(), content_type=metrics.PROMETHEUS_CONTENT_TYPE)
