# Copyright (c) 2026, Dartwing and contributors
# For license information, please see license.txt
"""Background Job Batch: the jobs one ``submit_jobs`` call made, and what became of them.

Contract: the engine (``engine.submit_jobs``, ``batches``) is the only writer; the controller refuses
any insert the engine did not flag (``permissions.refuse_unless_engine``), and adds nothing else. Counts are refreshed by the batch bookkeeping after its jobs end; ``get_batch`` counts live.
"""

import frappe
from frappe.model.document import Document

from dartwing.dartwing_core.background_jobs import permissions


class BackgroundJobBatch(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		callback_error: DF.SmallText | None
		callback_job: DF.Link | None
		cancel_requested: DF.Check
		canceled: DF.Int
		canceled_by: DF.Link | None
		completed: DF.Int
		created_by: DF.Link | None
		ended: DF.Int
		ended_at: DF.Datetime | None
		failed: DF.Int
		job_type: DF.Link
		on_complete: DF.Link | None
		organization: DF.Link
		progress: DF.Percent
		status: DF.Literal["Running", "Completed", "Completed with failures", "Canceled"]
		total: DF.Int
	# end: auto-generated types

	def before_insert(self) -> None:
		permissions.refuse_unless_engine(self, "dartwing.jobs.submit_jobs")


def on_doctype_update() -> None:
	frappe.db.add_index("Background Job Batch", ["organization", "creation"])  # list_batches
	frappe.db.add_index("Background Job Batch", ["status", "modified"])  # the reconciling sweep
