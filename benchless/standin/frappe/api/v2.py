"""API v2 RPC route: ``/api/v2/method/<cmd>``.

Mirrors the RPC part of ``frappe/api/v2.py`` (Frappe 15): the same resolution checks as v1
(``get_attr``, ``is_whitelisted``, ``is_valid_http_method``), then ``frappe.call``; the result is returned
and ``frappe.api.handle`` stores it under ``data``. ``/api/v2/method/logout`` logs out. Document routes
are not implemented.
"""

from werkzeug.routing import Rule

import frappe


def handle_rpc_call(method: str):
	"""Run the whitelisted ``method`` and return its result (body ``{"data": result}``)."""
	from frappe.handler import resolve_whitelisted_method

	frappe.local.form_dict.cmd = method
	if method == "logout":
		frappe.local.login_manager.logout()
		return None
	function = resolve_whitelisted_method(method)
	form_dict = dict(frappe.local.form_dict)
	form_dict.pop("cmd", None)
	return frappe.call(function, **form_dict)


url_rules = [
	Rule("/method/<path:method>", endpoint=handle_rpc_call),
]
