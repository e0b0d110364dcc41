"""Runs one Background Job inside an RQ worker (the function ``dispatcher.enqueue`` hands to RQ):
refuse or claim it, run its handler, record the outcome.

Contract:
- ``run_job`` never raises to the worker for anything a handler does: every outcome ends in a
  recorded status (Completed, Failed / Timed Out with a retry scheduled, Canceled, Dead Letter).
- A job runs at most once at a time: the claim is a compare-and-set from Queued to Running that also
  matches the RQ job id of this dispatch, so stale or duplicate RQ jobs change nothing.
- Before claiming, the organization and the submitter's right to act in it are checked again:
  a deleted organization or a lost membership dead-letters the job ("Organization not found",
  "Permission denied"); a suspended organization, a paused Job Type or a site switch (maintenance,
  paused scheduler: ``gates.site_switch``) sends it back to Pending to wait (a job dispatched just
  before the pause or the switch never starts while it holds).
- The handler runs with full Frappe context as the submitter, in the work horse's main thread, with
  a ``JobContext`` (context.py) and a ``SideChannel`` beside it (side_channel.py). Outcomes are
  recorded by outcome.py.
- Timeouts: the engine's own alarm (``HandlerDeadline``: SIGALRM in the work horse's main thread, the
  thread that runs the handler) interrupts a handler at ``timeout_seconds``, counted from the claim;
  a handler stuck where signals cannot reach is killed by the side channel after
  ``TIMEOUT_KILL_GRACE_SECONDS``. Either way the job is Timed Out. RQ's limit for the work horse is
  longer by that grace and ``RQ_TIMEOUT_MARGIN_SECONDS`` (``dispatcher.rq_timeout``), so a slow start
  (imports, the claim) or the outcome's recording is never cut short by RQ.
- ``preload()`` imports every module a work horse needs to run a job (this one, the consequences of
  ``state.ON_TRANSITION``, the Job Execution Log controller, Frappe's document and realtime modules).
  ``dartwing.commands`` calls it, so a ``bench worker`` has them imported before it forks its horses:
  without it every horse (a fork per job) imports them again and discards them when it exits.
"""

import importlib
import os
import socket
import traceback
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import config, gates, outcome, permissions, progress, state
from dartwing.dartwing_core.background_jobs.context import HandlerDeadline, JobContext
from dartwing.dartwing_core.background_jobs.progress import ProgressThrottle
from dartwing.dartwing_core.background_jobs.side_channel import SideChannel
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

# Beside this module's own imports: what a job's first run in a work horse would import.
_WORK_HORSE_MODULES = (
	"frappe.model.document",
	"frappe.realtime",
	"dartwing.dartwing_core.doctype.job_execution_log.job_execution_log",  # its doctype's controller
)


def preload() -> None:
	"""Import what running a job needs, once, in the worker that forks the work horses."""
	consequences = [consequence.method.rpartition(".")[0] for consequence in state.ON_TRANSITION]
	for module in (*_WORK_HORSE_MODULES, *consequences):
		importlib.import_module(module)


def run_job(background_job: str, dispatch_token: str) -> None:
	"""RQ entry point: check, claim, execute and record one job."""
	job = state.load(background_job, for_update=True, with_parameters=True)
	if not job or job.status != JobStatus.QUEUED.value or job.rq_job_id != dispatch_token:
		frappe.logger("dartwing.jobs").info(f"Skipping stale dispatch {dispatch_token} of {background_job}")
		return
	org_status, settings = _organization_and_settings(job)  # read once: refusal, execution and outcome
	refusal = _refusal(job, org_status, settings)
	if refusal:
		to_status, reason, updates = refusal
		state.transition(job, to_status, message=reason, updates=updates, guard={"rq_job_id": dispatch_token})
		frappe.db.commit()
		return
	progress.note_submitter_may_act(job.submitted_by, job.organization)  # the re-check above said so
	if not _claim(job, dispatch_token):
		frappe.db.rollback()
		return
	frappe.db.commit()
	_execute(job, settings)


def _organization_and_settings(job: frappe._dict) -> tuple[str | None, frappe._dict | None]:
	"""The organization's status and the Job Type's settings (``outcome.SETTINGS_COLUMNS``), in one
	statement (either is None when its row does not exist): a round trip fewer on every job."""
	columns = ", ".join(f"t.`{column}`" for column in outcome.SETTINGS_COLUMNS)
	row = frappe.db.sql(
		f"""SELECT o.status AS organization_status, {columns}
		FROM (SELECT 1) one
		LEFT JOIN `tabOrganization` o ON o.name = %(org)s
		LEFT JOIN `tabJob Type` t ON t.name = %(type)s""",
		{"org": job.organization, "type": job.job_type},
		as_dict=True,
	)[0]
	org_status = row.pop("organization_status")
	return org_status, (row if row.name is not None else None)


def _refusal(
	job: frappe._dict, org_status: str | None, settings: frappe._dict | None
) -> tuple[JobStatus, str, dict[str, Any]] | None:
	if gates.site_switch():
		return JobStatus.PENDING, _("The site is in maintenance or its scheduler is paused; waiting"), {}
	if org_status is None:
		return _dead_letter("OrganizationNotFound", _("Organization not found"))
	if org_status != "Active":
		return JobStatus.PENDING, _("Organization is {0}; waiting").format(org_status), {}
	if settings is None:
		return _dead_letter("JobTypeNotFound", _("Job Type not found"))
	if settings.paused:
		return JobStatus.PENDING, _("Job Type {0} is paused; waiting").format(job.job_type), {}
	if not _submitter_still_permitted(job, settings.required_permission):
		return _dead_letter("PermissionDenied", _("Permission denied"))
	return None


def _dead_letter(error_type: str, message: str) -> tuple[JobStatus, str, dict[str, Any]]:
	updates = {"error_type": error_type, "error_message": message, "completed_at": now_datetime()}
	return JobStatus.DEAD_LETTER, message, {**updates, "dedup_key": None}


def _submitter_still_permitted(job: frappe._dict, required_permission: str | None) -> bool:
	"""The submitter may still submit in the organization and, if the Job Type asks, create its doctype."""
	if not permissions.can_act_in(job.organization, user=job.submitted_by, action="submit"):
		return False
	return not required_permission or frappe.has_permission(
		required_permission, "create", user=job.submitted_by
	)


def _claim(job: frappe._dict, dispatch_token: str) -> bool:
	now = now_datetime()
	updates = {
		"worker": f"{socket.gethostname()}:{os.getpid()}",
		"started_at": now,
		"heartbeat_at": now,
		"progress": 0,
		"progress_message": "",
	}
	claimed = state.transition(
		job,
		JobStatus.RUNNING,
		message=_("Started"),
		updates=updates,
		guard={"rq_job_id": dispatch_token},
		actor=job.submitted_by,
	)
	if claimed:
		job.update(claimed.job)
	return bool(claimed)


def _execute(job: frappe._dict, settings: frappe._dict) -> None:
	ctx = JobContext(
		job,
		frappe.parse_json(job.pop("parameters", None) or "{}") or {},
		ProgressThrottle(config.PROGRESS_THROTTLE_SECONDS),
	)
	frappe.set_user(job.submitted_by)
	side = SideChannel(job, ctx)
	side.start()
	try:
		handler = frappe.get_attr(settings.handler)
		with HandlerDeadline(int(job.timeout_seconds or config.DEFAULT_TIMEOUT_SECONDS)):
			result = handler(ctx)
	except BaseException as exc:
		trace = traceback.format_exc()
		side.stop()
		outcome.record_failure_committed(job, exc, trace, settings)
		if isinstance(exc, KeyboardInterrupt | SystemExit):
			raise
		return
	side.stop()
	try:
		outcome.record_success(job, result, ctx.output_reference, settings)
		frappe.db.commit()
	except Exception as exc:
		outcome.record_lost_completion(job, exc, settings)
