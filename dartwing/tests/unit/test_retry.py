"""Backoff, classification and the retry decision, with real library exception instances."""

import json
import socket
from datetime import datetime, timedelta

import pymysql
import pytest
import redis
import requests

from dartwing.dartwing_core.background_jobs.errors import (
	JobTimedOut,
	PermanentError,
	TransientError,
	WorkerLost,
)
from dartwing.dartwing_core.background_jobs.retry import (
	ErrorKind,
	RetryPolicy,
	classify,
	compute_backoff,
	decide,
)

T, P = ErrorKind.TRANSIENT, ErrorKind.PERMANENT
NOW = datetime(2025, 1, 1, 12, 0, 0)
DEFAULTS = dict(base=60, factor=2, max_backoff=3600, jitter=0.1)


def middle() -> float:
	return 0.5  # jitter term 2*0.5-1 == 0: no jitter


def test_default_backoff_sequence_doubles_from_a_minute():
	delays = [compute_backoff(n, **DEFAULTS, rand=middle) for n in range(5)]
	assert delays == [60, 120, 240, 480, 960]


def test_backoff_is_capped_at_the_maximum():
	assert compute_backoff(6, **DEFAULTS, rand=middle) == 3600
	assert compute_backoff(10_000, **DEFAULTS, rand=middle) == 3600  # no overflow


def test_jitter_bounds_with_fixed_random():
	assert compute_backoff(0, **DEFAULTS, rand=lambda: 0.0) == pytest.approx(54)
	assert compute_backoff(0, **DEFAULTS, rand=lambda: 1.0) == pytest.approx(66)
	assert compute_backoff(6, **DEFAULTS, rand=lambda: 1.0) == pytest.approx(3960)


def test_backoff_is_never_negative_and_rejects_negative_retry_number():
	assert compute_backoff(0, base=1, factor=1, max_backoff=1, jitter=1, rand=lambda: 0.0) == 0
	with pytest.raises(ValueError):
		compute_backoff(-1, **DEFAULTS)


class HTTPStatusError(Exception):
	def __init__(self, status: int) -> None:
		super().__init__(f"HTTP {status}")
		self.http_status = status


class StatusCodeError(Exception):
	def __init__(self, status: int) -> None:
		super().__init__(f"HTTP {status}")
		self.status_code = status


def requests_http_error(status: int) -> requests.HTTPError:
	response = requests.Response()
	response.status_code = status
	return requests.HTTPError(f"{status}", response=response)


def fake_frappe_error(name: str, *bases: type) -> BaseException:
	"""An exception class living in module `frappe.exceptions`, as the real one does."""
	cls = type(name, bases or (Exception,), {"__module__": "frappe.exceptions"})
	return cls("boom")


CASES = [
	# ours
	(TransientError("later"), T),
	(WorkerLost("gone"), T),
	(JobTimedOut(), T),
	(PermanentError("never"), P),
	# builtins
	(ConnectionResetError(), T),
	(TimeoutError(), T),
	(socket.timeout(), T),  # noqa: UP041 (alias kept on purpose: the spec names it)
	(MemoryError(), T),
	(TypeError("bad arg"), P),
	(ValueError("bad value"), P),
	(KeyError("missing"), P),
	(json.JSONDecodeError("x", "doc", 0), P),
	(ImportError("no module"), P),
	(ModuleNotFoundError("no module"), P),
	(AttributeError("no attr"), P),
	# PyMySQL, by error code
	(pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), T),
	(pymysql.err.OperationalError(1213, "Deadlock found"), T),
	(pymysql.err.OperationalError(2003, "Can't connect"), T),
	(pymysql.err.OperationalError(2006, "MySQL server has gone away"), T),
	(pymysql.err.OperationalError(2013, "Lost connection"), T),
	(pymysql.err.OperationalError(1040, "Too many connections"), T),
	(pymysql.err.InternalError(1213, "Deadlock found"), T),
	# redis
	(redis.exceptions.ConnectionError("refused"), T),
	(redis.exceptions.TimeoutError("slow"), T),
	(redis.exceptions.BusyLoadingError("loading"), T),
	# requests
	(requests.ConnectionError("refused"), T),
	(requests.Timeout("slow"), T),
	(requests.ReadTimeout("slow"), T),
	(requests_http_error(503), T),
	(requests_http_error(429), T),
	(requests_http_error(404), P),
	# HTTP status attributes
	(HTTPStatusError(500), T),
	(HTTPStatusError(429), T),
	(HTTPStatusError(400), P),
	(StatusCodeError(502), T),
	(StatusCodeError(403), P),
]


@pytest.mark.parametrize(
	"exc, expected", CASES, ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v)
)
def test_classification_table(exc, expected):
	assert classify(exc) is expected
	assert classify(exc, unknown=expected) is expected


def test_frappe_errors_are_recognised_by_name_and_module():
	validation = type("ValidationError", (Exception,), {"__module__": "frappe.exceptions"})
	mandatory = type("MandatoryError", (validation,), {"__module__": "frappe.exceptions"})
	some_validation = type("NegativeStockError", (validation,), {"__module__": "erpnext.exceptions"})
	assert classify(mandatory("x")) is P
	assert classify(some_validation("x")) is P  # anything in the ValidationError family
	for name in ("PermissionError", "DoesNotExistError", "LinkValidationError"):
		assert classify(fake_frappe_error(name)) is P
	for name in ("RetryBackgroundJobError", "QueryDeadlockError", "QueryTimeoutError"):
		assert classify(fake_frappe_error(name), unknown=P) is T


def test_frappe_permission_error_is_not_mistaken_for_the_builtin():
	# frappe.PermissionError derives from Exception, not the builtin PermissionError.
	exc = fake_frappe_error("PermissionError")
	assert not isinstance(exc, PermissionError)
	assert classify(exc, unknown=T) is P


def test_a_same_named_class_from_another_library_is_not_trusted():
	lookalike = type("QueryDeadlockError", (Exception,), {"__module__": "myapp.errors"})
	assert classify(lookalike("x"), unknown=P) is P


def test_other_mysql_codes_fall_to_the_unknown_policy():
	exc = pymysql.err.OperationalError(1045, "Access denied")
	assert classify(exc, unknown=T) is T
	assert classify(exc, unknown=P) is P


def test_unrecognised_exceptions_follow_the_unknown_policy():
	class Weird(Exception):
		pass

	assert classify(Weird()) is T
	assert classify(Weird(), unknown=P) is P


def test_policy_validation_and_defaults():
	policy = RetryPolicy()
	assert (policy.max_retries, policy.base_seconds, policy.factor) == (5, 60, 2)
	for bad in (
		dict(max_retries=-1),
		dict(max_retries=26),
		dict(base_seconds=0),
		dict(factor=0.5),
		dict(base_seconds=100, max_seconds=50),
		dict(jitter=1.5),
	):
		with pytest.raises(ValueError):
			RetryPolicy(**bad)


def test_policy_from_job_type_row():
	row = {
		"max_retries": 3,
		"backoff_base_seconds": 10,
		"backoff_factor": 3,
		"backoff_max_seconds": 100,
		"backoff_jitter": 0,
		"unknown_error_policy": "Fail",
	}
	assert RetryPolicy.from_job_type(row) == RetryPolicy(3, 10.0, 3.0, 100.0, 0.0, False)
	assert RetryPolicy.from_job_type({"backoff_jitter": None}) == RetryPolicy()


def test_decide_schedules_backoff_until_retries_are_exhausted():
	policy = RetryPolicy(jitter=0)
	expected = [60, 120, 240, 480, 960]
	for retry_count, delay in enumerate(expected):
		decision = decide(ConnectionError("x"), retry_count=retry_count, policy=policy, now=NOW)
		assert decision.retry and decision.kind is T
		assert decision.next_retry_at == NOW + timedelta(seconds=delay)
	final = decide(ConnectionError("x"), retry_count=5, policy=policy, now=NOW)
	assert (final.retry, final.next_retry_at) == (False, None)
	assert "exhausted" in final.reason


def test_decide_never_retries_a_permanent_error():
	decision = decide(PermanentError("bad"), retry_count=0, policy=RetryPolicy(), now=NOW)
	assert (decision.kind, decision.retry, decision.next_retry_at) == (P, False, None)
	assert "PermanentError" in decision.reason


def test_decide_with_zero_retries_gives_up_at_once():
	decision = decide(TransientError("x"), retry_count=0, policy=RetryPolicy(max_retries=0), now=NOW)
	assert not decision.retry


def test_decide_honours_retry_after_when_longer_than_backoff():
	policy = RetryPolicy(jitter=0)
	longer = decide(TransientError("x", retry_after=600), retry_count=0, policy=policy, now=NOW)
	assert longer.next_retry_at == NOW + timedelta(seconds=600)
	shorter = decide(TransientError("x", retry_after=1), retry_count=0, policy=policy, now=NOW)
	assert shorter.next_retry_at == NOW + timedelta(seconds=60)


def test_decide_applies_the_unknown_policy():
	class Weird(Exception):
		pass

	fail_policy = RetryPolicy(unknown_is_transient=False)
	assert not decide(Weird(), retry_count=0, policy=fail_policy, now=NOW).retry
	assert decide(Weird(), retry_count=0, policy=RetryPolicy(), now=NOW).retry
