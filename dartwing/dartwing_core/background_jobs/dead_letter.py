"""The dead letter queue: jobs that failed for good, for System Managers to inspect, retry or delete.

Contract: only System Managers (and Administrator) reach these functions; they see every
organization. A dead-lettered job keeps its error type, message, traceback and every attempt
(``attempts``). Retry puts a job back to Pending with a fresh retry budget, logged with who did it;
delete removes the job with its log and dependency rows. Bulk calls report per job and never stop
half-way on one bad id.

Edit and retry (``retry_dead_letters(job_ids, parameters)``): the new parameters are checked as a
submission checks them (``engine.validate_parameters``), then every job is locked and must be in the
dead letter queue, before anything is written: one bad id or bad parameters refuse the whole call (404 /
417) and change nothing. Each job then goes back to Pending with the new parameters (and their hash) in
the same status change, whose history row says who changed what: the old and new parameters, or their
hashes when either is longer than ``EDITED_PARAMETERS_LOG_CHARS``.
"""

from typing import Any

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import arguments, config, engine, permissions, queries, state
from dartwing.dartwing_core.background_jobs.hashing import hash_canonical
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


def retry_dead_letters(job_ids: list[str], parameters: Any = None) -> dict[str, Any]:
	"""Retry dead-lettered jobs; with ``parameters``, every one of them with those parameters instead
	(all or nothing)."""
	_check_admin()
	if parameters is not None:
		return _retry_edited(_bulk_ids(job_ids), parameters)
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


def _retry_edited(ids: list[str], parameters: Any) -> dict[str, Any]:
	params_json, canonical = engine.validate_parameters(parameters)  # 417, nothing written
	jobs = _locked_dead_letters(ids)
	for job_id in ids:
		job = jobs[job_id]
		new_hash = hash_canonical(job.job_type, job.organization, canonical)
		note = _edit_note(job.parameters or "{}", params_json, job.params_hash, new_hash)
		engine.retry_job_as_admin(
			job_id, updates={"parameters": params_json, "params_hash": new_hash}, note=note
		)
		frappe.logger("dartwing.jobs").info(
			f"{frappe.session.user} retried {job_id} with edited parameters {job.params_hash} -> {new_hash}"
		)
	return {"retried": ids, "failed": {}}


def _locked_dead_letters(ids: list[str]) -> dict[str, frappe._dict]:
	"""The jobs, locked, if every one exists and is dead-lettered; otherwise refuse the whole call."""
	rows = frappe.db.sql(
		"""SELECT name, status, job_type, organization, parameters, params_hash
		FROM `tabBackground Job` WHERE name IN %(ids)s FOR UPDATE""",
		{"ids": tuple(ids)},
		as_dict=True,
	)
	found = {row.name: row for row in rows}
	missing = [job_id for job_id in ids if job_id not in found]
	if missing:
		frappe.throw(
			_("Background Job {0} not found").format(", ".join(missing[:10])), frappe.DoesNotExistError
		)
	moved = [job_id for job_id in ids if found[job_id].status != JobStatus.DEAD_LETTER.value]
	if moved:
		frappe.throw(
			_("Not in the dead letter queue: {0}; nothing was retried").format(", ".join(moved[:10])),
			frappe.ValidationError,
		)
	return found


def _edit_note(old_json: str, new_json: str, old_hash: str | None, new_hash: str) -> str:
	"""What the history says of an edit: both parameter sets when short, else their hashes."""
	old_text, new_text = _compact(old_json), _compact(new_json)
	limit = config.EDITED_PARAMETERS_LOG_CHARS
	if len(old_text) <= limit and len(new_text) <= limit:
		return _("parameters changed from {0} to {1}").format(old_text, new_text)
	return _("parameters changed from hash {0} to hash {1}").format(old_hash or "-", new_hash)


def _compact(text: str) -> str:
	try:
		return frappe.as_json(frappe.parse_json(text), indent=None, separators=(",", ":"))
	except (TypeError, ValueError):
		return text


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
