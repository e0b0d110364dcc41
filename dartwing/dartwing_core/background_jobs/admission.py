"""Admission of a submission: the one object that decides, before anything is written, whether a new
job may enter an organization's queue — the Job Type's per-organization rate limit and its queued cap —
and gives back what it took when the job is not created after all.

Contract:
- ``Admission.admit(organization, job_type_row, count=1)`` runs one Lua script in the queue's Redis per
  submission that is not deduplicated (a bulk submission admits its ``count`` new jobs in that one script,
  all or none: the rate limit and the queued cap count every one of them) (it is also the engine's proof that Redis is reachable: any
  Redis error becomes ``JobSubmissionUnavailable``, 503). It raises ``TooManyJobs`` or returns the
  admission. ``check_cap()`` then raises ``QueueFull`` (giving the slot back) when the organization has
  the cap of waiting jobs; ``release()`` gives the rate slot back when the submission ends without a
  new job (a deduplication race). A rollback gives it back too.
- Rate limit: at most ``rate_limit_count`` admissions in any ``rate_limit_window_seconds``, a sorted set
  per (site, job type, organization) pruned, counted and appended atomically, so concurrent
  submitters can never exceed it together. A process that dies first leaves a slot that lapses with
  the window.
- Queued cap: counted in the database only when needed. The script keeps an upper bound of the
  waiting jobs: the last exact count plus every job that entered the queue since — admissions, and
  jobs sent back to Pending by a retry (``on_transitions``, a consequence of those status changes, run
  as they are made). Jobs leaving the queue only make it larger than the truth, so when it is
  below the cap the cap cannot be reached; otherwise, or when it is unknown or older than
  ``BOUND_MAX_AGE_SECONDS``, the cap is checked by a count. Like the count, it cannot see submissions
  still uncommitted elsewhere: under concurrency a cap can be passed by about the number of submitters
  in flight, which ``RECOUNT_MARGIN`` absorbs.
- Redis losing its data empties the windows (one window admits more) and the bounds (the next
  submissions count in the database).

The same mechanism admits a job's start, when dispatch moves it Pending → Queued (``StartAdmission``):
- Global running cap (``max_running_global``, 0 = none): a count in the database of the type's
  Queued + Running jobs of every organization, taken by a dispatch that holds the Job Type row's lock
  (``lock_limited_types``, taken before the dispatch's first read, so its view includes every
  job queued by the previous holder). Dispatchers of one limited type are serialized, on every host:
  the cap can never be passed.
- Start rate (``rate_limit_starts`` per ``rate_limit_starts_window_seconds``, 0 = none): a sorted set per
  (site, job type) of the starts in the window, pruned, counted and appended by one script with Redis's
  own clock, so dispatchers on hosts with different clocks share one window. A dispatch that rolls
  back gives its starts back. ``take_start`` answers either a slot or the seconds until the next one.
  Redis losing its data empties the window (one window may admit up to twice the rate).
"""

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import config
from dartwing.dartwing_core.background_jobs.errors import JobSubmissionUnavailable, QueueFull, TooManyJobs
from dartwing.dartwing_core.background_jobs.transitions import WAITING, JobStatus, status_tuple

BOUND_TTL_SECONDS = 86400  # an organization idle this long loses its bound (recounted when it returns)
BOUND_MAX_AGE_SECONDS = 60  # an exact count is trusted this long; then the next submission counts again
RECOUNT_MARGIN = 16  # count in the database once the bound comes this close to the cap

_ADMIT = """
local count = tonumber(ARGV[7])
if tonumber(ARGV[3]) > 0 then
	redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
	if redis.call('ZCARD', KEYS[1]) + count > tonumber(ARGV[3]) then
		return {0, -1, -1, -1}
	end
	if count == 1 then
		redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
	else
		for i = 1, count do
			redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4] .. ':' .. i)
		end
	end
	redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
end
local admitted = redis.call('HINCRBY', KEYS[2], 'admitted', count)
redis.call('EXPIRE', KEYS[2], ARGV[5])
local base = redis.call('HMGET', KEYS[2], 'counted', 'at', 'counted_at')
if not base[1] or not base[2] or not base[3] or tonumber(base[2]) > admitted - count
	or tonumber(ARGV[1]) - tonumber(base[3]) > tonumber(ARGV[6]) then
	return {1, admitted, -1, -1}
end
return {1, admitted, tonumber(base[1]), tonumber(base[2])}
"""


# One script both takes a start (ARGV[3] = 1) and only looks (0): pruned and counted with Redis's clock.
# Returns {taken, seconds until the next free slot (text: Lua numbers would be truncated), free starts}.
_START = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
	local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
	return {0, tostring(math.max(tonumber(oldest[2]) + window - t, 0)), 0}
end
if tonumber(ARGV[3]) == 1 then
	redis.call('ZADD', KEYS[1], t, ARGV[4])
	redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
end
return {1, '0', tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])}
"""


@dataclass(frozen=True)
class Slot:
	key: str
	member: str
	count: int = 1  # a bulk admission takes ``count`` slots: member:1 … member:count

	@property
	def members(self) -> list[str]:
		if self.count == 1:
			return [self.member]
		return [f"{self.member}:{i}" for i in range(1, self.count + 1)]


@dataclass
class Admission:
	"""One submission's admission into an organization's queue of one Job Type."""

	organization: str
	job_type: Mapping[str, Any]  # the Job Type row: name, rate limit, max_queued_per_org
	slot: Slot | None  # the rate slot taken (None: the Job Type has no rate limit)
	admitted: int  # jobs of the type that entered this organization's queue so far, this one included
	waiting_bound: int | None  # at most this many jobs wait before this one (None: unknown)
	count: int = 1  # jobs this admission lets in (a bulk submission's new jobs)

	@classmethod
	def admit(cls, organization: str, job_type: Mapping[str, Any], count: int = 1) -> "Admission":
		"""Take ``count`` rate slots and read the waiting bound, or raise TooManyJobs /
		JobSubmissionUnavailable. All or none: the script refuses when the window has fewer free slots."""
		if count < 1:
			raise ValueError("an admission lets in at least one job")
		limit = max(int(job_type.get("rate_limit_count") or 0), 0)
		window = min(
			max(int(job_type.get("rate_limit_window_seconds") or 0), 1), config.MAX_RATE_LIMIT_WINDOW_SECONDS
		)
		slot = Slot(key=_key("rate", organization, job_type["name"]), member=uuid.uuid4().hex, count=count)
		keys = (slot.key, _key("waiting", organization, job_type["name"]))
		try:
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
				count,
			)
		except Exception:
			_refuse_unavailable()
		if not ok:
			frappe.throw(
				_("Too many jobs: at most {0} {1} jobs per {2} seconds").format(
					limit, job_type["name"], window
				),
				TooManyJobs,
			)
		if limit:
			frappe.db.after_rollback.add(lambda: _give_back(slot))
		bound = None if counted < 0 else int(counted) + int(admitted) - count - int(at)
		return cls(organization, job_type, slot if limit else None, int(admitted), bound, count)

	@property
	def cap(self) -> int:
		return int(self.job_type.get("max_queued_per_org") or config.DEFAULT_MAX_QUEUED_PER_ORG)

	def check_cap(self) -> None:
		"""Raise QueueFull (and release the slot) when the organization already has ``cap`` jobs of the
		type waiting. The database is asked only when the bound does not prove the cap is far away."""
		if self.waiting_bound is not None and self.waiting_bound + self.count - 1 + RECOUNT_MARGIN < self.cap:
			return
		waiting = frappe.db.sql(
			"""SELECT COUNT(*) FROM `tabBackground Job`
			WHERE status IN %(waiting)s AND organization = %(org)s AND job_type = %(type)s""",
			{"waiting": _WAITING, "org": self.organization, "type": self.job_type["name"]},
		)[0][0]
		if waiting + self.count > self.cap:
			self.release()
			frappe.throw(
				_("Queue full: {0} already has {1} {2} jobs waiting").format(
					self.organization, waiting, self.job_type["name"]
				),
				QueueFull,
			)
		self._remember_waiting(waiting)

	def release(self) -> None:
		"""Give the rate slot back: the submission created no job (best effort: it lapses with its window)."""
		_give_back(self.slot)

	def _remember_waiting(self, waiting: int) -> None:
		"""Store an exact count of waiting jobs, taken after this admission and before its job's insert."""
		key = _key("waiting", self.organization, self.job_type["name"])
		try:
			conn = _redis()
			conn.hset(
				key,
				mapping={
					"counted": waiting,
					"at": self.admitted - self.count,
					"counted_at": repr(time.time()),
				},
			)
			conn.expire(key, BOUND_TTL_SECONDS)
		except Exception:  # best effort: without a bound the next submission counts again
			frappe.logger("dartwing.jobs").warning(f"Could not store the waiting bound {key}")


_WAITING = status_tuple(WAITING)


def on_transitions(changes: list[Any]) -> None:
	"""Consequence of status changes (``state.ON_TRANSITION``), as they are made: each job of a type
	that rejoined an organization's queue without an admission (a retry) grows that bound by one. Best
	effort: if Redis cannot be reached, the bound is at most ``BOUND_MAX_AGE_SECONDS`` old anyway."""
	grown: dict[str, int] = {}
	for change in changes:
		if change.rejoined_queue:
			key = _key("waiting", change.organization, change.job_type)
			grown[key] = grown.get(key, 0) + 1
	if not grown:
		return
	try:
		pipe = _redis().pipeline(transaction=False)
		for key, count in grown.items():
			pipe.hincrby(key, "admitted", count)
		pipe.execute()
	except Exception:
		frappe.logger("dartwing.jobs").warning(f"Could not grow the waiting bounds {sorted(grown)}")


@dataclass(frozen=True)
class StartWindow:
	"""A Job Type's start rate as dispatch and ``waiting_for`` see it."""

	limit: int  # starts per window (0: no start rate)
	window_seconds: int

	@classmethod
	def of(cls, job_type: Mapping[str, Any]) -> "StartWindow":
		window = int(job_type.get("rate_limit_starts_window_seconds") or 0)
		window = window or config.DEFAULT_START_RATE_WINDOW_SECONDS
		return cls(
			max(int(job_type.get("rate_limit_starts") or 0), 0),
			min(max(window, 1), config.MAX_START_RATE_WINDOW_SECONDS),
		)


def limited_types(organization: str | None = None) -> list[str]:
	"""The enabled Job Types with a global running cap (their dispatches must hold the type's lock);
	with ``organization``, only those it has Pending jobs of: a dispatch locks no type it cannot queue,
	so other organizations' dispatches of other types stay parallel. A job of a capped type that turns
	Pending after this read is skipped by that dispatch (``gates.Gate.UNLOCKED``) and queued by its own
	submission's or the next dispatch."""
	if organization is None:
		return frappe.db.sql_list(
			"SELECT name FROM `tabJob Type` WHERE enabled = 1 AND max_running_global > 0 ORDER BY name"
		)
	return frappe.db.sql_list(
		"""SELECT t.name FROM `tabJob Type` t WHERE t.enabled = 1 AND t.max_running_global > 0
			AND EXISTS (SELECT 1 FROM `tabBackground Job` j
				WHERE j.organization = %(org)s AND j.job_type = t.name AND j.status = %(pending)s)
		ORDER BY t.name""",
		{"org": organization, "pending": JobStatus.PENDING.value},
	)


def shared_types() -> list[str]:
	"""The enabled Job Types whose limits span organizations (a global running cap or a start rate):
	what one of their jobs frees (a slot, a start of the window) is shared between the organizations
	waiting for the type, not handed back to the one that freed it (``dispatcher.follow_up``)."""
	return frappe.db.sql_list(
		"""SELECT name FROM `tabJob Type` WHERE enabled = 1 AND (max_running_global > 0 OR rate_limit_starts > 0)
		ORDER BY name"""
	)


def lock_limited_types(names: list[str]) -> list[str]:
	"""Lock the named Job Type rows (name order, so two dispatchers never wait on each other in a
	cycle) until the transaction ends. Called before the dispatch's first plain read: its view then
	includes every job the previous holder queued, so the global count it reads is exact."""
	if not names:
		return []
	return frappe.db.sql_list(
		"SELECT name FROM `tabJob Type` WHERE name IN %(names)s ORDER BY name FOR UPDATE",
		{"names": tuple(sorted(names))},
	)


def take_start(job_type: str, window: StartWindow) -> float:
	"""Take one start of the type's window for a job about to be queued in this transaction: 0.0 when
	taken (given back if the transaction rolls back), else the seconds until a slot frees. Raises when
	Redis cannot be reached (the dispatch fails and is retried by the next one; nothing is queued)."""
	if not window.limit:
		return 0.0
	member = uuid.uuid4().hex
	key = _start_key(job_type)
	taken, wait, _free = _redis().eval(_START, 1, key, window.window_seconds, window.limit, 1, member)
	if not taken:
		return max(float(wait), 0.001)
	frappe.db.after_rollback.add(lambda: _give_back(Slot(key=key, member=member)))
	return 0.0


def next_start_in(job_type: str, window: StartWindow) -> float:
	"""Seconds until the type's window has a free start (0.0: free now); takes nothing."""
	return _peek(job_type, window)[0]


def free_starts(job_type: str, window: StartWindow) -> int | None:
	"""Starts the type's window has free now (None: no start rate); takes nothing."""
	return _peek(job_type, window)[1] if window.limit else None


def _peek(job_type: str, window: StartWindow) -> tuple[float, int]:
	if not window.limit:
		return 0.0, 0
	taken, wait, free = _redis().eval(
		_START, 1, _start_key(job_type), window.window_seconds, window.limit, 0, ""
	)
	return (0.0, int(free)) if taken else (max(float(wait), 0.001), 0)


def starts_in_window(job_type: str, window_seconds: int) -> int:
	"""Starts taken in the last ``window_seconds`` (for tests and operators)."""
	key = _start_key(job_type)
	conn = _redis()
	conn.zremrangebyscore(key, "-inf", time.time() - window_seconds)
	return int(conn.zcard(key))


def _start_key(job_type: str) -> str:
	return f"dartwing:starts:{frappe.local.site}:{job_type}"


def used(organization: str, job_type: str, window_seconds: int) -> int:
	"""Rate slots taken in the last ``window_seconds`` (for tests and operators)."""
	key = _key("rate", organization, job_type)
	conn = _redis()
	conn.zremrangebyscore(key, "-inf", time.time() - window_seconds)
	return int(conn.zcard(key))


def _give_back(slot: Slot | None) -> None:
	if slot is None:
		return
	try:
		_redis().zrem(slot.key, *slot.members)
	except Exception:
		frappe.logger("dartwing.jobs").warning(f"Could not give back rate slot {slot.key}")


def _refuse_unavailable():
	frappe.log_error(title="Job submission: queue service unavailable")
	frappe.throw(
		_("Job submission temporarily unavailable. Please try again shortly."), JobSubmissionUnavailable
	)


def _key(kind: str, organization: str, job_type: str) -> str:
	return f"dartwing:{kind}:{frappe.local.site}:{job_type}:{organization}"


def _redis():
	from frappe.utils.background_jobs import get_redis_conn

	return get_redis_conn()
