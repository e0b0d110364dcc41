"""Per-organization submission rate of a Job Type: at most ``rate_limit_count`` jobs in any
``rate_limit_window_seconds``, counted in the queue's Redis.

Contract:
- ``take_slot`` admits a submission or raises ``TooManyJobs``. One Lua script prunes the window, counts
  and records in a sorted set per (site, organization, job type), atomically: concurrent submitters
  can never exceed the limit together (a count of rows in the database could, and costs a scan of
  the whole window on every submission).
- A slot belongs to the caller's transaction: it is given back when the transaction rolls back, and
  by ``give_back`` when the submission ends without a new job (deduplicated after all, or failed).
  A process that dies before either leaves a slot that lapses with the window.
- Redis losing its data (flush, restart without persistence) empties the windows: for one window
  more submissions are admitted. The queued cap, counted in the database, still bounds what waits.
"""

import time
import uuid
from dataclasses import dataclass

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import config

# KEYS[1] window; ARGV: now (s), window (s), limit, member. Returns 1 when admitted, 0 when full.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
	return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""


class TooManyJobs(frappe.ValidationError):
	http_status_code = 429


@dataclass(frozen=True)
class Slot:
	key: str
	member: str


def take_slot(organization: str, job_type: frappe._dict) -> Slot | None:
	"""Admit one submission of ``job_type`` (a Job Type row) in ``organization``, or raise TooManyJobs.
	None when the Job Type has no rate limit."""
	limit = int(job_type.rate_limit_count or 0)
	if limit <= 0:
		return None
	window = min(max(int(job_type.rate_limit_window_seconds or 0), 1), config.MAX_RATE_LIMIT_WINDOW_SECONDS)
	slot = Slot(key=_key(organization, job_type.name), member=uuid.uuid4().hex)
	admitted = _redis().eval(_TAKE, 1, slot.key, repr(time.time()), window, limit, slot.member)
	if not admitted:
		frappe.throw(
			_("Too many jobs: at most {0} {1} jobs per {2} seconds").format(limit, job_type.name, window),
			TooManyJobs,
		)
	frappe.db.after_rollback.add(lambda: give_back(slot))
	return slot


def give_back(slot: Slot | None) -> None:
	"""Return a slot whose submission created no job (best effort: it lapses with its window anyway)."""
	if slot is None:
		return
	try:
		_redis().zrem(slot.key, slot.member)
	except Exception:
		frappe.logger("dartwing.jobs").warning(f"Could not give back rate slot {slot.key}")


def used(organization: str, job_type: str, window_seconds: int) -> int:
	"""Submissions counted in the current window (for tests and operators)."""
	key = _key(organization, job_type)
	conn = _redis()
	conn.zremrangebyscore(key, "-inf", time.time() - window_seconds)
	return int(conn.zcard(key))


def _key(organization: str, job_type: str) -> str:
	return f"dartwing:rate:{frappe.local.site}:{job_type}:{organization}"


def _redis():
	from frappe.utils.background_jobs import get_redis_conn

	return get_redis_conn()
