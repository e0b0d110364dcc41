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
	doc.paused, doc.paused_by, doc.paused_at = 1, frappe.session.user, now_datetime()
	doc.save(ignore_permissions=True)
	doc.add_comment("Info", _("Paused by {0}: no job of this type starts").format(frappe.session.user))
	return _state(doc, changed=True)


def resume_job_type(job_type: Any) -> dict[str, Any]:
	doc = _job_type_for_admin(job_type)
	if not doc.paused:
		return _state(doc, changed=False)
	was = _("paused by {0} at {1}").format(doc.paused_by, doc.paused_at)
	doc.paused, doc.paused_by, doc.paused_at = 0, None, None
	doc.save(ignore_permissions=True)  # on_update wakes the type's waiting jobs after the commit
	dispatcher.schedule_job_type(doc.name)
	doc.add_comment("Info", _("Resumed by {0} (was {1})").format(frappe.session.user, was))
	return _state(doc, changed=True)


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
