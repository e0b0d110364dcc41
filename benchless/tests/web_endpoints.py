"""Whitelisted functions the web tests call over HTTP (``/api/method/benchless.tests.web_endpoints.*``).

Each one exercises one rule of Frappe's ``/api/method`` contract: typed arguments, HTTP methods, the
status code of each exception class, rate limiting and the request transaction.
"""

from typing import Literal

import frappe
from frappe.rate_limiter import rate_limit

WEB_TEST_TABLE = "__benchless_web_test"


@frappe.whitelist(allow_guest=True)
def whoami() -> str:
	return frappe.session.user


@frappe.whitelist()
def add(a: int, b: int = 0, scale: float = 1.0, verbose: bool = False) -> dict:
	return {"sum": (a + b) * scale, "verbose": verbose, "types": [type(a).__name__, type(scale).__name__]}


@frappe.whitelist()
def describe(options: dict, tags: list[str] | None = None, mode: Literal["fast", "slow"] = "fast") -> dict:
	return {"options": options, "tags": tags, "mode": mode}


@frappe.whitelist()
def nothing() -> None:
	return None


def not_whitelisted() -> str:
	return "should never run"


@frappe.whitelist(methods=["POST"])
def post_only() -> str:
	return "posted"


@frappe.whitelist()
def fail_validation() -> None:
	frappe.throw("The thing is not valid", title="Invalid Thing")


@frappe.whitelist()
def fail_permission() -> None:
	raise frappe.PermissionError


@frappe.whitelist()
def fail_missing() -> None:
	frappe.throw("No such thing", frappe.DoesNotExistError)


@frappe.whitelist()
def fail_duplicate() -> None:
	raise frappe.DuplicateEntryError("Thing", "thing-1")


@frappe.whitelist()
def fail_crash() -> None:
	raise ZeroDivisionError("secret internal detail")


@frappe.whitelist(allow_guest=True)
@rate_limit(key="bucket", limit=2, seconds=60)
def limited(bucket: str) -> str:
	return "ok"


@frappe.whitelist()
def write_marker(marker: str, fail: bool = False) -> str:
	"""Insert a row, then raise when ``fail``: the row must survive only a successful request."""
	frappe.db.sql(f"insert into `{WEB_TEST_TABLE}` (marker) values (%s)", (marker,))
	if fail:
		frappe.throw("Failing after the write")
	return marker
