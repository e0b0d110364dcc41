# Copyright (c) 2025, Dartwing and contributors
# For license information, please see license.txt
"""Job Type: what a job runs and the policy it runs under (timeouts, retries, backoff, limits, queue).

Contract: a saved Job Type always has a handler that imports to a callable and every number inside the
bounds of background_jobs/config.py, so the engine can trust the row without re-checking it. Empty
numbers take the config defaults. The retry policy is built from this row by retry.RetryPolicy.
"""

import re

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt, get_datetime, now_datetime

from dartwing.dartwing_core.background_jobs import config

DOTTED_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

# Field → config default, applied when a value is left empty.
DEFAULTS = {
	"timeout_seconds": config.DEFAULT_TIMEOUT_SECONDS,
	"max_retries": config.DEFAULT_MAX_RETRIES,
	"backoff_base_seconds": config.DEFAULT_BACKOFF_BASE_SECONDS,
	"backoff_factor": config.DEFAULT_BACKOFF_FACTOR,
	"backoff_max_seconds": config.DEFAULT_BACKOFF_MAX_SECONDS,
	"backoff_jitter": config.DEFAULT_BACKOFF_JITTER,
	"dedup_window_seconds": config.DEFAULT_DEDUP_WINDOW_SECONDS,
	"rate_limit_count": config.DEFAULT_RATE_LIMIT_COUNT,
	"rate_limit_window_seconds": config.DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
	"max_queued_per_org": config.DEFAULT_MAX_QUEUED_PER_ORG,
	"max_running_per_org": config.DEFAULT_MAX_RUNNING_PER_ORG,
	"max_snoozes": config.DEFAULT_MAX_SNOOZES,
	"max_running_global": 0,
	"rate_limit_starts": 0,
	"rate_limit_starts_window_seconds": config.DEFAULT_START_RATE_WINDOW_SECONDS,
}

FLOAT_FIELDS = frozenset({"backoff_base_seconds", "backoff_factor", "backoff_max_seconds", "backoff_jitter"})

# Field → (minimum, maximum or None). The rate window has its own message (see validate_rate_limit).
INT_BOUNDS = {
	"timeout_seconds": (1, config.MAX_TIMEOUT_SECONDS),
	"max_retries": (0, config.MAX_RETRIES_LIMIT),
	"dedup_window_seconds": (0, config.MAX_DEDUP_WINDOW_SECONDS),
	"rate_limit_count": (0, None),
	"max_queued_per_org": (1, None),
	"max_running_per_org": (1, None),
	"max_snoozes": (0, config.MAX_SNOOZES_LIMIT),
	"max_running_global": (0, config.MAX_RUNNING_GLOBAL_LIMIT),
	"rate_limit_starts": (0, config.MAX_RATE_LIMIT_STARTS),
	"rate_limit_starts_window_seconds": (1, config.MAX_START_RATE_WINDOW_SECONDS),
}

QUEUE_OPTIONS = ("", *config.QUEUES)


class JobType(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		backoff_base_seconds: DF.Float
		backoff_factor: DF.Float
		backoff_jitter: DF.Float
		backoff_max_seconds: DF.Float
		dedup_window_seconds: DF.Int
		default_priority: DF.Literal["Low", "Normal", "High", "Critical"]
		description: DF.SmallText | None
		enabled: DF.Check
		handler: DF.Data
		job_type_name: DF.Data
		max_queued_per_org: DF.Int
		max_retries: DF.Int
		max_running_global: DF.Int
		max_running_per_org: DF.Int
		max_snoozes: DF.Int
		paused: DF.Check
		paused_at: DF.Datetime | None
		paused_by: DF.Link | None
		queue: DF.Literal["", "short", "default", "long"]
		rate_limit_count: DF.Int
		rate_limit_starts: DF.Int
		rate_limit_starts_window_seconds: DF.Int
		rate_limit_window_seconds: DF.Int
		required_permission: DF.Data | None
		timeout_seconds: DF.Int
		unknown_error_policy: DF.Literal["Retry", "Fail"]
	# end: auto-generated types

	def before_validate(self) -> None:
		self.set_missing_defaults()

	def validate(self) -> None:
		self.validate_handler()
		self.validate_int_bounds()
		self.validate_rate_limit()
		self.validate_backoff()
		self.validate_required_permission()
		self.validate_queue()
		self.validate_pause()

	def on_update(self) -> None:
		# A cap raised, a limit lifted or a type resumed may let waiting jobs start: wake them after commit.
		from dartwing.dartwing_core.background_jobs import dispatcher

		dispatcher.schedule_job_type(self.name)

	def set_missing_defaults(self) -> None:
		# Frappe casts numbers only after validate(); cast here so the bound checks compare numbers.
		for fieldname, default in DEFAULTS.items():
			value = self.get(fieldname)
			value = default if value in (None, "") else value
			self.set(fieldname, flt(value) if fieldname in FLOAT_FIELDS else cint(value))
		self.default_priority = self.default_priority or config.DEFAULT_PRIORITY
		self.unknown_error_policy = self.unknown_error_policy or "Retry"

	def validate_handler(self) -> None:
		self.handler = (self.handler or "").strip()
		if not DOTTED_PATH.match(self.handler):
			frappe.throw(
				_("Handler must be a dotted path to a function, like {0}").format("dartwing.demo.demo_noop")
			)
		try:
			handler = frappe.get_attr(self.handler)
		except Exception as e:
			frappe.throw(_("Handler {0} cannot be imported: {1}").format(frappe.bold(self.handler), e))
		if not callable(handler):
			frappe.throw(_("Handler {0} is not a function").format(frappe.bold(self.handler)))

	def validate_int_bounds(self) -> None:
		for fieldname, (low, high) in INT_BOUNDS.items():
			value = self.get(fieldname)
			label = _(self.meta.get_field(fieldname).label)
			if high is None and value < low:
				frappe.throw(_("{0} must be at least {1}").format(label, low))
			if high is not None and not low <= value <= high:
				frappe.throw(_("{0} must be between {1} and {2}").format(label, low, high))

	def validate_rate_limit(self) -> None:
		if self.rate_limit_window_seconds < 1:
			frappe.throw(_("Rate limit window must be at least 1 second"))
		if self.rate_limit_window_seconds > config.MAX_RATE_LIMIT_WINDOW_SECONDS:
			frappe.throw(_("Rate limit window cannot exceed 24 hours"))

	def validate_backoff(self) -> None:
		if self.backoff_base_seconds <= 0:
			frappe.throw(_("Backoff base must be greater than 0 seconds"))
		if self.backoff_factor < 1:
			frappe.throw(_("Backoff factor must be at least 1"))
		if self.backoff_max_seconds < self.backoff_base_seconds:
			frappe.throw(_("Backoff maximum cannot be less than the backoff base"))
		if not 0 <= self.backoff_jitter <= 1:
			frappe.throw(_("Backoff jitter must be between 0 and 1"))

	def validate_required_permission(self) -> None:
		self.required_permission = (self.required_permission or "").strip()
		if not self.required_permission:
			return
		try:
			frappe.get_meta(self.required_permission)
		except Exception:
			frappe.throw(
				_("Required Permission must name an existing DocType; {0} does not exist").format(
					frappe.bold(self.required_permission)
				)
			)

	def validate_pause(self) -> None:
		"""A saved type's pause changes only through pauses.py, which records who and when (a REST PUT or
		an import cannot pause or resume it unaudited); a new type may start paused: by whoever creates it."""
		if self.is_new():
			paused = cint(self.paused)
			self.paused = paused
			self.paused_by, self.paused_at = (frappe.session.user, now_datetime()) if paused else (None, None)
			return
		before = self.get_doc_before_save()
		if before is not None and _pause_of(self) != _pause_of(before):
			frappe.throw(
				_(
					"Pause and resume a Job Type with its Pause / Resume buttons ({0}), which record who and when"
				).format("dartwing.jobs.pause_job_type / resume_job_type"),
				frappe.ValidationError,
			)

	def after_insert(self) -> None:
		if self.paused:
			self.add_comment(
				"Info", _("Created paused by {0}: no job of this type starts").format(self.paused_by)
			)

	def validate_queue(self) -> None:
		if (self.queue or "") not in QUEUE_OPTIONS:
			frappe.throw(_("Queue must be empty, short, default or long"))


def _pause_of(doc: Document) -> tuple:
	"""The pause fields as comparable values (a form or REST body sends the moment as text)."""
	moment = doc.paused_at
	if moment:
		try:
			moment = get_datetime(moment).replace(microsecond=0)
		except Exception:
			moment = ("unreadable", str(moment))  # differs from any stored moment
	return (cint(doc.paused), doc.paused_by or None, moment or None)
