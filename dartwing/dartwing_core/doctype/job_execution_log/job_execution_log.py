# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Job Execution Log: one row per status change of a Background Job (who, when, why, which attempt).

Contract: rows are written only by the engine's transition function, never edited. `clear_old_logs`
is the retention entry point (as Frappe's own log doctypes have), deleting in short batches.
"""

import frappe
from frappe.model.document import Document
from frappe.utils import add_days, now_datetime

from dartwing.dartwing_core.background_jobs import config
from dartwing.dartwing_core.background_jobs.transitions import FINAL, status_tuple

FINAL_STATUSES = status_tuple(FINAL)


class JobExecutionLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		actor: DF.Link | None
		attempt: DF.Int
		from_status: DF.Data | None
		job: DF.Link
		message: DF.SmallText | None
		organization: DF.Link | None
		timestamp: DF.Datetime | None
		to_status: DF.Data | None
		worker: DF.Data | None
	# end: auto-generated types

	def before_insert(self) -> None:
		self.timestamp = self.timestamp or now_datetime()

	@staticmethod
	def clear_old_logs(days: int = config.RETENTION_DAYS) -> int:
		"""Delete log rows older than `days` days whose job is gone or ended before then, in batches.

		A job's history stays complete while the job is kept: rows of retained jobs are never touched.
		Returns how many rows were deleted.
		"""
		cutoff = add_days(now_datetime(), -days)
		deleted = 0
		while True:
			names = frappe.db.sql_list(
				"""select log.name from `tabJob Execution Log` log
				left join `tabBackground Job` job on job.name = log.job
				where log.`timestamp` < %(cutoff)s
					and (job.name is null or (job.status in %(final)s and job.completed_at < %(cutoff)s))
				limit %(limit)s""",
				{"cutoff": cutoff, "final": FINAL_STATUSES, "limit": config.PURGE_BATCH_SIZE},
			)
			if not names:
				return deleted
			frappe.db.sql(
				"delete from `tabJob Execution Log` where name in %(names)s", {"names": tuple(names)}
			)
			frappe.db.commit()  # one short transaction per batch
			deleted += len(names)


def on_doctype_update() -> None:
	frappe.db.add_index("Job Execution Log", ["job", "timestamp"])
	frappe.db.add_index("Job Execution Log", ["timestamp"])
