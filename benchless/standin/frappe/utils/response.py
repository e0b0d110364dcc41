"""Building HTTP responses from ``frappe.local.response``.

Mirrors ``frappe/utils/response.py`` (Frappe 15) for the JSON, redirect and page response types:
``build_response(response_type)`` serialises ``frappe.local.response``; ``as_json`` adds the v1 log keys
(``_server_messages`` as a JSON string of JSON-encoded msgprint dicts, ``_debug_messages``,
``_error_message``); ``report_error(status_code)`` adds ``exc_type`` for the exception being handled
(benchless serves API v1 only). Tracebacks, as in Frappe 15, only when System Settings
``allow_error_traceback`` is on (benchless: site config ``system_settings``; off by default, as on a new
Frappe site) and the request did not set ``flags.disable_traceback``, and for a 404 only with site config
``logging``: then ``exception`` (the traceback's last line) and ``exc`` (a JSON list of full tracebacks,
from ``frappe.errprint``). Frappe's ``_exc_source`` (the app the traceback points at) is not implemented.
"""

import datetime
import decimal
import json
import sys
import uuid
from collections.abc import Iterable
from re import Match
from typing import Any

from werkzeug.local import LocalProxy
from werkzeug.utils import redirect as werkzeug_redirect
from werkzeug.wrappers import Response

import frappe


def report_error(status_code: int) -> Response:
	"""JSON error response for the exception currently being handled."""
	exc_type, _exc_value, _tb = sys.exc_info()
	if _traceback_allowed(status_code):
		traceback = frappe.get_traceback()
		frappe.errprint(traceback)  # -> "exc" (make_logs)
		frappe.local.response.exception = traceback.splitlines()[-1] if traceback else ""
	frappe.local.response["exc_type"] = exc_type.__name__ if exc_type else "Exception"

	response = build_response("json")
	response.status_code = status_code
	return response


def _traceback_allowed(status_code: int) -> bool:
	"""System Settings ``allow_error_traceback`` (off on a new site), unless the request disabled tracebacks
	(a CSRF failure does); a 404 shows one only with site config ``logging``."""
	return bool(
		_allow_error_traceback()
		and not frappe.local.flags.disable_traceback
		and (status_code != 404 or frappe.local.conf.get("logging"))
	)


def _allow_error_traceback() -> bool:
	return (
		bool(frappe.get_system_settings("allow_error_traceback"))
		if getattr(frappe.local, "db", None)
		else False
	)


def build_response(response_type: str | None = None) -> Response:
	"""Serialise ``frappe.local.response`` as its ``type`` (or ``response_type``) says."""
	response = frappe.local.response
	if "docs" in response and not response.get("docs"):
		del response["docs"]
	builders = {"json": as_json, "redirect": redirect, "page": as_page}
	return builders[response.get("type") or response_type]()


def as_json() -> Response:
	"""JSON response with status ``response.http_status_code`` (removed from the body) or 200."""
	make_logs()
	body = frappe.local.response
	response = Response()
	if body.get("http_status_code"):
		response.status_code = body.pop("http_status_code")
	response.mimetype = "application/json"
	response.data = json.dumps(body, default=json_handler, separators=(",", ":"))
	return response


def make_logs() -> None:
	"""Attach the message / debug logs to the response in the format of the API version."""
	response = frappe.local.response
	message_log = getattr(frappe.local, "message_log", None) or []
	debug_log = getattr(frappe.local, "debug_log", None) or []
	error_log = getattr(frappe.local, "error_log", None) or []
	if error_log and _allow_error_traceback():
		response["exc"] = json.dumps([str(entry["exc"]) for entry in error_log])
	if message_log:
		response["_server_messages"] = json.dumps([json.dumps(_plain(m)) for m in message_log])
	if debug_log:
		response["_debug_messages"] = json.dumps(debug_log)
	if frappe.local.flags.error_message:
		response["_error_message"] = frappe.local.flags.error_message


def _plain(message: Any) -> Any:
	return dict(message) if isinstance(message, dict) else message


def json_handler(obj: Any) -> Any:
	"""``json.dumps`` default: the conversions Frappe applies to values it sends over HTTP."""
	if isinstance(obj, datetime.date | datetime.datetime | datetime.time):
		return str(obj)
	if isinstance(obj, datetime.timedelta):
		return _format_timedelta(obj)
	if isinstance(obj, decimal.Decimal):
		return float(obj)
	if isinstance(obj, LocalProxy):
		return str(obj)
	if hasattr(obj, "as_dict") and callable(obj.as_dict):
		# a Document (BaseDocument) serialises as its dict without nulls
		try:
			return obj.as_dict(no_nulls=True)
		except TypeError:
			return obj.as_dict()
	if isinstance(obj, Iterable):
		return list(obj)
	if isinstance(obj, Match):
		return obj.string
	if type(obj) is type or isinstance(obj, Exception) or callable(obj):
		return repr(obj)
	if isinstance(obj, uuid.UUID):
		return str(obj)
	if hasattr(obj, "__value__"):
		return obj.__value__()
	raise TypeError(f"Object of type {type(obj)} with value of {obj!r} is not JSON serializable")


def _format_timedelta(delta: datetime.timedelta) -> str:
	# Frappe prints timedeltas as H:MM:SS[.ffffff] with hours that may exceed 24
	total = delta.total_seconds()
	hours, remainder = divmod(int(total), 3600)
	minutes, seconds = divmod(remainder, 60)
	text = f"{hours}:{minutes:02d}:{seconds:02d}"
	if delta.microseconds:
		text += f".{delta.microseconds:06d}"
	return text


def redirect() -> Response:
	return werkzeug_redirect(frappe.local.response.location)


def as_page() -> Response:
	from frappe.website.serve import get_response

	return get_response(
		frappe.local.response["route"], http_status_code=frappe.local.response.get("http_status_code")
	)
