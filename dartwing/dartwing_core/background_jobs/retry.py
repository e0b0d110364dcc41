"""Retry policy: classify a failure, compute the backoff, decide retry or dead letter.

Contract: pure (no frappe, no imports of PyMySQL, redis or requests): library exceptions are recognised
by walking `type(exc).__mro__` names and modules, so this module is tested without any service and the
decision never depends on which libraries a worker happened to import. `decide` never raises for any
exception it is given; bad policy values raise ValueError when the policy is built.

Backoff follows dramatiq's `compute_backoff`: base * factor**n, capped, then ± a jitter fraction so that
jobs failing together do not retry together.
"""

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from dartwing.dartwing_core.background_jobs import config
from dartwing.dartwing_core.background_jobs.errors import (
	JobCanceled,
	JobTimedOut,
	PermanentError,
	TransientError,
)


class ErrorKind(str, Enum):
	TRANSIENT = "transient"
	PERMANENT = "permanent"

	def __str__(self) -> str:
		return self.value


@dataclass(frozen=True)
class RetryPolicy:
	max_retries: int = config.DEFAULT_MAX_RETRIES
	base_seconds: float = config.DEFAULT_BACKOFF_BASE_SECONDS
	factor: float = config.DEFAULT_BACKOFF_FACTOR
	max_seconds: float = config.DEFAULT_BACKOFF_MAX_SECONDS
	jitter: float = config.DEFAULT_BACKOFF_JITTER
	unknown_is_transient: bool = True

	def __post_init__(self) -> None:
		if not 0 <= self.max_retries <= config.MAX_RETRIES_LIMIT:
			raise ValueError(f"max_retries must be between 0 and {config.MAX_RETRIES_LIMIT}")
		if self.base_seconds <= 0:
			raise ValueError("Backoff base must be greater than 0 seconds")
		if self.factor < 1:
			raise ValueError("Backoff factor must be at least 1")
		if self.max_seconds < self.base_seconds:
			raise ValueError("Backoff maximum cannot be less than the backoff base")
		if not 0 <= self.jitter <= 1:
			raise ValueError("Backoff jitter must be between 0 and 1")

	@property
	def unknown(self) -> ErrorKind:
		return ErrorKind.TRANSIENT if self.unknown_is_transient else ErrorKind.PERMANENT

	@classmethod
	def from_job_type(cls, row: Mapping[str, Any]) -> "RetryPolicy":
		"""Build from a Job Type row (dict or Document); empty fields fall back to config defaults."""

		def value(field: str, default: float) -> Any:
			found = row.get(field)
			return default if found is None or found == "" else found

		return cls(
			max_retries=int(value("max_retries", config.DEFAULT_MAX_RETRIES)),
			base_seconds=float(value("backoff_base_seconds", config.DEFAULT_BACKOFF_BASE_SECONDS)),
			factor=float(value("backoff_factor", config.DEFAULT_BACKOFF_FACTOR)),
			max_seconds=float(value("backoff_max_seconds", config.DEFAULT_BACKOFF_MAX_SECONDS)),
			jitter=float(value("backoff_jitter", config.DEFAULT_BACKOFF_JITTER)),
			unknown_is_transient=(row.get("unknown_error_policy") or "Retry") != "Fail",
		)


def compute_backoff(
	retry_number: int,
	*,
	base: float,
	factor: float,
	max_backoff: float,
	jitter: float,
	rand: Callable[[], float] = random.random,
) -> float:
	"""Seconds to wait before retry number `retry_number` (0 for the first retry); never negative."""
	if retry_number < 0:
		raise ValueError("retry_number cannot be negative")
	try:
		delay = min(base * factor**retry_number, max_backoff)
	except OverflowError:  # factor**n beyond float range: the cap applies anyway
		delay = max_backoff
	spread = jitter * (2 * rand() - 1)  # uniform in [-jitter, +jitter)
	return max(0.0, float(delay) * (1 + spread))


# Library exceptions by (top-level module, class name), matched anywhere in the exception's MRO.
_LIBRARY_KINDS: Mapping[tuple[str, str], ErrorKind] = {
	("frappe", "RetryBackgroundJobError"): ErrorKind.TRANSIENT,
	("frappe", "QueryDeadlockError"): ErrorKind.TRANSIENT,
	("frappe", "QueryTimeoutError"): ErrorKind.TRANSIENT,
	("frappe", "ValidationError"): ErrorKind.PERMANENT,
	("frappe", "PermissionError"): ErrorKind.PERMANENT,
	("frappe", "DoesNotExistError"): ErrorKind.PERMANENT,
	("frappe", "MandatoryError"): ErrorKind.PERMANENT,
	("frappe", "LinkValidationError"): ErrorKind.PERMANENT,
	("redis", "ConnectionError"): ErrorKind.TRANSIENT,
	("redis", "TimeoutError"): ErrorKind.TRANSIENT,
	("redis", "BusyLoadingError"): ErrorKind.TRANSIENT,
	("requests", "ConnectionError"): ErrorKind.TRANSIENT,
	("requests", "Timeout"): ErrorKind.TRANSIENT,
}

# MariaDB/MySQL error codes that go away by themselves: lock wait timeout, deadlock, can't connect,
# server gone away, lost connection during query, too many connections.
MYSQL_TRANSIENT_CODES = frozenset({1205, 1213, 2003, 2006, 2013, 1040})
_MYSQL_CODED_ERRORS = frozenset({"OperationalError", "InternalError"})

# socket.timeout is TimeoutError since Python 3.10; MemoryError is resource exhaustion, worth a retry.
_BUILTIN_TRANSIENT = (ConnectionError, TimeoutError, MemoryError)
_BUILTIN_PERMANENT = (ImportError, AttributeError, TypeError, ValueError, KeyError, PermissionError)


def _own_kind(exc: BaseException) -> ErrorKind | None:
	if isinstance(exc, TransientError | JobTimedOut):
		return ErrorKind.TRANSIENT
	if isinstance(exc, PermanentError | JobCanceled):
		return ErrorKind.PERMANENT
	return None


def _library_kind(exc: BaseException) -> ErrorKind | None:
	for cls in type(exc).__mro__:
		kind = _LIBRARY_KINDS.get((cls.__module__.partition(".")[0], cls.__name__))
		if kind is not None:
			return kind
	return None


def _mysql_kind(exc: BaseException) -> ErrorKind | None:
	coded = any(
		cls.__module__.startswith("pymysql") and cls.__name__ in _MYSQL_CODED_ERRORS
		for cls in type(exc).__mro__
	)
	code = exc.args[0] if coded and exc.args else None
	return ErrorKind.TRANSIENT if code in MYSQL_TRANSIENT_CODES else None


def http_status_of(exc: BaseException) -> int | None:
	"""The HTTP status an exception carries (`http_status`, `status_code` or `response.status_code`)."""
	for holder, attr in (
		(exc, "http_status"),
		(exc, "status_code"),
		(getattr(exc, "response", None), "status_code"),
	):
		status = getattr(holder, attr, None)
		if isinstance(status, int) and not isinstance(status, bool):
			return status
	return None


def _http_kind(exc: BaseException) -> ErrorKind | None:
	status = http_status_of(exc)
	if status is None or status < 400:
		return None
	if status == 429 or status >= 500:
		return ErrorKind.TRANSIENT
	return ErrorKind.PERMANENT


def _builtin_kind(exc: BaseException) -> ErrorKind | None:
	if isinstance(exc, _BUILTIN_TRANSIENT):
		return ErrorKind.TRANSIENT
	if isinstance(exc, _BUILTIN_PERMANENT):
		return ErrorKind.PERMANENT
	return None


# Most specific first: our own errors, named library errors, database codes, HTTP status, builtins.
_PROBES = (_own_kind, _library_kind, _mysql_kind, _http_kind, _builtin_kind)


def classify(exc: BaseException, *, unknown: ErrorKind = ErrorKind.TRANSIENT) -> ErrorKind:
	"""Is this failure worth retrying? `unknown` answers for exceptions no rule recognises."""
	for probe in _PROBES:
		kind = probe(exc)
		if kind is not None:
			return kind
	return unknown


@dataclass(frozen=True)
class RetryDecision:
	kind: ErrorKind
	retry: bool
	next_retry_at: datetime | None
	reason: str


def decide(
	exc: BaseException,
	*,
	retry_count: int,
	policy: RetryPolicy,
	now: datetime,
	rand: Callable[[], float] = random.random,
) -> RetryDecision:
	"""Retry (and when) or give up, for a job that failed after `retry_count` retries had started."""
	kind = classify(exc, unknown=policy.unknown)
	error = type(exc).__name__
	if kind is ErrorKind.PERMANENT:
		return RetryDecision(kind, False, None, f"Permanent error ({error}): not retried")
	if retry_count >= policy.max_retries:
		return RetryDecision(kind, False, None, f"Retries exhausted ({retry_count} of {policy.max_retries})")
	hint = retry_after_of(exc)
	# The failing service said when to come back (a Retry-After): that time, instead of the backoff.
	delay = (
		hint
		if hint is not None
		else compute_backoff(
			retry_count,
			base=policy.base_seconds,
			factor=policy.factor,
			max_backoff=policy.max_seconds,
			jitter=policy.jitter,
			rand=rand,
		)
	)
	when = "as the handler asked (retry_after)" if hint is not None else "(backoff)"
	reason = (
		f"Transient error ({error}): retry {retry_count + 1} of {policy.max_retries} in {delay:.0f}s {when}"
	)
	return RetryDecision(kind, True, now + timedelta(seconds=delay), reason)


def retry_after_of(exc: BaseException) -> float | None:
	"""The handler's own retry time (``TransientError(retry_after=…)``, checked when it was made), bounded
	again here for any exception carrying such an attribute: a finite number in (0, the maximum]."""
	hint = getattr(exc, "retry_after", None)
	if isinstance(hint, bool) or not isinstance(hint, int | float) or not math.isfinite(hint) or hint <= 0:
		return None
	return min(float(hint), float(config.MAX_RETRY_AFTER_SECONDS))
