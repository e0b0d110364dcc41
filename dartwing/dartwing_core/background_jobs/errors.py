"""Every exception of the engine: those handlers raise to steer it, those it raises into handlers, and
those a refused submission raises to its caller.

Contract: needs only Frappe's exception classes (``frappe.exceptions``: no site, no database), so the
pure modules that use it stay testable without either. `TransientError` asks for a retry (optionally
not before `retry_after` seconds), `PermanentError` sends the job to Dead Letter at once. `JobCanceled`
and `JobTimedOut` are raised inside a running handler by the engine; they derive from Exception, not
JobError, so a handler's `except JobError` never swallows them. The admission errors derive from
`frappe.ValidationError` and carry the HTTP status Frappe answers with.
"""

from frappe.exceptions import ValidationError


class JobError(Exception):
	"""Base of the errors a handler raises on purpose."""


class TransientError(JobError):
	"""The failure may go away: retry by the Job Type's policy."""

	def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
		super().__init__(message)
		if retry_after is not None and retry_after < 0:
			raise ValueError("retry_after cannot be negative")
		self.retry_after = retry_after


class PermanentError(JobError):
	"""Retrying cannot help (bad input, missing record): dead-letter the job now."""


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
