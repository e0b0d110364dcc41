"""Fair dispatch: the database is the queue of record, RQ holds only jobs allowed to run now.

Contract:
- ``dispatch_org(org)`` moves an organization's ready Pending jobs to Queued, highest priority and
  oldest first, while every gate of ``gates.py`` is open: the site has no switch set (maintenance,
  paused scheduler), the organization is Active, the job type is not paused, under its
  ``max_running_per_org`` (Queued + Running) and its ``max_running_global`` (every organization), and
  its start window has a free start (``admission.take_start``). Dispatch of one organization is
  serialized by a row lock on the Organization, and dispatch of a globally capped type by a row lock
  on its Job Type (``admission.lock_limited_types``, taken before the first read), so concurrent
  dispatchers on any host never exceed a cap. It never commits; the RQ enqueue happens after the
  caller's commit (``frappe.enqueue(enqueue_after_commit=True)``).
- ``dispatch_job_type(t)`` wakes the organizations waiting for a globally capped or rate-limited
  type, fewest slots of it held first, each for its share of the free starts (fair share under a
  global limit). It runs when such a type frees a slot, after a Job Type is saved or resumed
  (``schedule_job_type``), and on every scheduler tick for types that wait on their start window
  (``dispatch_limited_types``): a job over the rate is never left without a dispatch.
- ``enqueue()`` is the only function that hands a job to RQ. Each dispatch gets a fresh RQ job id,
  stored on the job; the worker claims with it, so a stale RQ job can never run a job twice.
- ``follow_up(changes)`` is a consequence of status changes (``state.ON_TRANSITION``), run after their
  commit: a job back to Pending, a freed running slot and a parent that ended each wake their
  organization's dispatch, narrowed to what they can change. ``schedule(org)`` wakes a whole
  organization after the current commit (an organization made Active again). Both dispatch in a
  transaction of their own, never inside the one that caused them: that transaction's read view may
  predate other workers' commits (REPEATABLE READ), and the organization lock would be held for its
  length.
- Pending jobs whose parent can never complete are dead-lettered here with the parent named.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import admission, config, dependencies, gates, state
from dartwing.dartwing_core.background_jobs.transitions import (
	PARENT_FAILED_FOR_GOOD,
	RETRY_WAITING,
	SLOT_HOLDING,
	JobStatus,
)

RUN_JOB = "dartwing.dartwing_core.background_jobs.executor.run_job"
_FLAG = "dartwing_dispatch_targets"
_TYPE_FLAG = "dartwing_dispatch_job_types"
_RANK = {priority: rank for rank, priority in enumerate(config.PRIORITIES_BY_RANK)}
_PRIORITY_VALUES = {f"p{rank}": priority for rank, priority in enumerate(config.PRIORITIES_BY_RANK)}
_BY_PRIORITY = "FIELD(priority, %(p0)s, %(p1)s, %(p2)s, %(p3)s), creation"
_STATUS_VALUES = state.status_values(
	pending=JobStatus.PENDING,
	slot_holding=SLOT_HOLDING,
	active=frozenset({JobStatus.PENDING, *SLOT_HOLDING}),
	retry_waiting=RETRY_WAITING,
	blocked=PARENT_FAILED_FOR_GOOD,
)
# The organization's jobs holding a slot of Job Type t (alias) now: Queued + Running.
_SLOTS_USED = """(SELECT COUNT(*) FROM `tabBackground Job` r
	WHERE r.status IN %(slot_holding)s AND r.organization = %(org)s AND r.job_type = t.name)"""
# Candidates read beyond a type's free slots: one blocked for good (dead-lettered, no slot taken) or
# one that moved meanwhile must not leave a slot idle while ready jobs wait behind it.
_CANDIDATE_SLACK = 4
_NONE = ("",)  # stands for an empty list in `IN %s` (SQL has no empty IN)


@dataclass
class Target:
	"""What one dispatch of an organization looks at. ``everything`` wins over the narrow parts."""

	everything: bool = False
	jobs: set[str] = field(default_factory=set)  # just submitted
	job_types: set[str] = field(default_factory=set)  # a running slot of these types was freed
	parents: set[str] = field(default_factory=set)  # ended: their dependents may be ready or blocked

	def merge(self, other: "Target") -> None:
		self.everything |= other.everything
		self.jobs |= other.jobs
		self.job_types |= other.job_types
		self.parents |= other.parents


def follow_up(changes: list[state.Change]) -> None:
	"""After a commit: dispatch what the committed status changes may have made possible."""
	targets: dict[str, Target] = {}
	pending_types: dict[str, set[str]] = {}
	# A freed slot of a globally capped or rate-limited type goes to the organization that holds fewest
	# of it, not back to the one that freed it: those types are woken across organizations (fair share).
	capped = set(admission.shared_types()) if any(change.frees_slot for change in changes) else set()
	woken: set[str] = set()
	for change in changes:
		freed_here = change.frees_slot and change.job_type not in capped
		if change.frees_slot and not freed_here:
			woken.add(change.job_type)
		narrow = Target(
			jobs={change.name} if change.entered_pending else set(),
			job_types={change.job_type} if freed_here else set(),
			parents={change.name} if change.ended else set(),
		)
		if narrow.jobs or narrow.job_types or narrow.parents:
			targets.setdefault(change.organization, Target()).merge(narrow)
		if change.entered_pending:
			pending_types.setdefault(change.organization, set()).add(change.job_type)
	for organization in sorted(targets):
		target = targets[organization]
		if len(target.jobs) > config.SWEEP_BATCH_SIZE:
			# a bulk submission: read its types' next ready jobs from the index, not every job by name
			target.job_types |= pending_types[organization]
			target.jobs = set()
		dispatch_now(organization, target)
	for job_type in sorted(woken):
		dispatch_job_type(job_type)


def schedule(organization: str) -> None:
	"""Dispatch every Pending job of ``organization`` once the current transaction has committed."""
	targets: set[str] | None = frappe.flags.get(_FLAG)
	if targets is None:
		targets = frappe.flags[_FLAG] = set()
		frappe.db.after_commit.add(_run_scheduled)
		frappe.db.after_rollback.add(_forget_scheduled)
	targets.add(organization)


def _forget_scheduled() -> None:
	frappe.flags.pop(_FLAG, None)


def _run_scheduled() -> None:
	for organization in sorted(frappe.flags.pop(_FLAG, None) or ()):
		dispatch_now(organization)


def dispatch_now(
	organization: str, target: Target | None = None, *, limit: int = config.SWEEP_BATCH_SIZE
) -> int:
	"""Dispatch one organization in its own transaction; errors are logged, never raised."""
	if gates.site_switch():
		return 0  # nothing starts while the site is in maintenance or its scheduler is paused
	try:
		if target is not None and _caps_taken(organization, target):
			return 0  # it only read; its view (taken after the caller's commit) is all it needed
		limited = admission.limited_types(
			organization
		)  # read before the commit: the locked view starts later
		# The locked dispatch must read a view taken after it holds the organization lock: under
		# REPEATABLE READ a view opened earlier (the look-ahead, a sweep's list of organizations)
		# would hide what the previous lock holder queued, and a cap could be passed.
		frappe.db.commit()
		count = dispatch_org(organization, target=target, limit=limit, limited=limited)
		frappe.db.commit()
		return count
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Dispatch failed for {organization}")
		return 0


def dispatch_org(
	organization: str,
	*,
	target: Target | None = None,
	limit: int = config.SWEEP_BATCH_SIZE,
	limited: list[str] | None = None,
) -> int:
	"""Queue what may run now for one organization; returns how many jobs were queued. ``limited``
	(the globally capped types, read by the caller before its transaction began) are locked first;
	a direct caller that passes none reads them here, inside its own view."""
	if gates.site_switch():
		return 0
	target = target or Target(everything=True)
	org_status = frappe.db.sql(
		"SELECT status FROM `tabOrganization` WHERE name = %(org)s FOR UPDATE",
		{"org": organization},
		pluck=True,
	)
	locked = admission.lock_limited_types(
		admission.limited_types(organization) if limited is None else limited
	)
	slots = gates.type_states(organization, None if target.everything else target.job_types, locked)
	open_types = {name: row.free for name, row in slots.items() if gates.type_gate(row) is None}
	pending = _pending_jobs(organization, target, open_types, limit)
	if not pending:
		return 0
	slots.update(gates.type_states(organization, {job.job_type for job in pending} - set(slots), locked))
	if not org_status:
		_dead_letter_all(pending, _("Organization not found"))
		return 0
	if gates.organization_gate(org_status[0]):
		return 0
	return _dispatch_ready(pending, slots)


def _caps_taken(organization: str, target: Target) -> bool:
	"""Look-ahead of ``dispatch_now``, without the organization lock, for a dispatch that only looks at
	named jobs (after a submission or a scheduled retry): True when each of their types already has the
	organization's running cap taken and none has parents, so the locked dispatch could do nothing
	with them (a job with parents is left to it: a parent that ended for good dead-letters it at once).
	Skipping loses nothing: every job that gives a slot back schedules a dispatch of its type after its
	commit, and that dispatch reads a view taken after this one's jobs were committed, so it sees them
	Pending. This read comes after the caller's commit (``schedule`` runs after it), so it sees every
	slot given back before that."""
	if target.everything or target.job_types or target.parents or not target.jobs:
		return False
	rows = frappe.db.sql(
		f"""SELECT t.max_running_per_org AS cap, {_SLOTS_USED} AS used,
			(SELECT COUNT(*) FROM `tabBackground Job Dependency` d WHERE d.parent IN %(jobs)s) AS with_parents
		FROM `tabJob Type` t
		WHERE t.enabled = 1 AND t.name IN (SELECT job_type FROM `tabBackground Job` WHERE name IN %(jobs)s)""",
		{"org": organization, "jobs": tuple(target.jobs), **_STATUS_VALUES},
		as_dict=True,
	)
	if any(row.with_parents for row in rows):
		return False
	return all(row.used >= _cap(row.cap) for row in rows)


def _dispatch_ready(pending: list[frappe._dict], slots: dict[str, gates.TypeState]) -> int:
	# Only jobs with parents need their parents' statuses (the candidates' queries count them).
	verdicts = dependencies.verdicts([job.name for job in pending if job.parent_count])
	window_full: set[str] = set()  # types whose start window refused a start in this dispatch
	queued = 0
	for job in pending:
		verdict = verdicts.get(job.name, dependencies.READY)
		if verdict.readiness is dependencies.Readiness.BLOCKED:
			state.transition(
				job, JobStatus.DEAD_LETTER, message=verdict.reason, updates=_blocked_updates(verdict)
			)
			continue
		type_state = slots.get(job.job_type)
		if verdict.readiness is dependencies.Readiness.WAITING or type_state is None:
			continue
		if gates.type_gate(type_state) or job.job_type in window_full:
			continue
		if admission.take_start(job.job_type, type_state.window):
			window_full.add(job.job_type)  # the sweep of each tick dispatches it when a start frees
			continue
		if enqueue(job, queue_override=type_state.queue):
			type_state.took_slot()
			queued += 1
	return queued


def enqueue(job: Mapping[str, Any], *, queue_override: str = "", message: str = "") -> bool:
	"""Pending → Queued and hand the job to RQ after commit. False when the job moved meanwhile."""
	from frappe.utils.background_jobs import create_job_id

	queue, at_front = config.queue_for(job["priority"], queue_override or "")
	token = f"{job['name']}-{int(job.get('retry_count') or 0)}-{frappe.generate_hash(length=6)}"
	rq_job_id = create_job_id(token)
	updates = {"queue": queue, "rq_job_id": rq_job_id, "enqueued_at": now_datetime()}
	if not state.transition(job, JobStatus.QUEUED, message=message or _("Dispatched"), updates=updates):
		return False
	frappe.enqueue(
		RUN_JOB,
		queue=queue,
		timeout=rq_timeout(job),
		job_id=token,
		enqueue_after_commit=True,
		at_front=at_front,
		background_job=job["name"],
		dispatch_token=rq_job_id,
	)
	return True


def rq_timeout(job: Mapping[str, Any]) -> int:
	"""RQ's time limit for a job's work horse: the handler's timeout is enforced by the engine
	(``context.HandlerDeadline``, then the side channel's hard kill), so RQ only stops a horse that
	outlives both by ``RQ_TIMEOUT_MARGIN_SECONDS``."""
	timeout = int(job.get("timeout_seconds") or config.DEFAULT_TIMEOUT_SECONDS)
	return timeout + config.TIMEOUT_KILL_GRACE_SECONDS + config.RQ_TIMEOUT_MARGIN_SECONDS


def schedule_job_type(job_type: str) -> None:
	"""Wake every organization waiting for ``job_type`` once the current transaction has committed
	(a Job Type saved or resumed: a cap raised or a pause lifted may let its jobs start)."""
	types: set[str] | None = frappe.flags.get(_TYPE_FLAG)
	if types is None:
		types = frappe.flags[_TYPE_FLAG] = set()
		frappe.db.after_commit.add(_run_scheduled_types)
		frappe.db.after_rollback.add(lambda: frappe.flags.pop(_TYPE_FLAG, None))
	types.add(job_type)


def _run_scheduled_types() -> None:
	for job_type in sorted(frappe.flags.pop(_TYPE_FLAG, None) or ()):
		dispatch_job_type(job_type)


def dispatch_job_type(job_type: str, limit: int = config.SWEEP_BATCH_SIZE) -> int:
	"""Dispatch the organizations with Pending jobs of ``job_type``, fewest of its slots held first,
	each for at most its share of the starts free now (the locked dispatch decides exactly). Errors
	are logged, never raised (it runs after commits, like ``dispatch_now``)."""
	if gates.site_switch():
		return 0
	try:
		organizations = _organizations_waiting_for(job_type, limit)
		free = _free_starts(job_type)
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Dispatch failed for job type {job_type}")
		return 0
	queued = 0
	for index, organization in enumerate(organizations):
		if queued >= free:
			break
		share = max(-(-(free - queued) // (len(organizations) - index)), 1)
		queued += dispatch_now(organization, Target(job_types={job_type}), limit=share)
	return queued


def dispatch_limited_types() -> int:
	"""Scheduler tick: dispatch waiting jobs of the types with a global cap or a start rate whose
	limit has room again (a start window that opened, a slot freed where no follow-up saw it)."""
	names = frappe.db.sql_list(
		"""SELECT t.name FROM `tabJob Type` t WHERE t.enabled = 1 AND t.paused = 0
			AND (t.max_running_global > 0 OR t.rate_limit_starts > 0)
			AND EXISTS (SELECT 1 FROM `tabBackground Job` j WHERE j.status = %(pending)s AND j.job_type = t.name)
		ORDER BY t.name""",
		_STATUS_VALUES,
	)
	return sum(dispatch_job_type(name) for name in names)


def _organizations_waiting_for(job_type: str, limit: int) -> list[str]:
	"""Organizations with Pending jobs of the type, fewest of its slots held first (ties at random)."""
	return frappe.db.sql_list(
		"""SELECT w.organization FROM (SELECT DISTINCT organization FROM `tabBackground Job`
			WHERE status = %(pending)s AND job_type = %(type)s LIMIT %(limit)s) w
		ORDER BY (SELECT COUNT(*) FROM `tabBackground Job` r WHERE r.status IN %(slot_holding)s
			AND r.job_type = %(type)s AND r.organization = w.organization), RAND()""",
		{"type": job_type, "limit": limit, **_STATUS_VALUES},
	)


def _free_starts(job_type: str) -> int:
	"""An estimate of how many jobs of the type may start now (global cap and start window); each
	organization's dispatch then decides exactly under its locks."""
	rows = frappe.db.sql(
		f"""SELECT t.max_running_global, t.paused, t.rate_limit_starts, t.rate_limit_starts_window_seconds,
			{gates.GLOBAL_USED} AS used
		FROM `tabJob Type` t WHERE t.name = %(type)s AND t.enabled = 1""",
		{"type": job_type, **_STATUS_VALUES},
		as_dict=True,
	)
	if not rows or rows[0].paused:
		return 0
	row = rows[0]
	free = config.SWEEP_BATCH_SIZE
	if row.max_running_global:
		free = min(free, int(row.max_running_global) - int(row.used))
	window_free = admission.free_starts(job_type, admission.StartWindow.of(row))
	if window_free is not None:
		free = min(free, window_free)
	return max(free, 0)


def on_organization_update(doc: Any, method: str | None = None) -> None:
	"""doc_events hook: an organization that becomes Active again gets its waiting jobs dispatched."""
	if doc.status == "Active" and doc.has_value_changed("status"):
		schedule(doc.name)


def organizations_with_pending(
	after: str = "", limit: int = config.SWEEP_BATCH_SIZE, part: int = 0, parts: int = 1
) -> list[str]:
	"""The next ``limit`` organizations after ``after`` (name order) that have Pending jobs and may
	dispatch: Active ones, and ones that no longer exist (their dispatch dead-letters the jobs).
	Suspended organizations are left out here, so however many there are they take no place in a
	sweep's batch. Read from the (status, organization, …) index, one probe of Organization each.
	With ``parts`` > 1, only the organizations whose name hashes to ``part`` (CRC32 modulo ``parts``):
	disjoint shares of one walk for parallel sweepers."""
	share = "AND CRC32(j.organization) %% %(parts)s = %(part)s" if parts > 1 else ""
	return frappe.db.sql(
		f"""SELECT DISTINCT j.organization FROM `tabBackground Job` j
		LEFT JOIN `tabOrganization` o ON o.name = j.organization
		WHERE j.status = %(pending)s AND j.organization > %(after)s {share}
			AND (o.name IS NULL OR o.status = %(org_active)s)
		ORDER BY j.organization LIMIT %(limit)s""",
		{
			"after": after or "",
			"limit": limit,
			"part": part,
			"parts": parts,
			"org_active": "Active",
			**_STATUS_VALUES,
		},
		pluck=True,
	)


# True when job j has no parent that may still complete: jobs waiting on one are left out before the
# LIMIT, so they can never crowd out ready jobs (or their own parent) from a dispatch. Written as a
# scalar subquery so that it is evaluated per candidate through the child table's `parent` index
# (MariaDB turns NOT EXISTS into a materialization of every waiting child, a scan of the whole
# dependency table on each dispatch).
_NO_WAITING_PARENT = """(SELECT COUNT(*) FROM `tabBackground Job Dependency` w
	JOIN `tabBackground Job` wp ON wp.name = w.depends_on
	WHERE w.parent = j.name AND (wp.status IN %(active)s
		OR (wp.status IN %(retry_waiting)s AND wp.next_retry_at IS NOT NULL))) = 0"""
_PARENT_COUNT = (
	"(SELECT COUNT(*) FROM `tabBackground Job Dependency` pc WHERE pc.parent = j.name) AS parent_count",
)
_SCOPE_EVERYTHING = """(j.job_type IN %(open)s OR j.name IN (
	SELECT d.parent FROM `tabBackground Job Dependency` d
	JOIN `tabBackground Job` p ON p.name = d.depends_on WHERE p.status IN %(blocked)s))"""


def _pending_jobs(
	organization: str, target: Target, open_types: Mapping[str, int], limit: int
) -> list[frappe._dict]:
	"""Pending jobs worth a look, highest priority and oldest first: of a type with a free slot, and
	dependents of ended parents (ready, or blocked for good). A narrowed target reads its named jobs
	and its parents' dependents, and of each freed type only as many jobs as it has free slots."""
	if target.everything:
		return _pending_everywhere(organization, list(open_types), limit)
	rows = _pending_named(organization, target, limit) if target.jobs or target.parents else []
	for job_type in sorted(target.job_types & set(open_types)):
		rows += _next_of_type(organization, job_type, open_types[job_type] + _CANDIDATE_SLACK)
	unique = {row.name: row for row in rows}.values()
	return sorted(unique, key=lambda row: (_RANK.get(row.priority, len(_RANK)), row.creation))[:limit]


def _pending_everywhere(organization: str, open_types: list[str], limit: int) -> list[frappe._dict]:
	return state.select(
		f"j.status = %(pending)s AND j.organization = %(org)s AND {_SCOPE_EVERYTHING} AND {_NO_WAITING_PARENT}",
		{"org": organization, "open": tuple(open_types) or _NONE, **_STATUS_VALUES, **_PRIORITY_VALUES},
		order_by=_BY_PRIORITY,
		limit=limit,
		extra_columns=_PARENT_COUNT,
	)


def _pending_named(organization: str, target: Target, limit: int) -> list[frappe._dict]:
	"""The target's own jobs (by primary key) and its parents' dependents (by the `depends_on` index)."""
	ready = f"j.status = %(pending)s AND j.organization = %(org)s AND {_NO_WAITING_PARENT}"
	columns = ", ".join((state.ROW_SELECT, *_PARENT_COUNT))
	return frappe.db.sql(
		f"""SELECT {columns} FROM `tabBackground Job` j WHERE j.name IN %(jobs)s AND {ready}
		UNION
		SELECT {columns} FROM `tabBackground Job Dependency` d
		JOIN `tabBackground Job` j ON j.name = d.parent
		WHERE d.depends_on IN %(parents)s AND {ready}
		ORDER BY {_BY_PRIORITY}
		LIMIT %(limit)s""",
		{
			"org": organization,
			"jobs": tuple(target.jobs) or _NONE,
			"parents": tuple(target.parents) or _NONE,
			"limit": limit,
			**_STATUS_VALUES,
			**_PRIORITY_VALUES,
		},
		as_dict=True,
	)


def _next_of_type(organization: str, job_type: str, count: int) -> list[frappe._dict]:
	"""The next ``count`` ready jobs of each priority of one type, in (status, organization, job_type,
	priority, creation) index order: each read stops after ``count`` rows instead of sorting the
	whole backlog."""
	columns = ", ".join((state.ROW_SELECT, *_PARENT_COUNT))
	branch = f"""(SELECT {columns} FROM `tabBackground Job` j
		WHERE j.status = %(pending)s AND j.organization = %(org)s AND j.job_type = %(type)s
			AND j.priority = %({{0}})s AND {_NO_WAITING_PARENT}
		ORDER BY j.creation LIMIT %(count)s)"""
	return frappe.db.sql(
		" UNION ALL ".join(branch.format(key) for key in _PRIORITY_VALUES),
		{"org": organization, "type": job_type, "count": count, **_STATUS_VALUES, **_PRIORITY_VALUES},
		as_dict=True,
	)


def _cap(max_running_per_org: Any) -> int:
	return int(max_running_per_org or config.DEFAULT_MAX_RUNNING_PER_ORG)


def _blocked_updates(verdict: dependencies.Verdict) -> dict[str, Any]:
	return {
		"error_type": "DependencyFailed",
		"error_message": verdict.reason,
		"completed_at": now_datetime(),
		"dedup_key": None,
	}


def _dead_letter_all(jobs: list[frappe._dict], reason: str) -> None:
	updates = {"error_type": "OrganizationNotFound", "error_message": reason, "completed_at": now_datetime()}
	for job in jobs:
		state.transition(job, JobStatus.DEAD_LETTER, message=reason, updates={**updates, "dedup_key": None})
