"""Comment: a note on a document's timeline; mirrors ``frappe/core/doctype/comment/comment.py``.

Contract: rows are written by ``Document.add_comment`` (ignore_permissions), the fields Frappe 15's
Comment has for that call; no notifications, no realtime timeline updates (no desk here). The
reference fields are Data here (Frappe: Link DocType / Dynamic Link): benchless keeps no DocType table.
"""

from frappe.model.document import Document


class Comment(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		comment_by: DF.Data | None
		comment_email: DF.Data | None
		comment_type: DF.Literal["Comment", "Like", "Info"]
		content: DF.HTMLEditor | None
		reference_doctype: DF.Data | None
		reference_name: DF.Data | None
	# end: auto-generated types
