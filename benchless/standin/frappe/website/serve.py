"""Serving ``www`` pages.

Mirrors, as far as dartwing needs, ``frappe/website/serve.py`` with its path resolver and template page
renderer (Frappe 15): ``GET /<route>`` renders ``<app>/www/<route>.html`` (or ``<route>/index.html``),
searching the installed apps with the last installed first, through the Jinja environment of
``frappe.utils.jinja``. A sibling ``<route>.py`` may define ``get_context(context)`` (it may return a dict
to merge). The context carries ``frappe.form_dict``, ``path``, ``csrf_token`` and the site's ``socketio_port``.

Outcomes of ``get_context``: ``frappe.Redirect`` -> redirect to ``frappe.local.flags.redirect_location``
with the exception's status; ``frappe.PermissionError`` -> Guests are redirected (302) to
``/login?redirect-to=<path>``, users get a 403 page; ``frappe.DoesNotExistError`` or an unknown route ->
404 page. ``context.no_cache`` sends ``Cache-Control: no-cache``. Pages are never cached server-side.
"""

import inspect
import os
import re
from types import ModuleType
from urllib.parse import quote

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

import frappe
from frappe import _
from frappe.utils.jinja import get_app_dirs, get_jenv

_ROUTE_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-.]*$")


def get_response(path: str | None = None, http_status_code: int | None = None) -> Response:
	"""Render the page for ``path`` (default: the request path)."""
	route = resolve_route(path if path is not None else frappe.local.request.path)
	page = find_page(route) if route is not None else None
	if page is None:
		return render_message_page(
			_("Not Found"), _("The resource you are looking for is not available"), 404
		)
	try:
		return render_page(route, *page, http_status_code=http_status_code or 200)
	except frappe.Redirect as e:
		location = frappe.local.flags.redirect_location or "/"
		return _no_store(redirect(location, code=getattr(e, "http_status_code", 301) or 301))
	except frappe.PermissionError:
		if frappe.session.user == "Guest":
			return _no_store(redirect(f"/login?redirect-to={quote('/' + route)}", code=302))
		return render_message_page(
			_("Not Permitted"), _("You do not have enough permissions to complete the action"), 403
		)
	except frappe.DoesNotExistError:
		return render_message_page(
			_("Not Found"), _("The resource you are looking for is not available"), 404
		)


def resolve_route(path: str) -> str | None:
	"""The route for a request path: ``/`` -> ``index``; None for paths that are not plain routes."""
	route = path.strip("/") or "index"
	if route.endswith(".html"):
		route = route[: -len(".html")]
	segments = route.split("/")
	if not all(_ROUTE_SEGMENT.match(s) and ".." not in s for s in segments):
		return None
	return route


def find_page(route: str) -> tuple[str, str, str] | None:
	"""(app, template name, app dir) of the first app whose www folder holds the route."""
	for app, app_dir in get_app_dirs():
		for candidate in (f"www/{route}.html", f"www/{route}/index.html"):
			if os.path.isfile(os.path.join(app_dir, candidate)):
				return app, candidate, app_dir
	return None


def render_page(route: str, app: str, template: str, app_dir: str, http_status_code: int = 200) -> Response:
	context = build_context(route)
	controller = _load_controller(app, template)
	if controller is not None and hasattr(controller, "get_context"):
		takes_context = bool(inspect.signature(controller.get_context).parameters)
		extra = controller.get_context(context) if takes_context else controller.get_context()
		if isinstance(extra, dict):
			context.update(extra)
	if getattr(controller, "no_cache", None):
		context.no_cache = 1

	jenv = get_jenv()
	source = _read(os.path.join(app_dir, template))
	if "{% extends" in source:
		html = jenv.get_template(f"{app}/{template}").render(context)
	else:
		# a bare page is placed inside the site's base web template, as Frappe does
		context.content = jenv.get_template(f"{app}/{template}").render(context)
		html = jenv.get_template("templates/web.html").render(context)

	response = Response(
		html, status=context.get("http_status_code") or http_status_code, mimetype="text/html"
	)
	if context.get("no_cache"):
		response.headers["Cache-Control"] = "no-cache, no-store, must-revalidate"
	response.headers["X-Page-Name"] = route
	return response


def build_context(route: str) -> frappe._dict:
	from frappe.sessions import get_csrf_token

	session = getattr(frappe.local, "session", None) or frappe._dict(user="Guest", data=frappe._dict())
	csrf_token = get_csrf_token() if session.get("user") not in (None, "Guest") else ""
	return frappe._dict(
		{
			"path": route,
			"route": route,
			"pathname": route,
			"form_dict": frappe.local.form_dict,
			"csrf_token": csrf_token,
			"socketio_port": frappe.local.conf.get("socketio_port"),
			"site_name": getattr(frappe.local, "site", ""),
			"user": session.get("user"),
			"title": "",
		}
	)


def render_message_page(title: str, message: str, http_status_code: int = 200) -> Response:
	"""A short HTML message page (Frappe's ``message`` template)."""
	context = build_context("message") if getattr(frappe.local, "conf", None) else frappe._dict()
	context.update({"title": title, "message": message, "http_status_code": http_status_code})
	try:
		html = get_jenv().get_template("templates/message.html").render(context)
	except Exception:
		html = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
	return Response(html, status=http_status_code, mimetype="text/html")


def _load_controller(app: str, template: str) -> ModuleType | None:
	"""``www/<route>.py`` of ``app`` as a module (``<app>.www.<route>``), when it exists."""
	import importlib
	import importlib.util

	module_name = f"{app}." + template[: -len(".html")].replace("/", ".").replace("-", "_")
	try:
		if importlib.util.find_spec(module_name) is None:
			return None
	except ModuleNotFoundError:
		return None
	return importlib.import_module(module_name)


def _read(path: str) -> str:
	with open(path, encoding="utf-8") as f:
		return f.read()


def _no_store(response: Response) -> Response:
	response.headers["Cache-Control"] = "no-store, no-cache, must-revalidate"
	return response
