"""The job monitor page (``/job-monitor``): a logged-in user's view of their organizations' jobs.
Frappe 15 looks up a www page's controller with "-" replaced by "_", hence this file's name.

Mirrors a Frappe 15 www page controller (``frappe/www/me.py`` / ``frappe/website/page_renderers/
template_page.py``): ``get_context(context)`` fills the Jinja context; ``no_cache`` keeps the page out of
every cache because it is per user.

Contract:
- Guests are redirected (302) to ``/login?redirect-to=/job-monitor``.
- The context gives the browser what it needs and nothing it may not see: the user's organizations (all
  Active ones for System Managers), the enabled job types, whether the dead letter view is available
  (System Manager / Administrator only — the API checks again), the Socket.IO port and site name, and the
  session's CSRF token for POSTs. All data itself is fetched through ``dartwing.jobs.*``.
"""

from typing import Any

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import permissions

no_cache = 1
ROUTE = "/job-monitor"
DEFAULT_SOCKETIO_PORT = 9000  # Frappe's default when socketio_port is not configured


def get_context(context: Any) -> Any:
	if frappe.session.user == "Guest":
		frappe.local.flags.redirect_location = f"/login?redirect-to={ROUTE}"
		raise frappe.Redirect(302)

	context.no_cache = 1
	context.title = _("Job Monitor")
	context.is_admin = permissions.is_unrestricted()
	context.organizations = _visible_organizations(context.is_admin)
	context.org_roles = {org: permissions.get_org_role(None, org) for org in context.organizations}
	context.job_types = frappe.get_all(
		"Job Type", filters={"enabled": 1}, pluck="name", order_by="name asc", ignore_permissions=True
	)
	context.socketio_port = frappe.conf.get("socketio_port") or DEFAULT_SOCKETIO_PORT
	context.site_name = frappe.local.site
	context.csrf_token = _csrf_token()
	context.monitor_config = _script_safe_json(
		{
			"user": frappe.session.user,
			"is_admin": bool(context.is_admin),
			"organizations": context.organizations,
			"org_roles": context.org_roles,
			"job_types": context.job_types,
			"socketio_port": context.socketio_port,
			"site": context.site_name,
		}
	)
	return context


def _script_safe_json(value: dict[str, Any]) -> str:
	# organization names are user input: "</script>" inside them must not end the script element
	return frappe.as_json(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _visible_organizations(is_admin: bool) -> list[str]:
	if is_admin:
		return frappe.get_all(
			"Organization",
			filters={"status": "Active"},
			pluck="name",
			order_by="name asc",
			ignore_permissions=True,
		)
	return permissions.get_user_organizations()


def _csrf_token() -> str:
	# Frappe 15 keeps the token in the session data and creates it on first page load.
	from frappe.sessions import get_csrf_token

	return get_csrf_token()
