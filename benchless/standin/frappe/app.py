"""The WSGI application: one request in, one response out, one transaction per request.

Mirrors ``frappe/app.py`` (Frappe 15). ``application`` (a WSGI callable, ``@Request.application``):
1. ``/assets/<app>/<path>`` is served from ``<app>/public/<path>`` (bench's sites/assets links) without a
   site context; anything outside that folder is 404.
2. ``init_request``: site = ``_site`` (``serve --site``) or ``X-Frappe-Site-Name`` or the Host name (when
   such a site exists) or ``default_site``; ``frappe.init`` + ``frappe.connect``; ``make_form_dict``
   (JSON body when JSON and non-empty, else query args + form fields); ``HTTPRequest`` (session, login,
   CSRF); ``before_request`` hooks. Then ``validate_auth`` (API keys).
3. Routing: ``/api/*`` -> ``frappe.api.handle``; other GET/HEAD/POST -> www pages
   (``frappe.website.serve.get_response``).
4. Transaction: on success commit for POST/PUT/DELETE/PATCH or ``flags.commit``, else roll back; on any
   exception roll back. Errors become ``handle_exception``'s response: status
   ``getattr(exc, "http_status_code", 500)``, JSON body with ``exc_type`` and ``_server_messages`` for API
   calls, plus the traceback (``exception``, ``exc``) only when System Settings ``allow_error_traceback``
   is on (``frappe.utils.response.report_error``); 5xx are recorded with ``frappe.log_error``.
5. After the response is sent: ``request.after_response`` callbacks, then ``frappe.destroy()``.
"""

import functools
import json
import os
import re

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import ClosingIterator

import frappe
from frappe import _
from frappe.auth import UNSAFE_HTTP_METHODS, HTTPRequest, get_request_header, validate_auth

_site: str | None = None
_sites_path: str = os.environ.get("SITES_PATH", ".")
_APP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# desk sends large forms; werkzeug's default 500 KB form limit is too small (as in Frappe)
Request.max_form_memory_size = None


def after_response_wrapper(app):
	"""Run the after-response work once the response has been sent."""

	@functools.wraps(app)
	def application(environ, start_response):
		return ClosingIterator(app(environ, start_response), (_run_after_response, _destroy))

	return application


@after_response_wrapper
@Request.application
def application(request: Request) -> Response:
	if request.path.startswith("/assets/"):
		return serve_asset(request)

	response = None
	rollback = True
	try:
		init_request(request)
		validate_auth()
		response = _route(request)
	except HTTPException as e:
		return e
	except Exception as e:
		response = handle_exception(e)
	else:
		rollback = sync_database(rollback)
	finally:
		if rollback and request.method in UNSAFE_HTTP_METHODS and getattr(frappe.local, "db", None):
			frappe.db.rollback()
		run_after_request_hooks(request, response)
		process_response(response)
	return response


def _route(request: Request) -> Response:
	import frappe.api
	import frappe.handler
	from frappe.utils.response import build_response

	if request.method == "OPTIONS":
		return Response()
	if frappe.local.form_dict.cmd:
		# deprecated RPC style (POST / with cmd=...), still honoured by Frappe 15
		frappe.handler.handle()
		return build_response("json")
	if request.path.startswith("/api/"):
		return frappe.api.handle(request)
	if request.method in ("GET", "HEAD", "POST"):
		from frappe.website.serve import get_response

		return get_response()
	raise NotFound


def init_request(request: Request) -> None:
	"""Set up the site context, the form dict and the session for ``request``."""
	site = _site or request.headers.get("X-Frappe-Site-Name") or get_site_name(request.host)
	frappe.init(site, sites_path=_sites_path, force=True)
	frappe.local.request = request
	frappe.local.request.after_response = _callback_manager()
	frappe.local.is_ajax = request.headers.get("X-Requested-With") == "XMLHttpRequest"

	if not (frappe.local.conf and frappe.local.conf.get("db_name")):
		raise NotFound  # no such site

	frappe.connect(set_admin_as_user=False)
	if frappe.local.conf.get("maintenance_mode"):
		raise frappe.SessionStopped("Session Stopped")

	from frappe.sessions import ensure_sessions_table

	ensure_sessions_table()
	request.max_content_length = int(frappe.local.conf.get("max_file_size") or 25 * 1024 * 1024)
	make_form_dict(request)
	if request.method != "OPTIONS":
		frappe.local.http_request = HTTPRequest()
	for before_request_task in frappe.get_hooks("before_request", []) or []:
		frappe.call(before_request_task)


def get_site_name(host: str) -> str:
	"""The site for a Host header: the host name when such a site exists, else ``default_site``."""
	name = (host or "").split(":")[0]
	if name and os.path.isfile(os.path.join(_sites_path, name, "site_config.json")):
		return name
	common = os.path.join(_sites_path, "common_site_config.json")
	if os.path.isfile(common):
		with open(common) as f:
			default_site = json.load(f).get("default_site")
		if default_site:
			return default_site
	return name


def make_form_dict(request: Request) -> None:
	"""``frappe.form_dict`` from the JSON body, or else from the query string and form fields."""
	request_data = request.get_data(as_text=True)
	if request_data and request.is_json:
		args = json.loads(request_data)
	else:
		args = {}
		args.update(request.args or {})
		args.update(request.form or {})

	if isinstance(args, dict):
		frappe.local.form_dict = frappe._dict(args)
		frappe.local.form_dict.pop("_", None)  # jQuery's cache buster
	elif isinstance(args, list):
		frappe.local.form_dict = frappe._dict(data=args)
	else:
		frappe.throw(_("Invalid request arguments"))


def sync_database(rollback: bool) -> bool:
	"""Commit unsafe methods (or ``flags.commit``), roll back safe ones; then extend the session."""
	if getattr(frappe.local, "db", None):
		if frappe.local.flags.commit or frappe.local.request.method in UNSAFE_HTTP_METHODS:
			frappe.db.commit()
		else:
			frappe.db.rollback()
		rollback = False
	session = getattr(frappe.local, "session_obj", None)
	if session and session.update():
		rollback = False
	return rollback


def handle_exception(e: Exception) -> Response:
	"""The error response for ``e``: JSON for API/ajax callers, an HTML message page otherwise."""
	from frappe.utils.response import report_error

	http_status_code = getattr(e, "http_status_code", 500)
	if not getattr(frappe.local, "initialised", False) or not hasattr(frappe.local, "response"):
		return Response(
			json.dumps({"exc_type": type(e).__name__}), status=http_status_code, mimetype="application/json"
		)

	accept = get_request_header("Accept") or ""
	respond_as_json = (
		accept and (getattr(frappe.local, "is_ajax", False) or "application/json" in accept)
	) or (frappe.local.request.path.startswith("/api/") and not accept.startswith("text"))
	session = getattr(frappe.local, "session", None)
	if session is not None and not session.get("user"):
		session.user = "Guest"

	if respond_as_json:
		response = report_error(http_status_code)
	elif http_status_code == 429:
		response = Response("Too Many Requests", status=429)
	else:
		response = _error_page(http_status_code)

	if e.__class__ is frappe.AuthenticationError and getattr(frappe.local, "login_manager", None):
		frappe.local.login_manager.clear_cookies()
	if http_status_code >= 500:
		_log_server_error(e)
	return response


def _error_page(http_status_code: int) -> Response:
	from frappe.website.serve import render_message_page

	titles = {
		401: (_("Session Expired"), _("Your session has expired, please login again to continue.")),
		403: (_("Not Permitted"), _("You do not have enough permissions to complete the action")),
		404: (_("Not Found"), _("The resource you are looking for is not available")),
		503: (_("Updating"), _("The system is being updated. Please refresh again after a few moments.")),
	}
	title, message = titles.get(http_status_code, (_("Server Error"), ""))
	return render_message_page(title, message, http_status_code)


def _log_server_error(e: Exception) -> None:
	# the request's transaction is abandoned first, so the Error Log row survives on its own commit
	if not getattr(frappe.local, "db", None):
		return
	try:
		frappe.db.rollback()
		frappe.log_error(title=f"{type(e).__name__} in {frappe.local.request.path}")
		frappe.db.commit()
	except Exception:
		frappe.db.rollback()


def run_after_request_hooks(request: Request, response: Response | None) -> None:
	if not getattr(frappe.local, "initialised", False):
		return
	try:
		for after_request_task in frappe.get_hooks("after_request", []) or []:
			frappe.call(after_request_task, response=response, request=request)
	except Exception:
		frappe.logger().error("Failed to run after request hook", exc_info=True)


def process_response(response: Response | None) -> None:
	"""Write the cookies and CORS headers onto the response."""
	if not response:
		return
	cookie_manager = getattr(frappe.local, "cookie_manager", None)
	if cookie_manager is not None:
		cookie_manager.flush_cookies(response=response)
	if getattr(frappe.local, "conf", None):
		set_cors_headers(response)


def set_cors_headers(response: Response) -> None:
	allowed_origins = frappe.local.conf.get("allow_cors")
	request = getattr(frappe.local, "request", None)
	origin = request.headers.get("Origin") if request is not None else None
	if not (allowed_origins and origin):
		return
	if allowed_origins != "*":
		allowed = allowed_origins if isinstance(allowed_origins, list) else [allowed_origins]
		if origin not in allowed:
			return
	response.headers.extend(
		{"Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Origin": origin, "Vary": "Origin"}
	)
	if request.method == "OPTIONS":
		response.headers["Access-Control-Allow-Methods"] = request.headers.get(
			"Access-Control-Request-Method", ""
		)
		if allowed_headers := request.headers.get("Access-Control-Request-Headers"):
			response.headers["Access-Control-Allow-Headers"] = allowed_headers


def serve_asset(request: Request) -> Response:
	"""``/assets/<app>/<path>`` from ``<app package>/public/<path>``; 404 for anything else."""
	parts = request.path.split("/", 3)  # "", "assets", app, rest
	if len(parts) < 4 or not _APP_NAME.match(parts[2]) or not parts[3]:
		return NotFound()
	public = _app_public_path(parts[2])
	if not public:
		return NotFound()
	try:
		# send_from_directory refuses paths that leave ``public`` (safe_join)
		return send_from_directory(public, parts[3], request.environ)
	except NotFound as e:
		return e


def _app_public_path(app: str) -> str | None:
	"""``<app>/public`` for an importable Frappe app (a package with hooks.py), as bench links assets."""
	import importlib.util

	try:
		spec = importlib.util.find_spec(app)
	except (ImportError, ValueError):
		return None
	if not spec or not spec.submodule_search_locations:
		return None
	package_dir = next(iter(spec.submodule_search_locations))
	public = os.path.join(package_dir, "public")
	if not os.path.isfile(os.path.join(package_dir, "hooks.py")) or not os.path.isdir(public):
		return None
	return public


def _callback_manager():
	try:
		from frappe.utils import CallbackManager
	except ImportError:
		return None
	return CallbackManager()


def _run_after_response() -> None:
	request = getattr(frappe.local, "request", None)
	callbacks = getattr(request, "after_response", None) if request is not None else None
	if callbacks is None:
		return
	try:
		callbacks.run()
	except Exception:
		frappe.logger().error("Failed to run after response callbacks", exc_info=True)


def _destroy() -> None:
	if getattr(frappe.local, "initialised", False) or getattr(frappe.local, "site", None):
		frappe.destroy()


def serve(port: int = 8000, site: str | None = None, sites_path: str = ".", threaded: bool = True) -> None:
	"""Run ``application`` on werkzeug's development server (``bench serve``)."""
	global _site, _sites_path
	from werkzeug.serving import run_simple

	_site = site
	_sites_path = sites_path
	run_simple("127.0.0.1", int(port), application, use_reloader=False, use_debugger=False, threaded=threaded)
