"""Backoff, classification and the retry decision, with real library exception instances."""

import json
import socket
import unittest
from datetime import datetime, timedelta

import pymysql
import redis
import requests

from dartwing.dartwing_core.background_jobs import config
from dartwing.dartwing_core.background_jobs.errors import (
	JobError,
	JobTimedOut,
	PermanentError,
	Snooze,
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


class TestComputeBackoff(unittest.TestCase):
	def test_default_backoff_sequence_doubles_from_a_minute(self):
		delays = [compute_backoff(n, **DEFAULTS, rand=middle) for n in range(5)]
		self.assertEqual(delays, [60, 120, 240, 480, 960])

	def test_backoff_is_capped_at_the_maximum(self):
		self.assertEqual(compute_backoff(6, **DEFAULTS, rand=middle), 3600)
		self.assertEqual(compute_backoff(10_000, **DEFAULTS, rand=middle), 3600)  # no overflow

	def test_jitter_bounds_with_fixed_random(self):
		self.assertAlmostEqual(compute_backoff(0, **DEFAULTS, rand=lambda: 0.0), 54)
		self.assertAlmostEqual(compute_backoff(0, **DEFAULTS, rand=lambda: 1.0), 66)
		self.assertAlmostEqual(compute_backoff(6, **DEFAULTS, rand=lambda: 1.0), 3960)

	def test_backoff_is_never_negative_and_rejects_negative_retry_number(self):
		self.assertEqual(
			compute_backoff(0, base=1, factor=1, max_backoff=1, jitter=1, rand=lambda: 0.0),
			0,
		)
		with self.assertRaises(ValueError):
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


class TestClassifyErrors(unittest.TestCase):
	def test_classification_table(self):
		for exc, expected in CASES:
			with self.subTest(exception=f"{type(exc).__name__}({exc})", expected=expected):
				# under the opposite unknown policy only a rule can give the expected class
				self.assertIs(classify(exc, unknown=P if expected is T else T), expected)
				self.assertIs(classify(exc), expected)

	def test_frappe_errors_are_recognised_by_name_and_module(self):
		validation = type("ValidationError", (Exception,), {"__module__": "frappe.exceptions"})
		mandatory = type("MandatoryError", (validation,), {"__module__": "frappe.exceptions"})
		some_validation = type("NegativeStockError", (validation,), {"__module__": "erpnext.exceptions"})
		self.assertIs(classify(mandatory("x")), P)
		self.assertIs(classify(some_validation("x")), P)  # anything in the ValidationError family
		for name in ("PermissionError", "DoesNotExistError", "LinkValidationError"):
			with self.subTest(frappe_error=name):
				self.assertIs(classify(fake_frappe_error(name)), P)
		for name in ("RetryBackgroundJobError", "QueryDeadlockError", "QueryTimeoutError"):
			with self.subTest(frappe_error=name):
				self.assertIs(classify(fake_frappe_error(name), unknown=P), T)

	def test_frappe_permission_error_is_not_mistaken_for_the_builtin(self):
		# frappe.PermissionError derives from Exception, not the builtin PermissionError.
		exc = fake_frappe_error("PermissionError")
		self.assertNotIsInstance(exc, PermissionError)
		self.assertIs(classify(exc, unknown=T), P)

	def test_a_same_named_class_from_another_library_is_not_trusted(self):
		lookalike = type("QueryDeadlockError", (Exception,), {"__module__": "myapp.errors"})
		self.assertIs(classify(lookalike("x"), unknown=P), P)

	def test_other_mysql_codes_fall_to_the_unknown_policy(self):
		exc = pymysql.err.OperationalError(1045, "Access denied")
		self.assertIs(classify(exc, unknown=T), T)
		self.assertIs(classify(exc, unknown=P), P)

	def test_unrecognised_exceptions_follow_the_unknown_policy(self):
		class Weird(Exception):
			pass

		self.assertIs(classify(Weird()), T)
		self.assertIs(classify(Weird(), unknown=P), P)


class TestRetryPolicy(unittest.TestCase):
	def test_policy_validation_and_defaults(self):
		policy = RetryPolicy()
		self.assertEqual((policy.max_retries, policy.base_seconds, policy.factor), (5, 60, 2))
		for bad in (
			dict(max_retries=-1),
			dict(max_retries=26),
			dict(base_seconds=0),
			dict(factor=0.5),
			dict(base_seconds=100, max_seconds=50),
			dict(jitter=1.5),
		):
			with self.subTest(bad_policy=bad), self.assertRaises(ValueError):
				RetryPolicy(**bad)

	def test_policy_from_job_type_row(self):
		row = {
			"max_retries": 3,
			"backoff_base_seconds": 10,
			"backoff_factor": 3,
			"backoff_max_seconds": 100,
			"backoff_jitter": 0,
			"unknown_error_policy": "Fail",
		}
		self.assertEqual(RetryPolicy.from_job_type(row), RetryPolicy(3, 10.0, 3.0, 100.0, 0.0, False))
		self.assertEqual(RetryPolicy.from_job_type({"backoff_jitter": None}), RetryPolicy())


class TestRetryDecision(unittest.TestCase):
	def test_decide_schedules_backoff_until_retries_are_exhausted(self):
		policy = RetryPolicy(jitter=0)
		expected = [60, 120, 240, 480, 960]
		for retry_count, delay in enumerate(expected):
			with self.subTest(retry_count=retry_count, delay=delay):
				decision = decide(ConnectionError("x"), retry_count=retry_count, policy=policy, now=NOW)
				self.assertTrue(decision.retry and decision.kind is T)
				self.assertEqual(decision.next_retry_at, NOW + timedelta(seconds=delay))
		final = decide(ConnectionError("x"), retry_count=5, policy=policy, now=NOW)
		self.assertEqual((final.retry, final.next_retry_at), (False, None))
		self.assertIn("exhausted", final.reason)

	def test_decide_never_retries_a_permanent_error(self):
		decision = decide(PermanentError("bad"), retry_count=0, policy=RetryPolicy(), now=NOW)
		self.assertEqual((decision.kind, decision.retry, decision.next_retry_at), (P, False, None))
		self.assertIn("PermanentError", decision.reason)

	def test_decide_with_zero_retries_gives_up_at_once(self):
		decision = decide(TransientError("x"), retry_count=0, policy=RetryPolicy(max_retries=0), now=NOW)
		self.assertFalse(decision.retry)

	def test_decide_schedules_the_retry_at_retry_after_instead_of_the_backoff(self):
		policy = RetryPolicy(jitter=0)  # backoff of the first retry: 60 s
		longer = decide(TransientError("x", retry_after=600), retry_count=0, policy=policy, now=NOW)
		self.assertEqual(longer.next_retry_at, NOW + timedelta(seconds=600))
		shorter = decide(TransientError("x", retry_after=1.5), retry_count=0, policy=policy, now=NOW)
		self.assertEqual(shorter.next_retry_at, NOW + timedelta(seconds=1.5))
		self.assertIn("retry_after", shorter.reason)
		plain = decide(TransientError("x"), retry_count=0, policy=policy, now=NOW)
		self.assertEqual(plain.next_retry_at, NOW + timedelta(seconds=60))

	def test_retry_after_still_spends_a_retry_and_cannot_pass_the_budget(self):
		policy = RetryPolicy(max_retries=2, jitter=0)
		spent = decide(TransientError("x", retry_after=5), retry_count=2, policy=policy, now=NOW)
		self.assertFalse(spent.retry)
		self.assertIn("exhausted", spent.reason)

	def test_retry_after_is_refused_when_not_a_finite_positive_bounded_number(self):
		too_big = (config.MAX_RETRY_AFTER_SECONDS + 1, 10**400, -(10**400))  # 10**400: beyond any float
		for bad in (0, -1, float("nan"), float("inf"), *too_big, True, "30", [30]):
			with self.subTest(bad=bad), self.assertRaises(ValueError):
				TransientError("x", retry_after=bad)
		self.assertEqual(TransientError("x", retry_after=config.MAX_RETRY_AFTER_SECONDS).retry_after, 86400)

	def test_a_snooze_needs_a_finite_positive_bounded_number_of_seconds(self):
		for bad in (
			0,
			-0.5,
			float("nan"),
			float("-inf"),
			config.MAX_SNOOZE_SECONDS + 1,
			10**400,
			False,
			None,
			"5",
		):
			with self.subTest(bad=bad), self.assertRaises(ValueError):
				Snooze(bad)
		snooze = Snooze(2.5, "x" * 600)
		self.assertEqual((snooze.seconds, len(snooze.reason)), (2.5, 500))
		self.assertFalse(isinstance(snooze, JobError))  # a handler's `except JobError` never swallows it

	def test_a_foreign_retry_after_attribute_is_bounded_or_ignored(self):
		class VendorBusy(Exception):
			def __init__(self, retry_after):
				super().__init__("busy")
				self.retry_after = retry_after

		policy = RetryPolicy(jitter=0)
		for hint, expected in (
			(float("nan"), 60),
			(-5, 60),
			("9", 60),
			(10**9, config.MAX_RETRY_AFTER_SECONDS),
		):
			with self.subTest(hint=hint):
				decision = decide(VendorBusy(hint), retry_count=0, policy=policy, now=NOW)
				self.assertEqual(decision.next_retry_at, NOW + timedelta(seconds=expected))

	def test_decide_applies_the_unknown_policy(self):
		class Weird(Exception):
			pass

		fail_policy = RetryPolicy(unknown_is_transient=False)
		self.assertFalse(decide(Weird(), retry_count=0, policy=fail_policy, now=NOW).retry)
		self.assertTrue(decide(Weird(), retry_count=0, policy=RetryPolicy(), now=NOW).retry)
