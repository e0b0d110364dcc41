# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Job Metrics Rollup: jobs counted by creation hour (and day), organization, job type and status, with a
duration histogram of the Completed ones (data-model.md).

Contract: rows are written only by the engine (``background_jobs.metrics_rollup``: in the transaction of
every status change, and by the migrate backfill), never by people; the primary key is the row's key
(period, start hour, and an MD5 of organization, job type, status and failed hour), so a time range is a
key range. Members read their organizations' rows (the tenancy rule of permissions.py); only System
Managers see every row.
"""

import frappe
from frappe.model.document import Document


class JobMetricsRollup(Document):
	pass


def on_doctype_update() -> None:
	from dartwing.dartwing_core.background_jobs import metrics_rollup

	# One organization's hours: its rows, then the primary key's time order (InnoDB appends the key).
	frappe.db.add_index("Job Metrics Rollup", ["organization"])
	# The counts of the rows that are not Completed, without their 72 histogram columns (covering).
	frappe.db.add_index(
		"Job Metrics Rollup", list(metrics_rollup.COUNTS_INDEX), metrics_rollup.COUNTS_INDEX_NAME
	)
