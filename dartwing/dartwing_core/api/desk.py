"""Whitelisted helpers for the desk's Background Job views.

Contract: ``job_feed_organizations`` names the organizations whose ``doc:Organization/<org>`` room the
Background Job list joins to follow ``job_status_changed`` live. The rooms themselves stay Frappe's:
the Socket.IO server joins one only after ``has_permission`` on that Organization, so this list is a
convenience, never the access check. Members get their organizations (Active memberships); unrestricted
users get, bounded, the organizations with waiting or running jobs or with jobs that ended recently,
busiest first (the limits are in specs/011-background-job-engine/decisions.md).
"""

from datetime import timedelta

import frappe
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import permissions, transitions

FEED_ORGANIZATIONS_MAX = 50  # rooms a System Manager's list joins at most
FEED_RECENT_MINUTES = 60  # an organization whose jobs ended this recently is still followed


@frappe.whitelist(methods=["GET"])
def job_feed_organizations() -> list[str]:
	"""Organizations whose job events the caller's Background Job list should follow."""
	if not permissions.is_unrestricted():
		return permissions.get_user_organizations()
	ended = [status.value for status in transitions.JobStatus if status not in transitions.ACTIVE]
	# both halves are served by indexes that start with status (background_job.py, on_doctype_update)
	return frappe.db.sql_list(
		"""SELECT organization FROM (
			SELECT organization, COUNT(*) AS weight FROM `tabBackground Job`
			WHERE status IN %(active)s GROUP BY organization
			UNION ALL
			SELECT organization, COUNT(*) AS weight FROM `tabBackground Job`
			WHERE status IN %(ended)s AND completed_at >= %(since)s GROUP BY organization
		) AS busy GROUP BY organization ORDER BY SUM(weight) DESC, organization LIMIT %(limit)s""",
		{
			"active": tuple(status.value for status in transitions.ACTIVE),
			"ended": tuple(ended),
			"since": now_datetime() - timedelta(minutes=FEED_RECENT_MINUTES),
			"limit": FEED_ORGANIZATIONS_MAX,
		},
	)
