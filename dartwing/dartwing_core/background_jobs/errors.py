"""Exceptions handlers raise to steer the engine, and the ones the engine raises into handlers.

Contract: pure (no frappe). `TransientError` asks for a retry (optionally not before `retry_after`
seconds), `PermanentError` sends the job to Dead Letter at once. `JobCanceled` and `JobTimedOut` are
raised inside a running handler by the engine; they derive from Exception, not JobError, so a handler's
`except JobError` never swallows them.
"""


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
