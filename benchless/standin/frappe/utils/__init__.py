"""General helpers: mirrors ``frappe/utils/__init__.py`` (Frappe 15).

Re-exports everything from ``frappe.utils.data`` (as Frappe does) and adds the process helpers dartwing
and the stand-in use: ``CallbackManager`` (commit/rollback/job callbacks), ``get_bench_id``,
``get_traceback``, ``generate_hash``, ``parse_json``, ``random_string``, ``get_sites``.
"""

import hashlib
import json
import os
import secrets
import sys
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from frappe.utils.data import *
from frappe.utils.data import _dict

# keys whose values never appear in a traceback with context (as Frappe redacts them)
_SECRET_MARKERS = ("password", "passwd", "secret", "token", "key", "pwd")


class CallbackManager:
	"""FIFO queue of zero-argument callables (db before/after commit/rollback, job.after_job)."""

	__slots__ = ("_functions",)

	def __init__(self) -> None:
		self._functions: deque[Callable] = deque()

	def add(self, func: Callable) -> None:
		"""Queue ``func``; callbacks run in order of addition."""
		self._functions.append(func)

	def __call__(self, func: Callable) -> None:
		"""Alias of add, so ``frappe.db.after_commit(fn)`` works."""
		self._functions.append(func)

	def run(self) -> None:
		"""Pop and call until empty; callbacks added while running also run; exceptions propagate."""
		while self._functions:
			self._functions.popleft()()

	def reset(self) -> None:
		"""Drop pending callbacks without running them."""
		self._functions.clear()

	def __len__(self) -> int:
		return len(self._functions)


def get_bench_id() -> str:
	"""conf.bench_id, else the bench path with '/' replaced by '-' (prefix of RQ queue names)."""
	import frappe

	return frappe.get_conf().get("bench_id") or get_bench_path().replace("/", "-")


def get_bench_path() -> str:
	"""The bench directory: the parent of the sites directory."""
	import frappe

	sites_path = getattr(frappe.local, "sites_path", None) or "."
	return os.path.realpath(os.path.join(sites_path, ".."))


def get_sites(sites_path: str | None = None) -> list[str]:
	"""Every directory under sites/ holding a site_config.json."""
	import frappe

	sites_path = sites_path or getattr(frappe.local, "sites_path", None) or "."
	return sorted(
		name
		for name in os.listdir(sites_path)
		if os.path.isfile(os.path.join(sites_path, name, "site_config.json"))
	)


def get_traceback(with_context: bool = False) -> str:
	"""Formatted traceback of the exception being handled ('' when there is none)."""
	exc_type, exc_value, exc_tb = sys.exc_info()
	if not any([exc_type, exc_value, exc_tb]):
		return ""
	text = "".join(traceback.format_exception(exc_type, exc_value, exc_tb))
	if with_context:
		text += _locals_of_last_frame(exc_tb)
	return text


def _locals_of_last_frame(exc_tb: Any) -> str:
	while exc_tb and exc_tb.tb_next:
		exc_tb = exc_tb.tb_next
	if not exc_tb:
		return ""
	lines = ["\nLocals of the failing frame:"]
	for name, value in exc_tb.tb_frame.f_locals.items():
		shown = "********" if any(m in name.lower() for m in _SECRET_MARKERS) else _safe_repr(value)
		lines.append(f"  {name} = {shown}")
	return "\n".join(lines) + "\n"


def _safe_repr(value: Any) -> str:
	try:
		text = repr(value)
	except Exception:
		return "<unrepresentable>"
	return text if len(text) <= 200 else text[:200] + "..."


def generate_hash(txt: str | None = None, length: int = 56) -> str:
	"""Random hex string of ``length`` characters (``txt`` is ignored, as in Frappe 15)."""
	return secrets.token_hex(length // 2 + 1)[:length]


def random_string(length: int) -> str:
	"""Random alphanumeric string."""
	import string

	alphabet = string.ascii_letters + string.digits
	return "".join(secrets.choice(alphabet) for _ in range(length))


def parse_json(val: Any) -> Any:
	"""json.loads for str, _dict for dict, anything else unchanged."""
	if isinstance(val, str):
		val = json.loads(val)
	if isinstance(val, dict):
		val = _dict(val)
	return val


def get_site_name(hostname: str) -> str:
	return hostname.split(":")[0]


def is_json(text: str) -> bool:
	try:
		json.loads(text)
	except (TypeError, ValueError):
		return False
	return True


def get_assets_json() -> dict[str, str]:
	"""The bundle manifest ``sites/assets/assets.json`` (+ ``assets-rtl.json``) written by the asset build:
	``"<name>.bundle.js"`` -> ``"/assets/<app>/dist/js/<name>.bundle.<hash>.js"``. Mirrors Frappe 15's
	``frappe.utils.get_assets_json``, read once per request (Frappe caches it in Redis outside developer
	mode); {} when no build ran."""
	import frappe

	cached = getattr(frappe.local, "assets_json", None)
	if cached is not None:
		return cached
	sites_path = getattr(frappe.local, "sites_path", None) or "."
	assets: dict[str, str] = {}
	for name in ("assets.json", "assets-rtl.json"):
		try:
			with open(os.path.join(sites_path, "assets", name), encoding="utf-8") as f:
				assets.update(json.load(f))
		except (OSError, ValueError):
			continue
	frappe.local.assets_json = assets
	return assets
