"""What the browser needs to know of the engine's rules, sent from their one source.

Contract: the status sets come from ``background_jobs.transitions`` (the transition table's module) and
nowhere else; the desk receives them in ``frappe.boot.dartwing`` (hook ``extend_bootinfo``, Frappe 15
``frappe/boot.py`` calls it with ``bootinfo``) and the ``/job-monitor`` page in its context. The browser
uses them only to decide which buttons to show: the API checks every action again.
"""

from typing import Any

from dartwing.dartwing_core.background_jobs import transitions


def job_status_sets() -> dict[str, list[str]]:
	"""Every status in the table's order, and the sets a client shows buttons and live bars by."""

	def values(statuses: frozenset) -> list[str]:
		return [status.value for status in transitions.JobStatus if status in statuses]

	return {
		"all": [status.value for status in transitions.JobStatus],
		"active": values(transitions.ACTIVE),
		"final": values(transitions.FINAL),
		"cancelable": values(transitions.CANCELABLE),
		"retryable": values(transitions.RETRYABLE_BY_USER),
	}


def extend_bootinfo(bootinfo: Any) -> None:
	bootinfo.dartwing = {"job_statuses": job_status_sets()}
