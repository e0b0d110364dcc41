# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Background Job: one submitted unit of work and its execution state.

Contract: this controller never writes `status` (nor any execution field): the engine's single transition
function is the only writer, with a compare-and-set in SQL. The controller only checks what a submitter
controls (parameters; Select options are checked by Frappe) and declares the indexes every engine and API query is served by.
On load in the desk form it tells the form whether the user may cancel or retry the job (``can_manage`` in
``__onload``, from ``permissions.may_manage``) and whether they may edit and retry a dead letter
(``can_repair``: System Managers).
"""

import json

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.background_jobs import config, gates, metrics, permissions, state


class BackgroundJob(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from dartwing.dartwing_core.doctype.background_job_dependency.background_job_dependency import (
			BackgroundJobDependency,
		)

		attempts: DF.JSON | None
		batch: DF.Link | None
		budget_start: DF.Int
		cancel_requested: DF.Check
		canceled_at: DF.Datetime | None
		canceled_by: DF.Link | None
		completed_at: DF.Datetime | None
		dedup_key: DF.Data | None
		depends_on: DF.Table[BackgroundJobDependency]
		enqueued_at: DF.Datetime | None
		error_message: DF.Text | None
		error_traceback: DF.Code | None
		error_type: DF.Data | None
		heartbeat_at: DF.Datetime | None
		job_type: DF.Link
		max_retries: DF.Int
		next_retry_at: DF.Datetime | None
		organization: DF.Link
		output_reference: DF.Data | None
		parameters: DF.JSON | None
		params_hash: DF.Data | None
		priority: DF.Literal["Low", "Normal", "High", "Critical"]
		progress: DF.Percent
		progress_message: DF.Data | None
		queue: DF.Data | None
		result: DF.JSON | None
		retry_count: DF.Int
		rq_job_id: DF.Data | None
		run_at: DF.Datetime | None
		schedule: DF.Link | None
		started_at: DF.Datetime | None
		status: DF.Literal[
			"Scheduled",
			"Pending",
			"Queued",
			"Running",
			"Completed",
			"Failed",
			"Timed Out",
			"Canceled",
			"Dead Letter",
		]
		submitted_by: DF.Link | None
		timeout_seconds: DF.Int
		worker: DF.Data | None
	# end: auto-generated types

	def onload(self) -> None:
		# Cancel / Retry follow the engine's rule (the API applies it again), not the role's write right
		self.set_onload(
			"can_manage", permissions.may_manage(self.organization, self.submitted_by or self.owner)
		)
		# Edit and Retry of a dead letter is the dead letter queue's admins' (dead_letter.py checks again)
		self.set_onload("can_repair", permissions.is_unrestricted())
		# why it has not started yet: the same answer as get_job_status (gates.waiting_for)
		self.set_onload("waiting_for", gates.waiting_for(self.as_dict()))

	def before_insert(self) -> None:
		# A job begins through the engine (admission, its first log row and counts, dispatch), never as a
		# bare document: a REST POST or an import would make a job nothing runs, logs or counts.
		permissions.refuse_unless_engine(self, "dartwing.jobs.submit_job")

	def validate(self) -> None:
		self.validate_parameters()

	def validate_parameters(self) -> None:
		if self.flags.parameters_validated:  # submit_job checked (and measured) them already
			return
		parameters = self.parameters
		if parameters in (None, ""):
			return
		if isinstance(parameters, str):
			try:
				parameters = json.loads(parameters)
			except ValueError:
				frappe.throw(_("Parameters must be valid JSON"))
		if not isinstance(parameters, dict):
			frappe.throw(_("Parameters must be a JSON object"))
		size = len(json.dumps(parameters, default=str).encode())
		if size > config.MAX_PARAMETERS_BYTES:
			frappe.throw(
				_("Parameters are {0} bytes; the limit is {1} bytes").format(
					size, config.MAX_PARAMETERS_BYTES
				)
			)


# Indexes an earlier version created and a later one replaced (dropped on migrate).
SUPERSEDED_INDEXES = ("status_organization_priority_creation_index",)


def on_doctype_update() -> None:
	# One index per engine/API query shape (data-model.md); dedup_key is unique in the JSON.
	for fields in (
		# dispatch, and the per-organization counts (waiting, running) read from the index alone
		["status", "organization", "job_type", "priority", "creation"],
		["organization", "creation"],  # list_jobs
		["job_type", "organization", "creation"],  # metrics by type
		["status", "next_retry_at"],  # retry sweep
		["status", "heartbeat_at"],  # stale-worker sweep
		["status", "enqueued_at"],  # lost-dispatch sweep: only Queued jobs past the grace are read
		["status", "run_at"],  # due sweep: only the due range is read, however many wait for later
		["schedule", "creation"],  # a schedule's last jobs
		["status", "completed_at"],  # retention, metrics windows
	):
		frappe.db.add_index("Background Job", fields)
	# a batch's counts and what is left of it (batches.py); named by the statements that lock a batch's jobs
	frappe.db.add_index("Background Job", list(state.BATCH_INDEX), index_name=state.BATCH_INDEX_NAME)
	# Covering index for metrics over a time window: counts, durations and failures per job type
	# are read from the index alone (benchmarks/README.md, "Metrics at 1,000,000 jobs").
	frappe.db.add_index("Background Job", list(metrics.METRICS_INDEX), index_name=metrics.METRICS_INDEX_NAME)
	for index_name in SUPERSEDED_INDEXES:
		if frappe.db.has_index("tabBackground Job", index_name):
			frappe.db.sql_ddl(f"ALTER TABLE `tabBackground Job` DROP INDEX `{index_name}`")
