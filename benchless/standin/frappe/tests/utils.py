"""``FrappeTestCase`` and test helpers: mirrors ``frappe/tests/utils.py`` (Frappe 15).

Contract (as Frappe 15): isolation is per CLASS. ``setUpClass`` commits whatever came before, and class
cleanups (run after ``tearDownClass``) roll back everything the class wrote, then restore
``frappe.local.flags`` and reset the message/error logs. Tests that commit opt out of that isolation.
``set_user`` switches the session user for a block; ``freeze_time`` needs freezegun (skips without it).
"""

import copy
import datetime
import signal
import unittest
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import frappe


class FrappeTestCase(unittest.TestCase):
	"""Base test class: per-class transaction rollback and Frappe assertion helpers."""

	TEST_SITE = "test_site"
	SHOW_TRANSACTION_COMMIT_WARNINGS = False
	maxDiff = 10_000

	@classmethod
	def setUpClass(cls) -> None:
		cls.TEST_SITE = getattr(frappe.local, "site", None) or cls.TEST_SITE
		cls.ADMIN_PASSWORD = frappe.get_conf(cls.TEST_SITE).admin_password
		cls._primary_connection = frappe.local.db
		cls._secondary_connection = None
		# flush changes done so far to avoid flake
		frappe.db.commit()
		cls.addClassCleanup(_restore_thread_locals, copy.deepcopy(frappe.local.flags))
		cls.addClassCleanup(_rollback_db)
		return super().setUpClass()

	def assertSequenceSubset(self, larger: Any, smaller: Any, msg: str | None = None) -> None:
		"""Assert that every item of ``smaller`` is in ``larger``."""
		missing = [item for item in smaller if item not in larger]
		if missing:
			self.fail(msg or f"{missing!r} not found in {larger!r}")

	def assertDocumentEqual(self, expected: Any, actual: Any) -> None:
		"""Compare a (partial) expected document with an actual Document."""
		if isinstance(expected, dict):
			expected = frappe._dict(expected)
		for field, value in expected.items():
			if isinstance(value, list):
				actual_child_docs = actual.get(field)
				self.assertEqual(len(value), len(actual_child_docs), msg=f"{field} length should be same")
				for exp_child, actual_child in zip(value, actual_child_docs, strict=True):
					self.assertDocumentEqual(exp_child, actual_child)
			else:
				self._compare_field(value, actual.get(field), actual, field)

	def _compare_field(self, expected: Any, actual: Any, doc: Any, field: str) -> None:
		msg = f"{field} should be same."
		if isinstance(expected, float):
			self.assertAlmostEqual(expected, actual, msg=msg)
		elif isinstance(expected, datetime.date | datetime.datetime) or isinstance(actual, str):
			self.assertEqual(str(expected), str(actual), msg=msg)
		else:
			self.assertEqual(expected, actual, msg=msg)

	def normalize_sql(self, query: str) -> str:
		return " ".join(query.split()).strip().lower()

	def assertQueryEqual(self, first: str, second: str) -> None:
		self.assertEqual(self.normalize_sql(first), self.normalize_sql(second))

	@contextmanager
	def primary_connection(self) -> Iterator[None]:
		"""Run the block on the class's primary database connection."""
		current = frappe.local.db
		try:
			frappe.local.db = self._primary_connection
			yield
		finally:
			frappe.local.db = current

	@contextmanager
	def secondary_connection(self) -> Iterator[None]:
		"""Run the block on a second connection (a second transaction), closed after the class."""
		current = frappe.local.db
		if not self.__class__._secondary_connection:
			frappe.connect(set_admin_as_user=False)
			self.__class__._secondary_connection = frappe.local.db
			frappe.local.db = current
			self.addClassCleanup(_close_connection, self.__class__._secondary_connection)
		try:
			frappe.local.db = self.__class__._secondary_connection
			yield
		finally:
			frappe.local.db = current

	@contextmanager
	def set_user(self, user: str) -> Iterator[None]:
		"""Run the block as ``user``; the previous session user is restored afterwards."""
		try:
			old_user = frappe.session.user
			frappe.set_user(user)
			yield
		finally:
			frappe.set_user(old_user)

	@contextmanager
	def switch_site(self, site: str) -> Iterator[None]:
		old_site = frappe.local.site
		frappe.init(site, force=True)
		frappe.connect()
		try:
			yield
		finally:
			frappe.destroy()
			frappe.init(old_site, force=True)
			frappe.connect()

	@contextmanager
	def freeze_time(self, time_to_freeze: Any, *args: Any, **kwargs: Any) -> Iterator[None]:
		"""Freeze the clock at ``time_to_freeze`` (system timezone); skips the test without freezegun."""
		try:
			from freezegun import freeze_time
		except ImportError:
			raise unittest.SkipTest("freezegun is not installed")
		with freeze_time(frappe.utils.get_datetime(time_to_freeze), *args, **kwargs):
			yield


def _close_connection(db: Any) -> None:
	if db:
		db.close()


def _rollback_db() -> None:
	if frappe.local.db:
		frappe.db.value_cache = {}
		frappe.db.rollback()


def _restore_thread_locals(flags: frappe._dict) -> None:
	frappe.local.flags = flags
	frappe.local.error_log = []
	frappe.local.message_log = []
	frappe.local.debug_log = []
	frappe.local.cache = {}
	frappe.local.document_cache = {}
	frappe.local.lang = "en"
	if hasattr(frappe.local, "request"):
		delattr(frappe.local, "request")


@contextmanager
def change_settings(
	doctype: str, settings_dict: dict | None = None, /, commit: bool = False, **settings: Any
):
	"""Temporarily change fields of a Single doctype; previous values are restored afterwards."""
	settings = settings_dict or settings
	doc = frappe.get_doc(doctype)
	previous = {key: doc.get(key) for key in settings}
	try:
		doc.update(settings)
		doc.save(ignore_permissions=True)
		if commit:
			frappe.db.commit()
		yield
	finally:
		doc = frappe.get_doc(doctype)
		doc.update(previous)
		doc.save(ignore_permissions=True)
		if commit:
			frappe.db.commit()


def timeout(seconds: int | Callable = 30, error_message: str = "Test timed out.") -> Callable:
	"""Fail a test (plain Exception) that runs longer than ``seconds`` (SIGALRM, main thread only)."""

	def decorator(func: Callable) -> Callable:
		def _handle_timeout(signum: int, frame: Any) -> None:
			raise Exception(error_message)

		def wrapper(*args: Any, **kwargs: Any) -> Any:
			signal.signal(signal.SIGALRM, _handle_timeout)
			signal.alarm(seconds)
			try:
				return func(*args, **kwargs)
			finally:
				signal.alarm(0)

		return wrapper

	if callable(seconds):
		# used bare, @timeout
		func, seconds, error_message = seconds, 30, "Test timed out"
		return decorator(func)
	return decorator


@contextmanager
def patch_hooks(overridden_hoooks: dict) -> Iterator[None]:  # sic: Frappe 15 spells it with three o's
	"""Make frappe.get_hooks return ``overridden_hoooks[hook]`` for the given hook names."""
	get_hooks = frappe.get_hooks

	def patched_hooks(
		hook: str | None = None, default: Any = "_KEEP_DEFAULT_LIST", app_name: str | None = None
	):
		if hook in overridden_hoooks:
			return overridden_hoooks[hook]
		return get_hooks(hook, default, app_name)

	frappe.get_hooks = patched_hooks
	try:
		yield
	finally:
		frappe.get_hooks = get_hooks
