"""``frappe.log_error``: mirrors ``frappe/utils/error.py`` (Frappe 15).

Contract: inserts an ``Error Log`` row (method = title, error = traceback or message) in the caller's
transaction with ignore_permissions and returns it; without a database it prints and returns None.
"""

from typing import Any

import frappe


def log_error(
	title: str | None = None,
	message: str | None = None,
	reference_doctype: str | None = None,
	reference_name: str | None = None,
	*,
	defer_insert: bool = False,
) -> Any:
	"""Record an Error Log; the traceback of the exception being handled is used when no message."""
	traceback = None
	if message:
		if title and "\n" in title:
			# called the old way, log_error(traceback, title): swap them as Frappe does
			traceback, title = title, message
		else:
			traceback = message
	title = title or "Error"
	traceback = frappe.as_unicode(traceback or frappe.get_traceback(with_context=True))

	if not frappe.db:
		print(f"Failed to log error in db: {title}")
		return None

	error_log = frappe.get_doc(
		doctype="Error Log",
		error=traceback,
		method=title,
		reference_doctype=reference_doctype,
		reference_name=reference_name,
	)
	# benchless has no deferred-insert queue: the row is written now, the caller just gets None
	error_log.insert(ignore_permissions=True)
	if frappe.flags.read_only or defer_insert:
		return None
	return error_log
