"""API v1 RPC route: ``/api/method/<cmd>`` (also ``/api/v1/method/<cmd>``).

Mirrors ``frappe/api/v1.py`` (Frappe 15): the dotted path becomes ``frappe.form_dict.cmd`` and
``frappe.handler.handle()`` runs it; the result lands in ``frappe.response["message"]``.
"""

from werkzeug.routing import Rule

import frappe


def handle_rpc_call(method: str):
	"""Run the whitelisted ``method``; the handler stores its result in ``frappe.response``."""
	import frappe.handler

	method = method.split("/")[0]  # a trailing /path is ignored, as in Frappe
	frappe.local.form_dict.cmd = method
	return frappe.handler.handle()


url_rules = [
	Rule("/method/<path:method>", endpoint=handle_rpc_call),
]
