"""Admission of a submission, checked in the queue's Redis before anything is written: the Job Type's
per-organization rate limit, and an upper bound of the organization's waiting jobs of that type that
spares the database count while the queued cap is far away.

Contract:
- ``admit(organization, job_type_row)`` runs one Lua script per submission that is not deduplicated
  (it is also the engine's proof that Redis is reachable). It raises ``TooManyJobs`` or returns an
  ``Admission``.
- Rate limit: at most ``rate_limit_count`` admissions in any ``rate_limit_window_seconds``, a sorted set
  per (site, job type, organization) pruned, counted and appended atomically, so concurrent
  submitters can never exceed it together. A slot belongs to the caller's transaction: it is given
  back on rollback, and by ``give_back`` when the submission ends without a new job. A process that
  dies first leaves a slot that lapses with the window.
- Waiting bound: the last exact count of waiting jobs (``remember_waiting``) plus every job that
  entered the queue since: admissions, and jobs sent back to Pending by a retry (``note_back_in_queue``,
  called by the status transition). Jobs leaving the queue only make it larger than the truth, so when
  it is below the cap the cap cannot be reached; otherwise, or when it is unknown or older than
  ``BOUND_MAX_AGE_SECONDS``, the engine counts in the database. Like the database count, it cannot see
  submissions still uncommitted elsewhere: under concurrency a cap can be passed by about the number of
  submitters in flight, which ``RECOUNT_MARGIN`` absorbs.
- Redis losing its data empties the windows (one window admits more) and the bounds (the next
  submissions count in the database).
"""

import time
import uuid
from dataclasses import dataclass

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import config

BOUND_TTL_SECONDS = 86400  # an organization idle this long loses its bound (recounted when it returns)
BOUND_MAX_AGE_SECONDS = 60  # an exact count is trusted this long; then the next submission counts again
RECOUNT_MARGIN = 16  # count in the database once the bound comes this close to the cap

# KEYS[1] rate window (sorted set), KEYS[2] waiting bound (hash: counted, at, counted_at, admitted).
# ARGV: now (s), window (s), limit (0: none), member, bound ttl (s), bound max age (s).
# Returns {admitted (0/1), entries so far, counted or -1, entries when counted or -1}. A count older
# than the max age, or not older than the entries (the hash was lost and rebuilt), is unknown (-1).
_ADMIT = """
if tonumber(ARGV[3]) > 0 then
	redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
	if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
		return {0, -1, -1, -1}
	end
	redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
	redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
end
local admitted = redis.call('HINCRBY', KEYS[2], 'admitted', 1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
local base = redis.call('HMGET', KEYS[2], 'counted', 'at', 'counted_at')
if not base[1] or not base[2] or not base[3] or tonumber(base[2]) >= admitted
	or tonumber(ARGV[1]) - tonumber(base[3]) > tonumber(ARGV[6]) then
	return {1, admitted, -1, -1}
end
return {1, admitted, tonumber(base[1]), tonumber(base[2])}
"""


class TooManyJobs(frappe.ValidationError):
	http_status_code = 429


@dataclass(frozen=True)
class Slot:
	key: str
	member: str


@dataclass(frozen=True)
class Admission:
	slot: Slot | None  # the rate slot taken (None: the Job Type has no rate limit)
	admitted: int  # jobs of the type that entered this organization's queue so far, this one included
	waiting_bound: int | None  # at most this many jobs wait before this one (None: unknown)


def admit(organization: str, job_type: frappe._dict) -> Admission:
	"""Admit one submission of ``job_type`` (a Job Type row with ``name``, ``rate_limit_count``,
	``rate_limit_window_seconds``) in ``organization``, or raise TooManyJobs."""
	limit = max(int(job_type.rate_limit_count or 0), 0)
	window = min(max(int(job_type.rate_limit_window_seconds or 0), 1), config.MAX_RATE_LIMIT_WINDOW_SECONDS)
	slot = Slot(key=_key("rate", organization, job_type.name), member=uuid.uuid4().hex)
	keys = (slot.key, _key("waiting", organization, job_type.name))
	ok, admitted, counted, at = _redis().eval(
		_ADMIT,
		2,
		*keys,
		repr(time.time()),
		window,
		limit,
		slot.member,
		BOUND_TTL_SECONDS,
		BOUND_MAX_AGE_SECONDS,
	)
	if not ok:
		frappe.throw(
			_("Too many jobs: at most {0} {1} jobs per {2} seconds").format(limit, job_type.name, window),
			TooManyJobs,
		)
	if limit:
		frappe.db.after_rollback.add(lambda: give_back(slot))
	bound = None if counted < 0 else int(counted) + int(admitted) - 1 - int(at)
	return Admission(slot=slot if limit else None, admitted=int(admitted), waiting_bound=bound)


def bound_allows(admission: Admission, cap: int) -> bool:
	"""True when the waiting bound alone proves the organization is below the queued cap."""
	return admission.waiting_bound is not None and admission.waiting_bound + RECOUNT_MARGIN < cap


def remember_waiting(organization: str, job_type: str, admission: Admission, waiting: int) -> None:
	"""Store an exact count of waiting jobs, taken after ``admission`` and before this job's insert."""
	key = _key("waiting", organization, job_type)
	try:
		conn = _redis()
		conn.hset(
			key, mapping={"counted": waiting, "at": admission.admitted - 1, "counted_at": repr(time.time())}
		)
		conn.expire(key, BOUND_TTL_SECONDS)
	except Exception:  # best effort: without a bound the next submission counts again
		frappe.logger("dartwing.jobs").warning(f"Could not store the waiting bound {key}")


def note_back_in_queue(organization: str, job_type: str) -> None:
	"""A job of the type returned to Pending without an admission (a retry): the bound grows by one.
	Best effort: if Redis cannot be reached, the bound is at most ``BOUND_MAX_AGE_SECONDS`` old anyway."""
	key = _key("waiting", organization, job_type)
	try:
		_redis().hincrby(key, "admitted", 1)
	except Exception:
		frappe.logger("dartwing.jobs").warning(f"Could not grow the waiting bound {key}")


def give_back(slot: Slot | None) -> None:
	"""Return a rate slot whose submission created no job (best effort: it lapses with its window)."""
	if slot is None:
		return
	try:
		_redis().zrem(slot.key, slot.member)
	except Exception:
		frappe.logger("dartwing.jobs").warning(f"Could not give back rate slot {slot.key}")


def used(organization: str, job_type: str, window_seconds: int) -> int:
	"""Rate slots taken in the last ``window_seconds`` (for tests and operators)."""
	key = _key("rate", organization, job_type)
	conn = _redis()
	conn.zremrangebyscore(key, "-inf", time.time() - window_seconds)
	return int(conn.zcard(key))


def _key(kind: str, organization: str, job_type: str) -> str:
	return f"dartwing:{kind}:{frappe.local.site}:{job_type}:{organization}"


def _redis():
	from frappe.utils.background_jobs import get_redis_conn

	return get_redis_conn()
