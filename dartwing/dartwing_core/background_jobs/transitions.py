"""The job status table: which status may follow which.

Contract: pure (no frappe). `ALLOWED` is the only definition of legal transitions (data-model.md,
"Statuses and transitions"); the engine's single status writer calls `check_transition` before its
compare-and-set. Statuses may be given as `JobStatus` or as their plain string values; `None` (or "")
stands for a job that does not exist yet.
"""

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType


class JobStatus(str, Enum):
	SCHEDULED = "Scheduled"  # waits for its run_at (a job for later, or a snoozed job)
	PENDING = "Pending"
	QUEUED = "Queued"
	RUNNING = "Running"
	COMPLETED = "Completed"
	FAILED = "Failed"
	TIMED_OUT = "Timed Out"
	CANCELED = "Canceled"
	DEAD_LETTER = "Dead Letter"

	def __str__(self) -> str:
		return self.value


S = JobStatus

ALLOWED: Mapping[JobStatus | None, frozenset[JobStatus]] = MappingProxyType(
	{
		None: frozenset({S.PENDING, S.SCHEDULED}),
		S.SCHEDULED: frozenset({S.PENDING, S.CANCELED}),
		S.PENDING: frozenset({S.QUEUED, S.CANCELED, S.DEAD_LETTER}),
		S.QUEUED: frozenset({S.PENDING, S.RUNNING, S.CANCELED, S.DEAD_LETTER}),
		S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.TIMED_OUT, S.CANCELED, S.DEAD_LETTER, S.SCHEDULED}),
		S.FAILED: frozenset({S.PENDING, S.CANCELED, S.DEAD_LETTER}),
		S.TIMED_OUT: frozenset({S.PENDING, S.CANCELED, S.DEAD_LETTER}),
		S.CANCELED: frozenset({S.PENDING}),
		S.DEAD_LETTER: frozenset({S.PENDING}),
		S.COMPLETED: frozenset(),
	}
)

# The named status sets: every module (and, through the server, the desk and monitor JS) uses these.
# Canceled and Dead Letter are final unless a person retries them.
FINAL = frozenset({S.COMPLETED, S.CANCELED, S.DEAD_LETTER})
ACTIVE = frozenset({S.PENDING, S.QUEUED, S.RUNNING})
CANCELABLE = frozenset({S.SCHEDULED, S.PENDING, S.QUEUED, S.RUNNING, S.FAILED, S.TIMED_OUT})
RETRYABLE_BY_USER = frozenset({S.FAILED, S.TIMED_OUT, S.CANCELED, S.DEAD_LETTER})
WAITING = frozenset({S.PENDING, S.QUEUED})  # counted against the queued cap (Scheduled is not: D17)
SLOT_HOLDING = frozenset({S.QUEUED, S.RUNNING})  # counted against the running cap
FAILURE = frozenset({S.FAILED, S.TIMED_OUT, S.DEAD_LETTER})  # an attempt that did not succeed
RETRY_WAITING = frozenset({S.FAILED, S.TIMED_OUT})  # failed, a retry may be scheduled
PARENT_FAILED_FOR_GOOD = frozenset({S.CANCELED, S.DEAD_LETTER})  # its dependents can never run
# Display order (the desk chart, the monitor): the table's order, from waiting to ended.
ORDER = tuple(JobStatus)


def status_tuple(statuses: frozenset[JobStatus]) -> tuple[str, ...]:
	"""A status set as sorted plain strings, for SQL parameters (``IN %(statuses)s``)."""
	return tuple(sorted(status.value for status in statuses))


class InvalidTransition(ValueError):
	"""A status change the table does not allow (or a status that does not exist)."""

	def __init__(self, from_status: JobStatus | str | None, to_status: JobStatus | str | None) -> None:
		self.from_status = from_status
		self.to_status = to_status
		super().__init__(_describe(from_status, to_status))


def _describe(from_status: JobStatus | str | None, to_status: JobStatus | str | None) -> str:
	try:
		origin = as_status(from_status)
	except ValueError:
		return f"Unknown job status {from_status!r}"
	target = to_status.value if isinstance(to_status, JobStatus) else to_status
	allowed = ", ".join(sorted(s.value for s in ALLOWED[origin])) or "nothing (it is final)"
	source = f"'{origin.value}'" if origin else "a new job"
	return f"Cannot move a job from {source} to '{target}'; allowed: {allowed}"


def as_status(value: JobStatus | str | None) -> JobStatus | None:
	"""Normalise a status given as enum, string or None ("" means no status yet)."""
	if value is None or value == "":
		return None
	try:
		return JobStatus(value)
	except ValueError:
		raise ValueError(f"Unknown job status {value!r}") from None


def is_allowed(from_status: JobStatus | str | None, to_status: JobStatus | str | None) -> bool:
	try:
		origin, target = as_status(from_status), as_status(to_status)
	except ValueError:
		return False
	return target is not None and target in ALLOWED[origin]


def check_transition(from_status: JobStatus | str | None, to_status: JobStatus | str | None) -> None:
	"""Raise InvalidTransition unless the table allows from_status → to_status."""
	if not is_allowed(from_status, to_status):
		raise InvalidTransition(from_status, to_status)
