# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Person: the bridge from a login (User) to memberships. Exactly one Person per User."""

import frappe
from frappe import _
from frappe.model.document import Document


class Person(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		full_name: DF.Data | None
		user: DF.Link
	# end: auto-generated types

	def validate(self) -> None:
		self.validate_unique_user()
		self.set_full_name()

	def validate_unique_user(self) -> None:
		# The unique index is the guarantee; this gives the friendly message first.
		existing = frappe.db.get_value("Person", {"user": self.user, "name": ["!=", self.name or ""]}, "name")
		if existing:
			frappe.throw(
				_("User {0} already has a Person ({1})").format(frappe.bold(self.user), existing),
				frappe.UniqueValidationError,
			)

	def set_full_name(self) -> None:
		if not self.full_name and self.user:
			self.full_name = frappe.db.get_value("User", self.user, "full_name") or self.user
