"""Data for the desk widgets of the Background Jobs workspace: the "Job Failure Rate" number card and the
"Jobs Per Hour" dashboard chart source.

Mirrors the contracts of Frappe 15's desk widgets (``frappe/desk/doctype/number_card/number_card.py``
custom cards: a whitelisted method returning a number or ``{value, fieldtype}``; ``frappe/desk/doctype/
dashboard_chart_source``: ``{labels, datasets: [{name, values}]}``).

Contract: counts are computed in SQL over ``tabBackground Job`` with parameters only, restricted to the
caller's organizations (System Managers see every organization), over the last ``hours`` hours by
creation time (1..168; anything else is refused with a ValidationError, 417). Failure rate: ``metrics_math.failure_rate`` of the window's failures
(``transitions.FAILURE``) and Completed jobs, as a percentage; 0 when nothing has ended. The tenancy
filter is ``permissions.org_scope``.
"""

from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import arguments, metrics_math, permissions
from dartwing.dartwing_core.background_jobs.transitions import FAILURE, ORDER, JobStatus

STATUS_ORDER = tuple(status.value for status in ORDER)
MAX_HOURS = 168  # one week of hourly buckets keeps the chart readable
DEFAULT_HOURS = 24  # h, the chart's window when its filters name none


@frappe.whitelist()
def get_failure_rate(filters: dict | str | None = None) -> dict[str, Any]:
	"""Number card: the failure rate of jobs created in the last 24 hours."""
	counts = dict(status_counts(DEFAULT_HOURS))
	failed = sum(counts.get(status.value, 0) for status in FAILURE)
	rate = metrics_math.failure_rate(failed, counts.get(JobStatus.COMPLETED.value, 0))
	return {"value": round(100 * (rate or 0.0), 2), "fieldtype": "Percent"}


def status_counts(hours: int) -> list[tuple[str, int]]:
	where, values = _scope(hours)
	if where is None:
		return []
	rows = frappe.db.sql(
		f"SELECT status, COUNT(*) FROM `tabBackground Job` WHERE {where} GROUP BY status", values
	)
	return [(status, int(count)) for status, count in rows]


def jobs_per_hour(hours: int = DEFAULT_HOURS) -> dict[str, Any]:
	"""Chart data: one label per hour (oldest first) and one dataset per status that occurs (every status,
	with zeros, when none occurs)."""
	hours = _bounded_hours(hours)
	end = now_datetime().replace(minute=0, second=0, microsecond=0)
	buckets = [end - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]
	where, values = _scope(hours, since=buckets[0])
	counts: dict[tuple[str, str], int] = {}
	if where is not None:
		rows = frappe.db.sql(
			f"""SELECT DATE_FORMAT(creation, '%%Y-%%m-%%d %%H:00') AS hour, status, COUNT(*)
			FROM `tabBackground Job` WHERE {where} GROUP BY hour, status""",
			values,
		)
		counts = {(hour, status): int(count) for hour, status, count in rows}
	keys = [bucket.strftime("%Y-%m-%d %H:00") for bucket in buckets]
	# Frappe's chart widget cannot draw zero datasets (frappe-charts throws): an empty window gets a
	# zero series per status, as Frappe's own count charts return zeros.
	statuses = [status for status in STATUS_ORDER if any((key, status) in counts for key in keys)] or list(
		STATUS_ORDER
	)
	return {
		"labels": [bucket.strftime("%H:00") for bucket in buckets],
		"datasets": [
			{"name": _(status), "values": [counts.get((key, status), 0) for key in keys]}
			for status in statuses
		],
	}


def _scope(hours: int, since: datetime | None = None) -> tuple[str | None, dict[str, Any]]:
	values: dict[str, Any] = {"since": since or now_datetime() - timedelta(hours=_bounded_hours(hours))}
	scope = permissions.org_scope()
	if scope.empty:
		return None, values
	condition, scope_values = scope.sql()
	return f"creation >= %(since)s AND {condition}", {**values, **scope_values}


def _bounded_hours(hours: Any) -> int:
	return arguments.integer("hours", hours, lo=1, hi=MAX_HOURS, default=DEFAULT_HOURS)
