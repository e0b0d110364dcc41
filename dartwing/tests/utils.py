"""Test helpers shared by dartwing's doctype, integration and engine tests.

Each record helper is idempotent (returns the existing record when called twice) and leaves committing to
the test class (FrappeTestCase rolls back what a test class wrote). ``ON_BENCHLESS`` tells whether the
imported ``frappe`` is benchless's stand-in; nothing here imports benchless, so every helper works the same
under ``bench run-tests`` on a real bench.
"""

import time
import unittest
from collections.abc import Callable, Iterable
from typing import Any

import frappe

from dartwing.dartwing_core.background_jobs import metrics_rollup
from dartwing.install import ensure_membership, ensure_organization, ensure_person

# benchless marks its stand-in; on a real bench `import benchless` may succeed too, so that is no test
ON_BENCHLESS = bool(getattr(frappe, "__benchless__", False))


def recount_rollup(organization: str) -> None:
	"""After a test wrote job rows of ``organization`` past the engine's transitions: recount its metrics
	rollup as the migrate backfill does (in the test's transaction). The rollup counts only what transitions
	do, so a later transition of such a row would take its count from a status the rollup never counted (a
	negative count in every metrics window holding that hour; conftest.py fails the session on one)."""
	metrics_rollup.rebuild((organization,), commit=False)


def insert_job_document(values: dict[str, Any], **flags: Any) -> Any:
	"""A Background Job inserted as a document past the engine, as a test fixture (any status and columns;
	no log row, nothing dispatched; ``flags`` for the insert, e.g. ignore_links), then ``recount_rollup``.
	Real code submits (engine.submit_job): the controller refuses an insert the engine did not flag."""
	doc = frappe.get_doc({"doctype": "Background Job", "job_type": "demo_noop", **values})
	doc.flags.update(flags, via_engine=True)
	doc.insert(ignore_permissions=True)
	recount_rollup(doc.organization)
	return doc


def benchless_only(reason: str) -> Callable:
	"""Skip a test class or method unless it runs on benchless (``reason`` says what it would do on a bench)."""
	return unittest.skipUnless(ON_BENCHLESS, f"benchless only: {reason}")


def wait_until(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.1) -> Any:
	"""Poll ``predicate`` until it returns a truthy value (returned); AssertionError after ``timeout`` s."""
	deadline = time.monotonic() + timeout
	while True:
		value = predicate()
		if value:
			return value
		if time.monotonic() >= deadline:
			raise AssertionError(f"condition not met within {timeout} s: {predicate}")
		time.sleep(interval)


def make_user(email: str, roles: Iterable[str] = ()) -> str:
	"""A System User with the given site roles (added to an existing user if missing)."""
	roles = list(roles)
	if not frappe.db.exists("User", email):
		user = frappe.get_doc(
			{
				"doctype": "User",
				"email": email,
				"first_name": email.split("@")[0].title(),
				"enabled": 1,
				"send_welcome_email": 0,
				"roles": [{"role": role} for role in roles],
			}
		)
		# Frappe throttles User creation (60 a minute, `throttle_user_limit`); a suite's fixtures make
		# more than that. `in_import` is the throttle's own way out, set for this insert only.
		in_import, frappe.flags.in_import = frappe.flags.in_import, True
		try:
			return user.insert(ignore_permissions=True).name
		finally:
			frappe.flags.in_import = in_import
	user = frappe.get_doc("User", email)
	missing = [role for role in roles if role not in {row.role for row in user.get("roles", [])}]
	for role in missing:
		user.append("roles", {"role": role})
	if missing:
		user.save(ignore_permissions=True)
	return email


def make_org(name: str, status: str = "Active") -> str:
	"""An Organization; an existing one is set to `status`."""
	ensure_organization(name, status)
	if frappe.db.get_value("Organization", name, "status") != status:
		org = frappe.get_doc("Organization", name)
		org.status = status
		org.save(ignore_permissions=True)
	return name


def make_person(user: str) -> str:
	return ensure_person(user, user.split("@")[0].title())


def make_member(user: str, org: str, role: str = "Member", status: str = "Active") -> str:
	"""The user's Org Member row in `org` (creating the user's Person if needed), set to role and status."""
	make_org(org) if not frappe.db.exists("Organization", org) else None
	person = make_person(user)
	name = ensure_membership(person, org, role, status)
	member = frappe.get_doc("Org Member", name)
	if (member.role, member.status) != (role, status):
		member.role, member.status = role, status
		member.save(ignore_permissions=True)
	return name
