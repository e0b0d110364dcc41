"""Role: a named permission role; mirrors ``frappe/core/doctype/role/role.py``.

Contract: the standard roles (Administrator, System Manager, Guest, All) cannot be renamed or deleted.
"""

import frappe
from frappe import _
from frappe.model.document import Document

STANDARD_ROLES = ("Administrator", "System Manager", "Guest", "All")


class Role(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		desk_access: DF.Check
		disabled: DF.Check
		role_name: DF.Data
	# end: auto-generated types

	def on_trash(self) -> None:
		if self.name in STANDARD_ROLES:
			frappe.throw(_("Standard roles cannot be deleted"), frappe.PermissionError)

	def on_update(self) -> None:
		# Administrator's role list is "every Role": cached lists are stale now
		frappe.clear_cache()
