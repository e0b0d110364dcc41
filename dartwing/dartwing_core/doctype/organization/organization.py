# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Organization: the tenant. Only Active organizations grant access and have their jobs dispatched.

Status changes reach the engine through the `doc_events` hook (dispatcher.on_organization_update), so
resuming a suspended organization dispatches its waiting jobs.
"""

import frappe
from frappe import _
from frappe.model.document import Document


class Organization(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		org_name: DF.Data
		org_type: DF.Literal["Company", "Family", "Association", "Nonprofit", "Club", "Other"]
		status: DF.Literal["Active", "Suspended", "Inactive"]
	# end: auto-generated types

	def validate(self) -> None:
		self.validate_org_name()

	def validate_org_name(self) -> None:
		self.org_name = (self.org_name or "").strip()
		if not self.org_name:
			frappe.throw(_("Organization Name is required"), frappe.MandatoryError)
