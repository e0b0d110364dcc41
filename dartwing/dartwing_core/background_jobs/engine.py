"""The engine's Python API: submit, find, cancel and retry jobs.

Contract:
- ``submit_job`` never commits. The job row joins the caller's transaction and reaches RQ only after
  the caller commits (a rolled-back caller leaves no job and runs nothing).
- Every check happens before anything is written; a refused submission writes nothing.
- Identical submissions (job type, organization, canonical parameters) within the Job Type's window
  return the existing job with ``job.flags.deduplicated = True``. A unique index on ``dedup_key``
  makes this hold under concurrency: a second identical insert waits for the first transaction and
  then finds its job (or takes the slot if the first rolled back).
- ``submit_jobs`` is all-or-nothing: every item is checked before anything is written (a refusal names
  the first bad item's index), the batch and its jobs go in with multi-row inserts, admission is one
  Redis script for all of them (rate limit and queued cap count every new job), and what they cause is
  recorded once (``state.record_creations``). Deduplicated items name the existing job and are not
  part of the batch; a batch with no new job has ended when it is created.
- Jobs of organizations the user may not see are reported exactly like missing ones.
- A job for later (``run_at`` in the future, site time zone) is inserted Scheduled and released to
  Pending by the due sweep (``scheduler.release_due_jobs``); a ``run_at`` now or past runs at once. It
  takes a rate slot like any submission but is not counted against the queued cap while it waits
  (decisions.md D17).
- Admission (rate limit, queued cap, Redis reachable) is ``admission.Admission``'s; cancellation is
  ``cancellation.request``'s; a person's retry starts a fresh retry budget (``outcome.fresh_budget``).
  What a new or retried job causes (its dispatch) follows from its status change (``state``).
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_system_timezone, now_datetime

from dartwing.dartwing_core.background_jobs import (
	arguments,
	batch_status,
	cancellation,
	config,
	dependencies,
	outcome,
	permissions,
	scheduling,
	state,
)
from dartwing.dartwing_core.background_jobs.admission import Admission
from dartwing.dartwing_core.background_jobs.errors import (  # raised by submit_job
	JobSubmissionUnavailable,
	QueueFull,
	TooManyJobs,
)
from dartwing.dartwing_core.background_jobs.hashing import (
	canonical_json,
	canonical_json_plain,
	hash_canonical,
)
from dartwing.dartwing_core.background_jobs.transitions import RETRYABLE_BY_USER, JobStatus

JOB = "Background Job"
BATCH = "Background Job Batch"


def submit_job(
	job_type: str,
	organization: str,
	parameters: Mapping[str, Any] | None = None,
	priority: str | None = None,
	depends_on: list[str] | None = None,
	run_at: datetime | str | None = None,
	*,
	schedule: str | None = None,
	dedup_scope: str | None = None,
) -> "frappe.model.document.Document":
	"""Create a Background Job for ``organization`` and return it (``flags.deduplicated`` tells reuse).

	``run_at``: not before this time (site time zone; ISO 8601 text accepted). ``schedule`` names the
	Job Schedule that made the job; ``dedup_scope`` joins the dedup key (a schedule passes its
	occurrence, so each occurrence is a job of its own)."""
	start_at = _validate_run_at(run_at)
	settings = _load_job_type(job_type)
	if permissions.check_org_access(organization, action="submit") != "member":
		_check_organization_exists(organization)
	_check_required_permission(settings)
	params_json, canonical = validate_parameters(parameters)
	priority = _validate_priority(priority or settings.default_priority or "Normal")
	parents = dependencies.validate_parents(organization, depends_on)
	key = hash_canonical(job_type, organization, canonical + (f"\x00{dedup_scope}" if dedup_scope else ""))
	existing = _find_duplicate(key, settings)
	if existing:
		return _deduplicated(existing)
	admitted = Admission.admit(organization, settings)
	if start_at is None:  # a job for later does not wait in the queue until it is due (D17)
		admitted.check_cap()
	origin = frappe._dict(run_at=start_at, schedule=schedule)
	return _insert_job(settings, organization, params_json, priority, parents, key, admitted, origin)


def get_job_for_user(job_id: str, *, action: str = "read", for_update: bool = False) -> frappe._dict:
	"""The job's engine row if the session user may ``action`` it; else DoesNotExistError / PermissionError."""
	job = state.load(job_id, for_update=for_update) if isinstance(job_id, str) else None
	if not job or not permissions.can_act_in(job.organization, action="read"):
		frappe.throw(_("Background Job {0} not found").format(job_id), frappe.DoesNotExistError)
	if action != "read" and not permissions.may_manage(job.organization, job.submitted_by):
		frappe.throw(_("Not permitted to change job {0}").format(job_id), frappe.PermissionError)
	return job


def cancel_job(job_id: str) -> frappe._dict:
	"""Cancel a Pending, Queued, waiting-to-retry or Running job (Running stops at its next checkpoint).

	The row is read with a lock, so the status decided on here cannot change before the write.
	"""
	return cancellation.request(get_job_for_user(job_id, action="manage", for_update=True))


def retry_job(job_id: str) -> frappe._dict:
	"""A person who may manage the job puts it back to Pending with a fresh retry budget."""
	return _restart(get_job_for_user(job_id, action="manage", for_update=True))


def retry_job_as_admin(
	job_id: str, *, updates: Mapping[str, Any] | None = None, note: str = ""
) -> frappe._dict:
	"""A System Manager retries any organization's job (the dead letter queue's retry). ``updates``: more
	columns the retry sets (edited parameters), ``note``: what the history adds to "Retried by …"."""
	if not permissions.is_unrestricted():
		frappe.throw(_("Only a System Manager may retry any organization's job"), frappe.PermissionError)
	job = state.load(job_id, for_update=True)
	if not job:
		frappe.throw(_("Background Job {0} not found").format(job_id), frappe.DoesNotExistError)
	return _restart(job, updates=updates, note=note)


def _restart(job: frappe._dict, *, updates: Mapping[str, Any] | None = None, note: str = "") -> frappe._dict:
	"""Failed, Timed Out, Canceled or Dead Letter (locked by the caller) → Pending, with a fresh budget."""
	if job.status not in RETRYABLE_BY_USER:
		frappe.throw(
			_("Job {0} is {1} and cannot be retried").format(job.name, job.status), frappe.ValidationError
		)
	changes = {
		**outcome.fresh_budget(job, _job_type_retry_budget(job.job_type)),
		"next_retry_at": None,
		"cancel_requested": 0,
		"canceled_at": None,
		"canceled_by": None,
		"completed_at": None,
		"progress": 0,
		"progress_message": "",
		**(updates or {}),
	}
	message = _("Retried by {0}").format(frappe.session.user) + (f"; {note}" if note else "")
	state.transition(job, JobStatus.PENDING, message=message, updates=changes)  # the row is locked
	return frappe._dict(job=job.name, status=JobStatus.PENDING.value)


def _job_type_retry_budget(job_type: str) -> int:
	value = frappe.db.get_value("Job Type", job_type, "max_retries")
	return int(value if value is not None else config.DEFAULT_MAX_RETRIES)


def _load_job_type(job_type: str) -> frappe._dict:
	if not isinstance(job_type, str) or not job_type:
		frappe.throw(_("job_type is required"), frappe.ValidationError)
	rows = frappe.db.sql(
		"""SELECT name, enabled, default_priority, timeout_seconds, max_retries, dedup_window_seconds,
			rate_limit_count, rate_limit_window_seconds, max_queued_per_org, required_permission
		FROM `tabJob Type` WHERE name = %s""",
		(job_type,),
		as_dict=True,
	)
	if not rows:
		frappe.throw(_("Job Type {0} not found").format(job_type), frappe.DoesNotExistError)
	if not rows[0].enabled:
		frappe.throw(_("Job Type {0} is disabled").format(job_type), frappe.ValidationError)
	return rows[0]


def _check_organization_exists(organization: str) -> None:
	# An Active membership already proved the organization exists; unrestricted users need this.
	if not frappe.db.exists("Organization", organization):
		frappe.throw(_("Organization {0} not found").format(organization), frappe.DoesNotExistError)


def _check_required_permission(settings: frappe._dict) -> None:
	doctype = settings.required_permission
	if doctype and not frappe.has_permission(doctype, "create"):
		frappe.throw(
			_("You need permission to create {0} to submit {1} jobs").format(doctype, settings.name),
			frappe.PermissionError,
		)


def validate_parameters(parameters: Any) -> tuple[str, str]:
	"""(JSON to store, canonical JSON to hash) for a parameters object, or a clear ValidationError."""
	if parameters is None:
		parameters = {}
	if not isinstance(parameters, Mapping):
		frappe.throw(_("parameters must be a JSON object"), frappe.ValidationError)
	arguments.json_object("parameters", parameters)  # depth, NaN/Infinity, 64-bit integers, keys
	try:
		text = canonical_json(dict(parameters))
	except (TypeError, ValueError) as exc:
		frappe.throw(_("parameters cannot be stored: {0}").format(exc), frappe.ValidationError)
	if len(text.encode("utf-8")) > config.MAX_PARAMETERS_BYTES:
		frappe.throw(
			_("parameters exceed the limit of {0} KB").format(config.MAX_PARAMETERS_BYTES // 1024),
			frappe.ValidationError,
		)
	return frappe.as_json(dict(parameters)), text


def _validate_run_at(run_at: Any) -> datetime | None:
	"""The future start time, None to start now; ValidationError (417) for anything else."""
	try:
		return scheduling.parse_run_at(run_at, now_datetime(), get_system_timezone())
	except ValueError as exc:
		frappe.throw(_("Invalid run_at: {0}").format(exc), frappe.ValidationError)


def _validate_priority(priority: Any) -> str:
	if not isinstance(priority, str) or priority not in config.PRIORITIES:
		frappe.throw(
			_("priority must be one of {0}").format(", ".join(config.PRIORITIES)), frappe.ValidationError
		)
	return priority


def _find_duplicate(key: str, settings: frappe._dict) -> frappe._dict | None:
	window = int(settings.dedup_window_seconds or 0)
	if window <= 0:
		return None
	rows = frappe.db.sql(
		"SELECT name, status, creation FROM `tabBackground Job` WHERE dedup_key = %s", (key,), as_dict=True
	)
	if not rows:
		return None
	if rows[0].creation >= now_datetime() - timedelta(seconds=window):
		return rows[0]
	# The window has passed: free the key so this submission creates a new job.
	frappe.db.sql(
		"UPDATE `tabBackground Job` SET dedup_key = NULL WHERE name = %s AND dedup_key = %s",
		(rows[0].name, key),
	)
	return None


def _deduplicated(row: frappe._dict, *, locking: bool = False) -> "frappe.model.document.Document":
	# After waiting on another transaction's insert, only a locking read is sure to see its row.
	doc = frappe.get_doc(JOB, row.name, for_update=locking)
	doc.flags.deduplicated = True
	return doc


def _insert_job(
	settings: frappe._dict,
	organization: str,
	params_json: str,
	priority: str,
	parents: list[str],
	key: str,
	admitted: Admission,
	origin: frappe._dict,  # run_at (None: now) and the schedule that made the job
) -> "frappe.model.document.Document":
	run_at = origin.run_at
	status = JobStatus.SCHEDULED if run_at else JobStatus.PENDING
	doc = frappe.get_doc(
		{
			"doctype": JOB,
			"job_type": settings.name,
			"organization": organization,
			"submitted_by": frappe.session.user,
			"status": status.value,
			"priority": priority,
			"run_at": run_at,
			"schedule": origin.schedule,
			"parameters": params_json,
			"dedup_key": key if int(settings.dedup_window_seconds or 0) > 0 else None,
			"params_hash": key,
			"max_retries": int(
				settings.max_retries if settings.max_retries is not None else config.DEFAULT_MAX_RETRIES
			),
			"timeout_seconds": int(settings.timeout_seconds or config.DEFAULT_TIMEOUT_SECONDS),
			"retry_count": 0,
			"budget_start": 0,
			"depends_on": [{"depends_on": parent} for parent in parents],
		}
	)
	doc.flags.ignore_links = True  # job type, organization and parents were checked above
	doc.flags.parameters_validated = True
	doc.flags.via_engine = True  # the controller refuses any other insert
	try:
		doc.insert(ignore_permissions=True)
	except (frappe.UniqueValidationError, frappe.DuplicateEntryError):
		# An identical submission committed first while this one waited on the unique key.
		frappe.clear_last_message()  # the insert's "must be unique" message is not the caller's news
		# A locking read sees the committed winner even under REPEATABLE READ.
		existing = frappe.db.sql(
			"SELECT name FROM `tabBackground Job` WHERE dedup_key = %s LOCK IN SHARE MODE",
			(key,),
			as_dict=True,
		)
		if not existing:
			raise
		admitted.release()  # no new job after all
		return _deduplicated(existing[0], locking=True)
	message = _("Scheduled for {0}").format(run_at.isoformat()) if run_at else _("Submitted")
	state.record_creation(doc.as_dict(), message=message, status=status)
	doc.flags.deduplicated = False
	return doc


# Columns of a job a bulk submission writes; the others (docstatus, idx, progress, retry_count, budget_start,
# cancel_requested: 0, and the execution columns: NULL) keep their column defaults, as after a single insert.
# Only the first three differ between the jobs of one call; the rest are the same for all of them.
_BULK_JOB_VARYING = ("name", "parameters", "params_hash")
_BULK_JOB_SHARED = (
	"creation",
	"modified",
	"owner",
	"modified_by",
	"job_type",
	"organization",
	"submitted_by",
	"status",
	"run_at",
	"priority",
	"max_retries",
	"timeout_seconds",
	"batch",
)
BULK_INSERT_BYTES = 4 * 1024 * 1024  # per statement, well under MariaDB's default max_allowed_packet (16 MB)


def submit_jobs(
	job_type: str,
	organization: str,
	items: list[Mapping[str, Any]],
	priority: str | None = None,
	run_at: datetime | str | None = None,
	on_complete: str | None = None,
) -> frappe._dict:
	"""Submit one job per item (its parameters) as one batch, all or nothing; never commits.

	Returns ``{"batch", "job_ids" (one per item, in order), "deduplicated" (items that named an existing
	job)}``. ``run_at``: every job waits Scheduled until then, as a single job for later would.
	``on_complete`` is a Job Type submitted once, as this user, when every job has ended.
	"""
	start_at = _validate_run_at(run_at)
	settings = _load_job_type(job_type)
	if permissions.check_org_access(organization, action="submit") != "member":
		_check_organization_exists(organization)
	_check_required_permission(settings)
	priority = _validate_priority(priority or settings.default_priority or "Normal")
	callback = _load_job_type(on_complete) if on_complete else None
	if callback:
		_check_required_permission(callback)
	prepared = _validate_items(items)
	keys = [hash_canonical(job_type, organization, canonical) for _json, canonical in prepared]
	dedup = int(settings.dedup_window_seconds or 0) > 0
	existing = _find_duplicates(keys, settings) if dedup else {}
	job_ids, new_jobs = _assign_jobs(
		settings, organization, priority, prepared, keys, existing, dedup, start_at
	)
	admitted = Admission.admit(organization, settings, count=len(new_jobs)) if new_jobs else None
	if admitted and start_at is None:  # jobs for later do not wait in the queue until they are due (D17)
		admitted.check_cap()
	batch = _insert_batch(settings, organization, len(new_jobs), callback)
	created = _bulk_insert_jobs(new_jobs, batch.name)
	lost = {job["name"] for job in new_jobs} - created
	if lost:
		_adopt_winners(new_jobs, lost, job_ids, batch)
	status = JobStatus.SCHEDULED if start_at else JobStatus.PENDING
	message = _("Scheduled for {0}").format(start_at.isoformat()) if start_at else _("Submitted")
	state.record_creations(
		[job for job in new_jobs if job["name"] in created], message=message, status=status, batch=batch.name
	)
	if batch.total == 0:
		_end_empty_batch(batch)
	# every item that did not make a job of its own named an existing or an earlier item's job
	return frappe._dict(batch=batch.name, job_ids=job_ids, deduplicated=len(job_ids) - len(created))


def _validate_items(items: Any) -> list[tuple[str, str]]:
	"""(JSON to store, canonical JSON to hash) per item; the first bad item refuses the call by index."""
	if not isinstance(items, list | tuple):
		frappe.throw(_("items must be a list of parameter objects"), frappe.ValidationError)
	if not 1 <= len(items) <= config.MAX_BATCH_ITEMS:
		frappe.throw(
			_("items must hold between 1 and {0} parameter objects, not {1}").format(
				config.MAX_BATCH_ITEMS, len(items)
			),
			frappe.ValidationError,
		)
	prepared, size = [], 0
	for index, item in enumerate(items):
		if not isinstance(item, Mapping):
			frappe.throw(_("items[{0}] must be a JSON object").format(index), frappe.ValidationError)
		arguments.json_object(f"items[{index}]", item)  # depth, NaN/Infinity, 64-bit integers, keys
		try:
			canonical, plain = canonical_json_plain(dict(item))
		except (TypeError, ValueError) as exc:
			frappe.throw(_("items[{0}] cannot be stored: {1}").format(index, exc), frappe.ValidationError)
		length = len(canonical)  # ASCII: json.dumps escapes everything else
		if length > config.MAX_PARAMETERS_BYTES:
			frappe.throw(
				_("items[{0}] exceeds the limit of {1} KB").format(
					index, config.MAX_PARAMETERS_BYTES // 1024
				),
				frappe.ValidationError,
			)
		size += length
		if size > config.MAX_BATCH_PARAMETERS_BYTES:
			frappe.throw(
				_("items[{0}] takes the call over its limit of {1} MB of parameters").format(
					index, config.MAX_BATCH_PARAMETERS_BYTES // (1024 * 1024)
				),
				frappe.ValidationError,
			)
		# compact (no indent): 10,000 of them are escaped and sent; plain JSON is stored as its canonical
		# text, which is what as_json gives it (one serialisation instead of two)
		stored = canonical if plain else frappe.as_json(dict(item), indent=None, separators=(",", ":"))
		prepared.append((stored, canonical))
	return prepared


def _find_duplicates(keys: list[str], settings: frappe._dict) -> dict[str, str]:
	"""Existing jobs inside the dedup window, by key (``_find_duplicate`` for many keys at once)."""
	rows = frappe.db.sql(
		"SELECT name, dedup_key, creation FROM `tabBackground Job` WHERE dedup_key IN %(keys)s",
		{"keys": tuple(set(keys))},
		as_dict=True,
	)
	since = now_datetime() - timedelta(seconds=int(settings.dedup_window_seconds))
	expired = [row.name for row in rows if row.creation < since]
	if expired:  # the window has passed: free those keys so these items create new jobs
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET dedup_key = NULL WHERE name IN %(names)s",
			{"names": tuple(expired)},
		)
	return {row.dedup_key: row.name for row in rows if row.creation >= since}


def _assign_jobs(
	settings: frappe._dict,
	organization: str,
	priority: str,
	prepared: list[tuple[str, str]],
	keys: list[str],
	existing: dict[str, str],
	dedup: bool,
	run_at: datetime | None,
) -> tuple[list[str], list[dict[str, Any]]]:
	"""The job id of each item (an existing one, an earlier identical item's, or a new one) and the
	new jobs' rows."""
	from frappe.model.naming import make_autoname

	now, user = now_datetime(), frappe.session.user
	max_retries = int(
		settings.max_retries if settings.max_retries is not None else config.DEFAULT_MAX_RETRIES
	)
	timeout = int(settings.timeout_seconds or config.DEFAULT_TIMEOUT_SECONDS)
	by_key = dict(existing)
	job_ids, new_jobs = [], []
	for (params_json, _canonical), key in zip(prepared, keys, strict=True):
		if dedup and key in by_key:
			job_ids.append(by_key[key])
			continue
		name = make_autoname("hash", JOB)
		new_jobs.append(
			{
				"name": name,
				"creation": now,
				"modified": now,
				"owner": user,
				"modified_by": user,
				"job_type": settings.name,
				"organization": organization,
				"submitted_by": user,
				"status": (JobStatus.SCHEDULED if run_at else JobStatus.PENDING).value,
				"run_at": run_at,
				"priority": priority,
				"parameters": params_json,
				"dedup_key": key if dedup else None,
				"params_hash": key,
				"max_retries": max_retries,
				"timeout_seconds": timeout,
				"retry_count": 0,  # the row's defaults, for the Change its creation records
				"budget_start": 0,
				"cancel_requested": 0,
			}
		)
		job_ids.append(name)
		if dedup:
			by_key[key] = name
	return job_ids, new_jobs


def _insert_batch(
	settings: frappe._dict, organization: str, total: int, callback: frappe._dict | None
) -> "frappe.model.document.Document":
	batch = frappe.get_doc(
		{
			"doctype": BATCH,
			"organization": organization,
			"job_type": settings.name,
			"status": batch_status.BatchStatus.RUNNING.value,
			"total": total,
			"on_complete": callback.name if callback else None,
			"created_by": frappe.session.user,
		}
	)
	batch.flags.ignore_links = True  # checked above
	batch.flags.via_engine = True  # the controller refuses any other insert
	batch.insert(ignore_permissions=True)
	return batch


def _bulk_insert_jobs(jobs: list[dict[str, Any]], batch: str) -> set[str]:
	"""Insert the jobs in multi-row statements; returns the names inserted. A job whose dedup key an
	identical submission committed first (while this one waited on the unique key) is skipped."""
	if not jobs:
		return set()
	for job in jobs:
		job["batch"] = batch
	_insert_job_rows(jobs)
	inserted = frappe.db.sql(
		"SELECT COUNT(*) FROM `tabBackground Job` WHERE batch = %(batch)s", {"batch": batch}
	)
	if inserted[0][0] == len(jobs):
		return {job["name"] for job in jobs}
	names = tuple(job["name"] for job in jobs)
	return set(
		frappe.db.sql(
			"SELECT name FROM `tabBackground Job` WHERE name IN %(names)s", {"names": names}, pluck=True
		)
	)


def _insert_job_rows(jobs: list[dict[str, Any]]) -> None:
	"""``INSERT IGNORE`` of the jobs, at most BULK_INSERT_BYTES of parameters per statement.

	The columns every job of the call shares are sent once, as session variables, and the dedup key is
	the row's own ``params_hash`` (or NULL): each row sends three values. Escaping 17 values per row
	cost ~3x more client time than the three (benchmarks/README.md), and ``frappe.db.bulk_insert``
	builds its statement with pypika on a real bench, slower still.
	"""
	first = jobs[0]
	shared = ", ".join(f"@dw_{column} = %({column})s" for column in _BULK_JOB_SHARED)
	frappe.db.sql(f"SET {shared}", {column: first[column] for column in _BULK_JOB_SHARED})
	dedup = "`params_hash`" if first["dedup_key"] is not None else "NULL"
	columns = ", ".join(f"`{column}`" for column in (*_BULK_JOB_VARYING, "dedup_key", *_BULK_JOB_SHARED))
	row = f"(%s, %s, %s, {dedup}, {', '.join(f'@dw_{column}' for column in _BULK_JOB_SHARED)})"
	for chunk in _chunks(jobs):
		frappe.db.sql(
			f"INSERT IGNORE INTO `tabBackground Job` ({columns}) VALUES {', '.join([row] * len(chunk))}",
			[job[column] for job in chunk for column in _BULK_JOB_VARYING],
		)


def _chunks(jobs: list[dict[str, Any]]):
	chunk, size = [], 0
	for job in jobs:
		length = len(job["parameters"])
		if chunk and size + length > BULK_INSERT_BYTES:
			yield chunk
			chunk, size = [], 0
		chunk.append(job)
		size += length
	if chunk:
		yield chunk


def _adopt_winners(
	jobs: list[dict[str, Any]], lost: set[str], job_ids: list[str], batch: "frappe.model.document.Document"
) -> None:
	"""Items that lost their dedup key to a concurrent identical submission name its job instead."""
	keys = {job["dedup_key"]: job["name"] for job in jobs if job["name"] in lost}
	if None in keys:  # not a dedup race: nothing else makes INSERT IGNORE skip a row of ours
		frappe.throw(_("A job of the batch could not be inserted"), frappe.ValidationError)
	# A locking read sees the committed winners even under REPEATABLE READ.
	winners = dict(
		frappe.db.sql(
			"SELECT dedup_key, name FROM `tabBackground Job` WHERE dedup_key IN %(keys)s LOCK IN SHARE MODE",
			{"keys": tuple(keys)},
		)
	)
	replaced = {keys[key]: winners[key] for key in keys}
	job_ids[:] = [replaced.get(name, name) for name in job_ids]
	batch.total -= len(lost)
	frappe.db.set_value(BATCH, batch.name, "total", batch.total, update_modified=False)


def _end_empty_batch(batch: "frappe.model.document.Document") -> None:
	"""A batch whose every item named an existing job has ended; its on_complete is submitted now."""
	batch.status = batch_status.BatchStatus.COMPLETED.value
	updates = {"status": batch.status, "progress": 100, "ended_at": now_datetime()}
	if batch.on_complete:
		summary = batch_status.summary(batch.as_dict(), {})
		updates["callback_job"] = submit_job(batch.on_complete, batch.organization, summary).name
	frappe.db.set_value(BATCH, batch.name, updates, update_modified=False)
