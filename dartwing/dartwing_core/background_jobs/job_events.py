"""Other apps react to job outcomes: the ``dartwing_job_events`` hook, called after commit.

Contract:
- An app declares in its ``hooks.py``::

      dartwing_job_events = {
          "ocr_document": {"on_success": ["myapp.jobs.ocr_done"], "on_dead_letter": ["myapp.jobs.ocr_lost"]},
          "*": {"on_failure": ["myapp.jobs.any_attempt_failed"]},
      }

  Frappe 15 merges dict hooks of every installed app (``append_hook``: dicts merge by key, the leaves
  become lists), so ``frappe.get_hooks("dartwing_job_events")`` gives ``{job type: {event: [paths]}}``.
- Events: ``on_success`` (Completed), ``on_failure`` (an attempt failed and a retry is scheduled:
  Failed or Timed Out), ``on_dead_letter`` (Dead Letter: failed for good), ``on_cancel`` (Canceled).
  The job type's own hooks run first, then those of ``"*"``, each in the order the apps declare them.
- Each hook is called as ``hook(event)`` with a ``frappe._dict`` (``event``, ``job``, ``job_type``,
  ``organization``, ``status``, ``from_status``, ``message``, ``submitted_by``, ``error_type``,
  ``error_message``, ``output_reference``), only after the status change committed (``state.ON_TRANSITION``:
  a rolled-back change calls nobody), as the user whose action caused it (in a worker: the submitter).
- Each hook runs in isolation: its own writes are committed when it returns; when it raises (or cannot be
  imported) its writes are rolled back and it is logged with ``frappe.log_error``; the job's outcome, which
  committed before, and the other hooks are untouched.
"""

from collections.abc import Callable, Mapping
from typing import Any

import frappe

from dartwing.dartwing_core.background_jobs import state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

HOOK = "dartwing_job_events"
ALL_TYPES = "*"
EVENT_OF_STATUS: Mapping[JobStatus, str] = {
	JobStatus.COMPLETED: "on_success",
	JobStatus.FAILED: "on_failure",
	JobStatus.TIMED_OUT: "on_failure",
	JobStatus.DEAD_LETTER: "on_dead_letter",
	JobStatus.CANCELED: "on_cancel",
}
EVENTS = frozenset(EVENT_OF_STATUS.values())
_PAYLOAD_KEYS = (
	"organization",
	"job_type",
	"submitted_by",
	"error_type",
	"error_message",
	"output_reference",
)


def on_transitions(changes: list[state.Change]) -> None:
	"""After a commit: call the declared hooks of every change that is an event."""
	relevant = [change for change in changes if change.to_status in EVENT_OF_STATUS]
	if not relevant:
		return
	declared = frappe.get_hooks(HOOK, {}) or {}
	if not isinstance(declared, Mapping) or not declared:
		return
	for change in relevant:
		event = EVENT_OF_STATUS[change.to_status]
		for path in hooks_for(declared, change.job_type, event):
			call_isolated(path, payload(change, event))


def hooks_for(declared: Mapping[str, Any], job_type: str, event: str) -> list[str]:
	"""The dotted paths to call for ``event`` of a job of ``job_type``: its own, then ``"*"``'s."""
	paths: list[str] = []
	for key in (job_type, ALL_TYPES):
		by_event = declared.get(key)
		if not isinstance(by_event, Mapping):
			continue
		found = by_event.get(event) or []
		paths.extend(path for path in ([found] if isinstance(found, str) else found) if isinstance(path, str))
	return paths


def payload(change: state.Change, event: str) -> frappe._dict:
	job = change.job
	data = frappe._dict({key: job.get(key) for key in _PAYLOAD_KEYS})
	data.update(
		event=event,
		job=change.name,
		status=change.to_status.value,
		from_status=change.from_status.value if change.from_status else None,
		message=change.message,
	)
	return data


def call_isolated(path: str, event: frappe._dict) -> bool:
	"""Call one hook; commit its writes, or roll them back and log. True when it returned."""
	try:
		hook: Callable[[frappe._dict], Any] = frappe.get_attr(path)
		hook(frappe._dict(event))  # a copy: one hook cannot change what the next one is told
		frappe.db.commit()
		return True
	except Exception:
		frappe.db.rollback()
		frappe.log_error(
			title=f"dartwing_job_events hook {path} failed on {event.event} of {event.job}"[:140],
			reference_doctype="Background Job",
			reference_name=event.job,
		)
		frappe.db.commit()  # the log row: nothing else of this hook is left to commit
		return False
