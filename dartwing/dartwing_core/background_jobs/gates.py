"""The gates a job waits behind before it may start, named once: dispatch closes on them and
``waiting_for`` explains them, from the same predicates and the same reads.

Contract:
- ``site_switch()`` names Frappe's site switch that stops every start (``maintenance_mode``,
  ``pause_scheduler`` in the site config as ``bench set-maintenance-mode on`` / ``bench scheduler
  pause`` write it; read from ``frappe.local.conf``, which Frappe reloads for every request, job and
  scheduler tick), or None. ``organization_gate(status)`` names a closed organization.
- ``type_states(org, names, locked)`` reads, per enabled Job Type, what its gates need: the
  organization's running cap and its jobs holding a slot, the global cap and every organization's
  jobs holding one (counted only for capped types), the pause and the start window. A type with a
  global cap whose row this dispatch has not locked (``admission.lock_limited_types``) is closed
  (``Gate.UNLOCKED``): its count could be stale. ``type_gate(state)`` is the one order in which a
  type's gates are tried: paused, organization cap, global cap. The start window is tried last, by
  taking a start (``admission.take_start``) only for a job that passed every other gate.
- ``waiting_for(job)`` (None for a job that is not waiting) answers ``{"gate", "message", ...}`` with
  the first gate that holds the job, in the order dispatch applies them: scheduled / retry time, site
  switch, organization, job type (disabled, paused), parents, organization cap, global cap, start
  window, and last the queue itself (a Pending job's place among its priority, a Queued job's place
  before a worker). It reads; it never takes a start or a lock.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import admission, config, dependencies, state
from dartwing.dartwing_core.background_jobs.transitions import RETRY_WAITING, SLOT_HOLDING, JobStatus


class Gate(str, Enum):
	SCHEDULED = "scheduled"  # a job for later: waits for its run_at
	RETRY = "retry"  # a failed attempt: waits for next_retry_at
	SITE_MAINTENANCE = "site_maintenance"  # site config maintenance_mode
	SCHEDULER_PAUSED = "scheduler_paused"  # site config pause_scheduler
	ORGANIZATION_SUSPENDED = "organization_suspended"
	JOB_TYPE_DISABLED = "job_type_disabled"
	JOB_TYPE_PAUSED = "job_type_paused"
	PARENTS = "parents"  # jobs it depends on are not all Completed
	ORGANIZATION_CAP = "organization_cap"  # max_running_per_org of its type taken in its organization
	GLOBAL_CAP = "global_cap"  # max_running_global of its type taken across organizations
	RATE_LIMIT = "rate_limit"  # the type's start window is full
	UNLOCKED = "unlocked"  # (dispatch only) a global cap set after this dispatch began: next dispatch
	QUEUE = "queue"  # nothing holds it: next in line behind jobs of its priority (or for a worker)

	def __str__(self) -> str:
		return self.value


_STATUSES = state.status_values(pending=JobStatus.PENDING, queued=JobStatus.QUEUED, slot_holding=SLOT_HOLDING)
_ORG_USED = """(SELECT COUNT(*) FROM `tabBackground Job` r
	WHERE r.status IN %(slot_holding)s AND r.organization = %(org)s AND r.job_type = t.name)"""
# Every organization's slots of a globally capped type; not counted for the others.
GLOBAL_USED = """IF(t.max_running_global > 0, (SELECT COUNT(*) FROM `tabBackground Job` g
	WHERE g.status IN %(slot_holding)s AND g.job_type = t.name), 0)"""


@dataclass
class TypeState:
	"""One enabled Job Type as one dispatch of one organization sees it (``used`` counts grow as it
	queues jobs)."""

	name: str
	queue: str
	cap: int  # max_running_per_org
	used: int  # the organization's jobs of the type Queued + Running
	global_cap: int  # max_running_global (0: none)
	global_used: int  # every organization's jobs of the type Queued + Running (0 when uncapped)
	paused: bool
	paused_by: str | None
	paused_at: Any
	window: admission.StartWindow
	locked: bool = True  # False: globally capped but not locked by this dispatch

	@property
	def free(self) -> int:
		"""Jobs this dispatch may still queue by the caps (the start window aside)."""
		free = self.cap - self.used
		if self.global_cap:
			free = min(free, self.global_cap - self.global_used)
		return max(free, 0)

	def took_slot(self) -> None:
		self.used += 1
		self.global_used += 1 if self.global_cap else 0


def site_switch() -> Gate | None:
	"""The site switch that stops every start now, or None (maintenance wins over a paused scheduler)."""
	conf = getattr(frappe.local, "conf", None) or frappe._dict()
	if conf.get("maintenance_mode"):
		return Gate.SITE_MAINTENANCE
	if conf.get("pause_scheduler"):
		return Gate.SCHEDULER_PAUSED
	return None


def organization_gate(org_status: str | None) -> Gate | None:
	"""A found organization that is not Active holds its jobs (a missing one dead-letters them)."""
	return Gate.ORGANIZATION_SUSPENDED if org_status and org_status != "Active" else None


def type_gate(type_state: TypeState) -> Gate | None:
	"""The first of the type's gates that is closed for one more job, or None."""
	if type_state.paused:
		return Gate.JOB_TYPE_PAUSED
	if type_state.used >= type_state.cap:
		return Gate.ORGANIZATION_CAP
	if type_state.global_cap and type_state.global_used >= type_state.global_cap:
		return Gate.GLOBAL_CAP
	if type_state.global_cap and not type_state.locked:
		return Gate.UNLOCKED
	return None


def type_states(
	organization: str, names: Iterable[str] | None, locked: Iterable[str] = ()
) -> dict[str, TypeState]:
	"""Per enabled Job Type (the named ones, or all): its gates' state for ``organization``."""
	names = None if names is None else tuple(names)
	if names is not None and not names:
		return {}
	condition = "" if names is None else "AND t.name IN %(names)s"
	rows = frappe.db.sql(
		f"""SELECT t.name, t.queue, t.max_running_per_org, {_ORG_USED} AS used, t.max_running_global,
			{GLOBAL_USED} AS global_used, t.paused, t.paused_by, t.paused_at, t.rate_limit_starts,
			t.rate_limit_starts_window_seconds
		FROM `tabJob Type` t WHERE t.enabled = 1 {condition}""",
		{"org": organization, "names": names or (), **_STATUSES},
		as_dict=True,
	)
	locked = set(locked)
	return {row.name: _type_state(row, locked) for row in rows}


def _type_state(row: Mapping[str, Any], locked: set[str]) -> TypeState:
	global_cap = max(int(row["max_running_global"] or 0), 0)
	return TypeState(
		name=row["name"],
		queue=row["queue"] or "",
		cap=int(row["max_running_per_org"] or config.DEFAULT_MAX_RUNNING_PER_ORG),
		used=int(row["used"] or 0),
		global_cap=global_cap,
		global_used=int(row["global_used"] or 0),
		paused=bool(row["paused"]),
		paused_by=row["paused_by"],
		paused_at=row["paused_at"],
		window=admission.StartWindow.of(row),
		locked=not global_cap or row["name"] in locked,
	)


# --- why is this job waiting ----------------------------------------------------------------------


def waiting_for(job: Mapping[str, Any]) -> dict[str, Any] | None:
	"""The gate that holds a job that is not running yet, explained; None for any other job."""
	status = job["status"]
	if status == JobStatus.SCHEDULED.value:
		return _timed(Gate.SCHEDULED, job.get("run_at"), _("Scheduled for {0}"))
	if status in {s.value for s in RETRY_WAITING} and job.get("next_retry_at"):
		return _timed(Gate.RETRY, job["next_retry_at"], _("Retry scheduled for {0}"))
	if status not in (JobStatus.PENDING.value, JobStatus.QUEUED.value):
		return None
	return _site_or_organization(job) or _type_or_queue(job)


def _site_or_organization(job: Mapping[str, Any]) -> dict[str, Any] | None:
	switch = site_switch()
	if switch is Gate.SITE_MAINTENANCE:
		return _answer(switch, _("The site is in maintenance mode; jobs start when it ends"))
	if switch is Gate.SCHEDULER_PAUSED:
		return _answer(switch, _("The site's scheduler is paused; jobs start when it resumes"))
	org_status = frappe.db.get_value("Organization", job["organization"], "status")
	if organization_gate(org_status):
		return _answer(
			Gate.ORGANIZATION_SUSPENDED,
			_("Organization {0} is {1}; its jobs start when it is Active again").format(
				job["organization"], org_status
			),
			organization_status=org_status,
		)
	return None


def _type_or_queue(job: Mapping[str, Any]) -> dict[str, Any]:
	type_state = type_states(job["organization"], [job["job_type"]], locked=[job["job_type"]]).get(
		job["job_type"]
	)
	if type_state is None:
		return _answer(Gate.JOB_TYPE_DISABLED, _("Job Type {0} is disabled").format(job["job_type"]))
	if type_state.paused:
		return _paused(type_state)
	if job["status"] == JobStatus.QUEUED.value:
		return _behind_in_queue(job)
	parents = _parents_not_done(job["name"])
	if parents:
		return _answer(
			Gate.PARENTS,
			_("Waiting for {0} parent job(s) to complete: {1}").format(len(parents), ", ".join(parents)),
			parents=parents,
		)
	return _cap_or_window(job, type_state) or _behind_in_priority(job)


def _cap_or_window(job: Mapping[str, Any], type_state: TypeState) -> dict[str, Any] | None:
	gate = type_gate(type_state)
	if gate is Gate.ORGANIZATION_CAP:
		return _answer(
			gate,
			_("{0} of {1} running slots of {2} in {3} are busy").format(
				type_state.used, type_state.cap, type_state.name, job["organization"]
			),
			used=type_state.used,
			cap=type_state.cap,
		)
	if gate is Gate.GLOBAL_CAP:
		return _answer(
			gate,
			_("{0} of {1} running slots of {2} across all organizations are busy").format(
				type_state.global_used, type_state.global_cap, type_state.name
			),
			used=type_state.global_used,
			cap=type_state.global_cap,
		)
	next_in = admission.next_start_in(type_state.name, type_state.window)
	if next_in > 0:
		return _answer(
			Gate.RATE_LIMIT,
			_("{0} starts at most {1} jobs per {2} s; next slot in {3} s").format(
				type_state.name, type_state.window.limit, type_state.window.window_seconds, math.ceil(next_in)
			),
			next_slot_in_seconds=round(next_in, 3),
			limit=type_state.window.limit,
			window_seconds=type_state.window.window_seconds,
		)
	return None


def _paused(type_state: TypeState) -> dict[str, Any]:
	return _answer(
		Gate.JOB_TYPE_PAUSED,
		_("Job Type {0} was paused by {1} at {2}").format(
			type_state.name, type_state.paused_by, type_state.paused_at
		),
		paused_by=type_state.paused_by,
		paused_at=str(type_state.paused_at) if type_state.paused_at else None,
	)


def _parents_not_done(job_name: str) -> list[str]:
	"""The parents that keep the job waiting, by the rule dispatch applies (dependencies.verdicts)."""
	if dependencies.verdicts([job_name])[job_name].readiness is not dependencies.Readiness.WAITING:
		return []
	return frappe.db.sql_list(
		"""SELECT d.depends_on FROM `tabBackground Job Dependency` d
		JOIN `tabBackground Job` p ON p.name = d.depends_on
		WHERE d.parent = %(job)s AND p.status != %(completed)s ORDER BY d.idx""",
		{"job": job_name, "completed": JobStatus.COMPLETED.value},
	)


def _behind_in_priority(job: Mapping[str, Any]) -> dict[str, Any]:
	ahead = frappe.db.sql(
		"""SELECT COUNT(*) FROM `tabBackground Job` WHERE status = %(pending)s AND organization = %(org)s
		AND job_type = %(type)s AND priority = %(priority)s AND creation < %(creation)s""",
		{
			"org": job["organization"],
			"type": job["job_type"],
			"priority": job["priority"],
			"creation": job["creation"],
			**_STATUSES,
		},
	)[0][0]
	return _answer(
		Gate.QUEUE,
		_("Waiting for dispatch behind {0} {1} job(s) of priority {2}").format(
			ahead, job["job_type"], job["priority"]
		),
		ahead=int(ahead),
	)


def _behind_in_queue(job: Mapping[str, Any]) -> dict[str, Any]:
	queue = job.get("queue") or frappe.db.get_value("Background Job", job["name"], "queue")
	ahead = frappe.db.sql(
		"""SELECT COUNT(*) FROM `tabBackground Job` WHERE status = %(queued)s AND queue = %(queue)s
		AND enqueued_at < %(enqueued_at)s""",
		{"queue": queue, "enqueued_at": job.get("enqueued_at") or now_datetime(), **_STATUSES},
	)[0][0]
	return _answer(
		Gate.QUEUE,
		_("Queued for a worker on queue {0} behind {1} job(s)").format(queue, ahead),
		ahead=int(ahead),
		queue=queue,
	)


def _timed(gate: Gate, at: Any, message: str) -> dict[str, Any]:
	seconds = (frappe.utils.get_datetime(at) - now_datetime()).total_seconds() if at else 0
	return _answer(gate, message.format(at), at=str(at) if at else None, in_seconds=max(round(seconds), 0))


def _answer(gate: Gate, message: str, **details: Any) -> dict[str, Any]:
	return {"gate": gate.value, "message": message, **details}
