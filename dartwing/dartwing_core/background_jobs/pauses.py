"""Pause and resume a Job Type: the only writers of its ``paused``, ``paused_by`` and ``paused_at``.

Contract: System Managers only (``PermissionError`` otherwise, nothing written). A pause stops every
start of the type (``gates.type_gate`` at dispatch, the executor's refusal at the claim); running jobs
finish; Pending, Scheduled and retry-waiting jobs wait. A resume clears the pause and wakes every
organization waiting for the type after the commit (``dispatcher.schedule_job_type``). Both are
audited as a Comment on the Job Type's timeline (who, when, what), in the caller's transaction;
pausing a paused type (or resuming a running one) changes nothing and says so.
"""

from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import arguments, dispatcher, permissions


def pause_job_type(job_type: Any) -> dict[str, Any]:
	doc = _job_type_for_admin(job_type)
	if doc.paused:
		return _state(doc, changed=False)
	_set_pause(doc, 1, frappe.session.user, now_datetime())
	doc.add_comment("Info", _("Paused by {0}: no job of this type starts").format(frappe.session.user))
	return _state(doc, changed=True)


def resume_job_type(job_type: Any) -> dict[str, Any]:
	doc = _job_type_for_admin(job_type)
	if not doc.paused:
		return _state(doc, changed=False)
	was = _("paused by {0} at {1}").format(doc.paused_by, doc.paused_at)
	_set_pause(doc, 0, None, None)
	dispatcher.schedule_job_type(doc.name)  # its waiting jobs are dispatched after the commit
	doc.add_comment("Info", _("Resumed by {0} (was {1})").format(frappe.session.user, was))
	return _state(doc, changed=True)


def _set_pause(doc: Any, paused: int, by: str | None, at: Any) -> None:
	# Not doc.save(): a pause must work during an outage even when the type's handler no longer imports.
	values = {"paused": paused, "paused_by": by, "paused_at": at}
	frappe.db.set_value("Job Type", doc.name, values)
	doc.update(values)


def _job_type_for_admin(job_type: Any) -> Any:
	if not permissions.is_unrestricted():
		frappe.throw(_("Only a System Manager may pause or resume a Job Type"), frappe.PermissionError)
	name = arguments.text("job_type", job_type, required=True)
	if not frappe.db.exists("Job Type", name):
		frappe.throw(_("Job Type {0} not found").format(name), frappe.DoesNotExistError)
	return frappe.get_doc("Job Type", name)


def _state(doc: Any, *, changed: bool) -> dict[str, Any]:
	return {
		"job_type": doc.name,
		"paused": bool(doc.paused),
		"paused_by": doc.paused_by,
		"paused_at": str(doc.paused_at) if doc.paused_at else None,
		"changed": changed,
	}
