"""Every exception of the engine: those handlers raise to steer it, those it raises into handlers, and
those a refused submission raises to its caller.

Contract: needs only Frappe's exception classes (``frappe.exceptions``: no site, no database), so the
pure modules that use it stay testable without either. `TransientError` asks for a retry (with
`retry_after`: at that time instead of the backoff; it still spends a retry), `PermanentError` sends
the job to Dead Letter at once, `Snooze` puts it back to wait without spending a retry. Their seconds
are checked when they are made (finite, > 0, bounded by config): a bad value is a ValueError in the
handler, which dead-letters the job with that message. `JobCanceled`, `JobTimedOut` and `Snooze`
derive from Exception, not JobError, so a handler's `except JobError` never swallows them. The admission errors derive from
`frappe.ValidationError` and carry the HTTP status Frappe answers with.
"""

import math

from frappe.exceptions import ValidationError

from dartwing.dartwing_core.background_jobs import config


class JobError(Exception):
	"""Base of the errors a handler raises on purpose."""


class TransientError(JobError):
	"""The failure may go away: retry by the Job Type's policy."""

	def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
		super().__init__(message)
		self.retry_after = (
			None
			if retry_after is None
			else checked_seconds("retry_after", retry_after, config.MAX_RETRY_AFTER_SECONDS)
		)


class PermanentError(JobError):
	"""Retrying cannot help (bad input, missing record): dead-letter the job now."""


class Snooze(Exception):
	"""Not now: wait ``seconds`` (Scheduled), then run again; spends no retry and is no failure."""

	def __init__(self, seconds: float, reason: str = "") -> None:
		self.seconds = checked_seconds("seconds", seconds, config.MAX_SNOOZE_SECONDS)
		self.reason = str(reason or "")[:500]
		super().__init__(self.reason or f"snoozed for {self.seconds:g} s")


def checked_seconds(name: str, value: object, maximum: float) -> float:
	"""A finite number of seconds in (0, maximum], or ValueError naming ``name``."""
	if isinstance(value, bool) or not isinstance(value, int | float):
		raise ValueError(f"{name} must be a number of seconds, not {type(value).__name__}")
	try:
		seconds = float(value)
	except OverflowError:  # an int beyond any float (10**400)
		seconds = math.inf
	seconds = seconds if math.isfinite(seconds) else math.nan
	if not 0 < seconds <= maximum:
		raise ValueError(f"{name} must be more than 0 and at most {maximum:g} seconds, not {value!r}")
	return seconds


class SnoozeLimitReached(PermanentError):
	"""The job snoozed as often as its Job Type allows (``max_snoozes``): a person must look at it."""


class JobCanceled(Exception):
	"""Raised by `ctx.checkpoint()` when someone canceled the running job."""


class JobTimedOut(Exception):
	"""Raised in the handler when it outlives its Job Type's timeout."""


class WorkerLost(TransientError):
	"""The worker running the job stopped heartbeating (killed, crashed, host lost)."""


class TooManyJobs(ValidationError):
	"""The Job Type's submission rate limit for the organization is reached."""

	http_status_code = 429


class QueueFull(ValidationError):
	"""The organization already has the Job Type's cap of waiting jobs."""

	http_status_code = 429


class JobSubmissionUnavailable(ValidationError):
	"""The queue service cannot be reached; nothing was written. Try again later."""

	http_status_code = 503
