"""Dashboard Chart Source "Jobs Per Hour": jobs created per hour, stacked by status.

Mirrors a Frappe 15 dashboard chart source module (``get`` with the keyword arguments the desk chart
widget sends; see ``frappe/desk/doctype/dashboard_chart/dashboard_chart.py`` ``get`` for custom charts).
Frappe's ``cache_source`` decorator is left out on purpose: the chart watches live work, and the query is
a single indexed GROUP BY. The data and the tenancy rules live in ``dartwing_core.desk_widgets``.
"""

from typing import Any

import frappe
from frappe import _

from dartwing.dartwing_core.desk_widgets import jobs_per_hour


@frappe.whitelist()
def get(
	chart_name: str | None = None,
	chart: str | dict | None = None,
	no_cache: Any = None,
	filters: str | dict | None = None,
	from_date: str | None = None,
	to_date: str | None = None,
	timespan: str | None = None,
	time_interval: str | None = None,
	heatmap_year: str | None = None,
) -> dict[str, Any]:
	return jobs_per_hour(_filters(filters).get("hours"))


def _filters(filters: str | dict | None) -> dict:
	"""The chart's filters object (desk sends it as JSON text); anything but an object is refused (417)."""
	if isinstance(filters, str):
		try:
			filters = frappe.parse_json(filters) if filters.strip() else None
		except (ValueError, RecursionError):
			filters = []
	if filters is None:
		return {}
	if not isinstance(filters, dict):
		frappe.throw(_("filters must be a JSON object"), frappe.ValidationError)
	return filters
