"""Error Log: one recorded failure; mirrors ``frappe/core/doctype/error_log/error_log.py``.

Contract: rows are written by ``frappe.log_error``; ``clear_old_logs(days)`` purges old rows.
"""

import frappe
from frappe.model.document import Document


class ErrorLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		error: DF.Code | None
		method: DF.Data | None
		reference_doctype: DF.Data | None
		reference_name: DF.Data | None
		seen: DF.Check
		trace_id: DF.Data | None
	# end: auto-generated types

	@staticmethod
	def clear_old_logs(days: int = 30) -> None:
		frappe.db.sql("delete from `tabError Log` where creation < (now() - interval %s day)", (int(days),))
