# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Background Job Dependency: a parent job that must complete before its dependent may run."""

import frappe
from frappe.model.document import Document


class BackgroundJobDependency(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		depends_on: DF.Link
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
	# end: auto-generated types

	pass


def on_doctype_update() -> None:
	# Finding a job's dependents when it completes or dies.
	frappe.db.add_index("Background Job Dependency", ["depends_on"])
