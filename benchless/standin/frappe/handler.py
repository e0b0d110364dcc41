"""Running a whitelisted method for an HTTP request.

Mirrors ``frappe/handler.py`` (Frappe 15): ``handle()`` runs ``frappe.form_dict.cmd`` (except ``login``,
which ``frappe.auth.LoginManager`` already did) and puts a non-None result in
``frappe.response["message"]``; ``execute_cmd(cmd)`` resolves the method (``override_whitelisted_methods``
hook, then ``get_attr``: failure is a ValidationError 417 "Failed to get method for command ..."),
requires it to be whitelisted (PermissionError 403; Guests need ``allow_guest``) and to accept the
request's HTTP method (PermissionError 403 "Not permitted"), then calls it through ``frappe.call`` so only
accepted keyword arguments reach it. Also the dotless shorthands Frappe keeps here: ``logout``, ``ping``,
``version``. Server Scripts and ``run_doc_method`` are not implemented.
"""

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

import frappe
from frappe import _


def handle() -> Any:
	"""Run ``frappe.form_dict.cmd``; store its result as ``frappe.response["message"]``."""
	cmd = frappe.local.form_dict.cmd
	data = None
	if cmd != "login":
		data = execute_cmd(cmd)
	if isinstance(data, Response):
		return data
	if data is not None:
		frappe.local.response["message"] = data
	return None


def execute_cmd(cmd: str, from_async: bool = False) -> Any:
	"""Resolve, check and call the whitelisted method ``cmd`` with ``frappe.form_dict`` as kwargs."""
	method = resolve_whitelisted_method(cmd)
	if from_async:
		method = getattr(method, "queue", method)
	return frappe.call(method, **frappe.local.form_dict)


def resolve_whitelisted_method(cmd: str) -> Callable:
	"""The function for ``cmd``, after the whitelist and HTTP-method checks (PermissionError 403)."""
	overrides = (frappe.get_hooks("override_whitelisted_methods", {}) or {}).get(cmd) or []
	if isinstance(overrides, str):
		overrides = [overrides]
	if overrides:
		cmd = overrides[-1]  # the last app's override wins, as in Frappe

	try:
		method = get_attr(cmd)
	except Exception as e:
		frappe.throw(_("Failed to get method for command {0} with {1}").format(cmd, e))

	frappe.is_whitelisted(method)
	is_valid_http_method(method)
	return method


def is_valid_http_method(method: Callable) -> None:
	"""PermissionError 403 when the request's HTTP method is not in the method's ``methods=``."""
	request = getattr(frappe.local, "request", None)
	if not request:
		return
	allowed = frappe.allowed_http_methods_for_whitelisted_func.get(method)
	if allowed is None:
		allowed = ["GET", "POST", "PUT", "DELETE"]
	if request.method not in allowed:
		throw_permission_error()


def throw_permission_error() -> None:
	frappe.throw(_("Not permitted"), frappe.PermissionError)


def get_attr(cmd: str) -> Callable:
	"""Dotted ``cmd`` through ``frappe.get_attr``; a dotless one names a function of this module."""
	if "." in cmd:
		return frappe.get_attr(cmd)
	return globals()[cmd]


@frappe.whitelist(allow_guest=True)
def logout() -> None:
	"""End the current session (``/api/method/logout``)."""
	frappe.local.login_manager.logout()
	frappe.db.commit()


@frappe.whitelist(allow_guest=True)
def ping() -> str:
	return "pong"


@frappe.whitelist()
def version() -> str:
	return getattr(frappe, "__version__", "15.44.2")
