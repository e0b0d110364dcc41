# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Org Member: a Person's role in an Organization. One row per (person, organization), enforced by a
unique index; only Active memberships grant access (background_jobs/permissions.py)."""

import frappe
from frappe import _
from frappe.model.document import Document


class OrgMember(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		organization: DF.Link
		person: DF.Link
		role: DF.Literal["Owner", "Admin", "Member", "Viewer"]
		status: DF.Literal["Active", "Inactive", "Pending"]
	# end: auto-generated types

	def validate(self) -> None:
		self.validate_unique_membership()

	def validate_unique_membership(self) -> None:
		# The unique index decides under concurrency; this gives the friendly message first.
		filters = {"person": self.person, "organization": self.organization, "name": ["!=", self.name or ""]}
		if frappe.db.get_value("Org Member", filters, "name"):
			frappe.throw(
				_("{0} is already a member of {1}").format(self.person, frappe.bold(self.organization)),
				frappe.UniqueValidationError,
			)


def on_doctype_update() -> None:
	frappe.db.add_unique(
		"Org Member", ["person", "organization"], constraint_name="unique_person_organization"
	)
	frappe.db.add_index("Org Member", ["organization", "status"])
