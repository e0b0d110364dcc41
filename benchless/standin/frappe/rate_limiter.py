"""Per-endpoint request rate limiting.

Mirrors ``frappe/rate_limiter.py`` (Frappe 15), the ``rate_limit`` decorator: a fixed-window counter in
Redis (``frappe.cache``) keyed by ``rl:{cmd}:{identity}`` (identity = request IP, form_dict[key], or
both), expiring after ``seconds``. Once a window holds more than ``limit`` calls the call is refused
with ``frappe.RateLimitExceededError`` (HTTP 429). Outside a request (tests, workers) it does nothing.
Frappe's site-wide request-time budget (``conf.rate_limit``, ``RateLimiter``) is not implemented.
"""

from collections.abc import Callable
from functools import wraps

import frappe
from frappe import _

RATE_LIMIT_MESSAGE = "You hit the rate limit because of too many requests. Please try after sometime."


def rate_limit(
	key: str | None = None,
	limit: int | Callable = 5,
	seconds: int | Callable = 24 * 60 * 60,
	methods: str | list = "ALL",
	ip_based: bool = True,
) -> Callable:
	"""Allow at most ``limit`` calls per ``seconds`` window per identity (``limit``/``seconds`` may be callables)."""

	def ratelimit_decorator(fn: Callable) -> Callable:
		@wraps(fn)
		def wrapper(*args, **kwargs):
			request = getattr(frappe.local, "request", None)
			if not request or (methods != "ALL" and request.method and request.method.upper() not in methods):
				return fn(*args, **kwargs)
			_check(_identity(key, ip_based), limit() if callable(limit) else limit, seconds)
			return fn(*args, **kwargs)

		return wrapper

	return ratelimit_decorator


def _identity(key: str | None, ip_based: bool) -> str:
	ip = getattr(frappe.local, "request_ip", None) if ip_based else None
	user_key = frappe.local.form_dict.get(key, "") if key else ""
	identity = f"{ip}:{user_key}" if key and ip_based else (ip or user_key)
	if not identity:
		frappe.throw(_("Either key or IP flag is required."))
	return identity


def _check(identity: str, limit: int, seconds: int | Callable) -> None:
	window = int(seconds() if callable(seconds) else seconds)
	cache = (
		frappe.cache() if callable(frappe.cache) and not hasattr(frappe.cache, "make_key") else frappe.cache
	)
	cache_key = cache.make_key(f"rl:{frappe.local.form_dict.get('cmd')}:{identity}")
	# SET NX + INCR keeps the window fixed from its first hit, as Frappe's setex-then-incrby does
	cache.set(cache_key, 0, ex=window, nx=True)
	if cache.incrby(cache_key, 1) > limit:
		frappe.throw(_(RATE_LIMIT_MESSAGE), frappe.RateLimitExceededError)
