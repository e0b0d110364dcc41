# Copyright (c) 2026, Dartwing and contributors
# For license information, please see license.txt
"""Job Schedule: a recurring job of one organization (cron expression, time zone, parameters).

Contract: a saved schedule has a valid five-field cron expression, a known time zone (the site's when
left empty), a catch-up policy and a JSON object as parameters, and it was saved by someone who may
submit its Job Type in its organization (``background_jobs.schedules.check_may_schedule``). The engine
owns ``next_run_at``, ``last_run_at``, ``last_job``, ``schedule_status`` and ``status_reason``: a save
keeps their stored values (read under a row lock, so a save can never put back an occurrence the
scheduler has just claimed), except that a changed cron expression, time zone or re-enabling sets the
next occurrence after now. Jobs are submitted as the schedule's owner, re-checked at each occurrence.
"""

import frappe
from frappe import _
from frappe.model.document import Document

from dartwing.dartwing_core.background_jobs import schedules

ENGINE_FIELDS = ("next_run_at", "last_run_at", "last_job", "schedule_status", "status_reason")


class JobSchedule(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		catch_up: DF.Literal["Run once", "Skip missed"]
		cron_expression: DF.Data
		description: DF.SmallText | None
		enabled: DF.Check
		job_type: DF.Link
		last_job: DF.Link | None
		last_run_at: DF.Datetime | None
		next_run_at: DF.Datetime | None
		organization: DF.Link
		parameters: DF.JSON | None
		priority: DF.Literal["", "Low", "Normal", "High", "Critical"]
		schedule_status: DF.Literal["Active", "Paused", "Not submitted", "Disabled"]
		status_reason: DF.SmallText | None
		time_zone: DF.Data | None
	# end: auto-generated types

	def validate(self) -> None:
		self.validate_timing()
		self.validate_parameters()
		schedules.check_may_schedule(
			self.organization, self.job_type, owner=self.owner if not self.is_new() else None
		)
		self.keep_engine_fields()
		self.set_next_run_at()

	def validate_timing(self) -> None:
		try:
			self.cron_expression = schedules.scheduling.validate_cron(self.cron_expression)
			self.time_zone = schedules.scheduling.validate_time_zone(
				self.time_zone or schedules.site_time_zone()
			)
		except ValueError as exc:
			frappe.throw(str(exc), frappe.ValidationError, title=_("Invalid schedule"))
		if self.catch_up not in schedules.scheduling.CATCH_UP_POLICIES:
			frappe.throw(
				_("Catch-up must be one of {0}").format(", ".join(schedules.scheduling.CATCH_UP_POLICIES)),
				frappe.ValidationError,
			)

	def validate_parameters(self) -> None:
		self.parameters = schedules.parameters_json(self.parameters)

	def keep_engine_fields(self) -> None:
		if self.is_new():
			return
		stored = frappe.db.get_value(
			self.doctype, self.name, list(ENGINE_FIELDS), as_dict=True, for_update=True
		)
		for field in ENGINE_FIELDS:
			self.set(field, stored.get(field) if stored else None)

	def set_next_run_at(self) -> None:
		if not self.enabled:
			self.schedule_status, self.status_reason = "Disabled", ""
			return
		retimed = any(self.has_value_changed(f) for f in ("cron_expression", "time_zone", "enabled"))
		if self.is_new() or retimed or not self.next_run_at:
			self.next_run_at = schedules.upcoming(self, count=1)[0]
			if self.schedule_status == "Disabled" or self.is_new():
				self.schedule_status, self.status_reason = "Active", ""

	def onload(self) -> None:
		"""The desk form shows the next occurrences and the last jobs (computed on the server)."""
		if self.is_new():
			return
		self.set_onload("upcoming", [when.isoformat() for when in schedules.upcoming(self)])
		self.set_onload("recent_jobs", schedules.recent_jobs(self.name))


def on_doctype_update() -> None:
	frappe.db.add_index("Job Schedule", ["enabled", "next_run_at"])  # the due sweep
	frappe.db.add_index("Job Schedule", ["organization", "creation"])  # lists
