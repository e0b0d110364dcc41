"""The dead letter queue: jobs that failed for good, for System Managers to inspect, retry or delete.

Contract: only System Managers (and Administrator) reach these functions; they see every
organization. A dead-lettered job keeps its error type, message, traceback and every attempt
(``attempts``). Retry puts a job back to Pending with a fresh retry budget, logged with who did it;
delete removes the job with its log and dependency rows. Bulk calls report per job and never stop
half-way on one bad id.
"""

from typing import Any

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import arguments, config, engine, permissions, queries, state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

ADMIN_ROLE = "System Manager"


def list_dead_letters(
	*,
	organization: str | None = None,
	job_type: str | None = None,
	error_type: str | None = None,
	from_date: Any = None,
	to_date: Any = None,
	limit: int = config.LIST_LIMIT_DEFAULT,
	start: int = 0,
) -> dict[str, Any]:
	_check_admin()
	filters = {"status": JobStatus.DEAD_LETTER.value, "organization": organization, "job_type": job_type}
	filters["error_type"] = error_type
	return queries.list_jobs(
		filters, from_date=from_date, to_date=to_date, limit=limit, start=start, detail=True
	)


def retry_dead_letters(job_ids: list[str]) -> dict[str, Any]:
	_check_admin()
	done, failed = [], {}
	for job_id in _bulk_ids(job_ids):
		job = state.load(job_id)
		if not job or job.status != JobStatus.DEAD_LETTER.value:
			failed[job_id] = _("not in the dead letter queue")
			continue
		try:
			with state.savepoint("dartwing_dlq_retry"):
				engine.retry_job_as_admin(job_id)
		except frappe.ValidationError as exc:  # it moved since it was listed; report it, go on
			failed[job_id] = str(exc)
			continue
		done.append(job_id)
	return {"retried": done, "failed": failed}


def delete_dead_letters(job_ids: list[str]) -> dict[str, Any]:
	_check_admin()
	ids = _bulk_ids(job_ids)
	found = set(
		frappe.db.sql_list(
			"SELECT name FROM `tabBackground Job` WHERE name IN %(ids)s AND status = %(dead)s FOR UPDATE",
			{"ids": tuple(ids), "dead": JobStatus.DEAD_LETTER.value},
		)
	)
	state.delete_jobs(sorted(found))
	frappe.logger("dartwing.jobs").info(f"{frappe.session.user} deleted dead-letter jobs {sorted(found)}")
	return {
		"deleted": [job_id for job_id in ids if job_id in found],
		"failed": {job_id: _("not in the dead letter queue") for job_id in ids if job_id not in found},
	}


def _check_admin() -> None:
	# Not frappe.only_for: Frappe skips that check in tests, and this rule must be tested.
	if not permissions.is_unrestricted():
		frappe.throw(
			_("Only a {0} may manage the dead letter queue").format(ADMIN_ROLE), frappe.PermissionError
		)


def _bulk_ids(job_ids: Any) -> list[str]:
	ids = arguments.text_list("job_ids", job_ids, max_items=config.MAX_BULK_JOB_IDS)
	if not ids:
		frappe.throw(_("job_ids must not be empty"), frappe.ValidationError)
	return ids
