"""The job monitor page (``/job-monitor``): a logged-in user's view of their organizations' jobs.
Frappe 15 looks up a www page's controller with "-" replaced by "_", hence this file's name.

Mirrors a Frappe 15 www page controller (``frappe/www/me.py`` / ``frappe/website/page_renderers/
template_page.py``): ``get_context(context)`` fills the Jinja context; ``no_cache`` keeps the page out of
every cache because it is per user.

Contract:
- Guests are redirected (302) to ``/login?redirect-to=/job-monitor``.
- The context gives the browser what it needs and nothing it may not see: the user's organizations (all
  Active ones for System Managers), the enabled job types, whether the dead letter view is available
  (System Manager / Administrator only — the API checks again), the Socket.IO port and site name, the
  session's CSRF token for POSTs, the status sets (``boot.job_status_sets``, from transitions.py), the
  site's and the user's time zones (as Frappe's desk boot has them), the paused job types (who paused
  them, since when: every user sees why a type's jobs wait), and the translations of every
  ``__("…")`` string of the page's script in the user's language. All data itself is fetched through
  ``dartwing.jobs.*``; whether a job may be canceled or retried comes with each job (``can_manage``).
- The page loads its script and style through ``include_script`` / ``include_style`` (the bundles that
  ``bench build`` writes to assets.json).
"""

import functools
import json
import os
import re
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_system_timezone

from dartwing.dartwing_core.background_jobs import config, permissions
from dartwing.dartwing_core.boot import job_status_sets

no_cache = 1
ROUTE = "/job-monitor"
DEFAULT_SOCKETIO_PORT = 9000  # Frappe's default when socketio_port is not configured
SCRIPT = ("public", "js", "job_monitor.bundle.js")  # the page's script, inside the app package
# A string literal passed to __(...), as Frappe's message extractor finds them in JS.
_JS_MESSAGE = re.compile(r'\b__\(\s*"((?:[^"\\]|\\.)*)"')


def get_context(context: Any) -> Any:
	if frappe.session.user == "Guest":
		frappe.local.flags.redirect_location = f"/login?redirect-to={ROUTE}"
		raise frappe.Redirect(302)

	context.no_cache = 1
	context.title = _("Job Monitor")
	context.is_admin = permissions.is_unrestricted()
	context.organizations = _visible_organizations(context.is_admin)
	context.job_statuses = job_status_sets()
	context.job_types = frappe.get_all(
		"Job Type", filters={"enabled": 1}, pluck="name", order_by="name asc", ignore_permissions=True
	)
	context.paused_job_types = frappe.get_all(
		"Job Type",
		filters={"enabled": 1, "paused": 1},
		fields=["name", "paused_by", "paused_at"],
		order_by="name asc",
		ignore_permissions=True,
	)
	context.socketio_port = frappe.conf.get("socketio_port") or DEFAULT_SOCKETIO_PORT
	context.site_name = frappe.local.site
	context.csrf_token = _csrf_token()
	context.monitor_config = _script_safe_json(
		{
			"user": frappe.session.user,
			"is_admin": bool(context.is_admin),
			"organizations": context.organizations,
			"job_types": context.job_types,
			"job_statuses": context.job_statuses,
			"socketio_port": context.socketio_port,
			"site": context.site_name,
			"time_zone": _time_zones(),
			"messages": _messages(context.job_statuses["all"]),
		}
	)
	return context


@functools.cache
def script_messages() -> tuple[str, ...]:
	"""The ``__("…")`` strings of the page's script (read once per process)."""
	path = os.path.join(frappe.get_app_path("dartwing"), *SCRIPT)
	with open(path, encoding="utf-8") as f:
		source = f.read()
	return tuple(dict.fromkeys(json.loads(f'"{literal}"') for literal in _JS_MESSAGE.findall(source)))


def _messages(statuses: list[str]) -> dict[str, str]:
	"""The script's strings, and the status and priority names it shows, in the user's language."""
	names = (*script_messages(), *statuses, *config.PRIORITIES)
	return {message: _(message) for message in dict.fromkeys(names)}


def _time_zones() -> dict[str, str]:
	"""Frappe's boot ``time_zone``: the site's (naive stored times are in it) and the user's own."""
	system = get_system_timezone()
	user = frappe.db.get_value("User", frappe.session.user, "time_zone") if frappe.session.user else None
	return {"system": system, "user": user or system}


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
