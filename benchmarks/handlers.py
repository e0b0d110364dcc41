"""Bench-only functions that workers run (importable from a worker: the repo root is on its path).

Contract: nothing here is used by the app. ``raw_noop`` is the raw-RQ baseline's job body;
``progress_stamps`` is a Job Type handler that emits progress updates spaced at least one throttle
window apart, each carrying its send time (``repr(time.time())``) as the message so a client on the same
machine can compute the delivery latency of every single update.
"""

import time
from typing import Any

COUNTER_TTL_SECONDS = 3600


def raw_noop(counter_key: str | None = None) -> None:
	"""Does nothing but count itself done (one Redis INCR), so the bench sees when all have run."""
	if counter_key:
		from frappe.utils.background_jobs import get_redis_conn

		conn = get_redis_conn()
		conn.incr(counter_key)
		conn.expire(counter_key, COUNTER_TTL_SECONDS)


def progress_stamps(ctx: Any) -> dict:
	"""``updates`` progress updates, ``interval`` seconds apart (≥ the 0.25 s throttle window, so none is
	held back), after ``start_delay`` seconds that let the bench subscribe first."""
	updates = int(ctx.parameters.get("updates", 100))
	interval = float(ctx.parameters.get("interval", 0.3))
	time.sleep(float(ctx.parameters.get("start_delay", 1.0)))
	for step in range(1, updates + 1):
		time.sleep(interval)
		# Below 100 %: a 100 % update bypasses the throttle and would not measure the normal path.
		ctx.update_progress(99 * step / updates, repr(time.time()))
	return {"updates": updates}
