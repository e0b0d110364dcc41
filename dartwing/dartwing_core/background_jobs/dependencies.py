"""Job dependencies: a job may wait on several jobs of its own organization.

Contract:
- ``validate_parents`` accepts only existing jobs of the same organization (another organization's
  job is reported exactly like a missing one), at most ``MAX_DEPENDENCIES``, no duplicates. A new
  job can only name jobs that already exist, so cycles cannot form.
- ``verdicts`` tells, for Pending jobs, whether they are ready (every parent Completed), must keep
  waiting, or can never run (a parent ended Canceled or Dead Letter, or failed with no retry left);
  the dispatcher dead-letters the last kind with a reason naming the parent, so no job waits forever.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

import frappe
from frappe import _

from dartwing.dartwing_core.background_jobs import arguments, config
from dartwing.dartwing_core.background_jobs.transitions import (
	PARENT_FAILED_FOR_GOOD,
	RETRY_WAITING,
	JobStatus,
)


class Readiness(str, Enum):
	READY = "ready"
	WAITING = "waiting"
	BLOCKED = "blocked"


@dataclass(frozen=True)
class Verdict:
	readiness: Readiness
	reason: str = ""


READY = Verdict(Readiness.READY)  # a job without parents


def validate_parents(organization: str, depends_on: Iterable[str] | None) -> list[str]:
	"""The distinct parent job names, each an existing job of ``organization``."""
	if depends_on is None:
		return []
	if isinstance(depends_on, str | Mapping) or not isinstance(depends_on, Iterable):
		frappe.throw(_("depends_on must be a list of job IDs"), frappe.ValidationError)
	# items are checked before de-duplication: a dict or list item is unhashable
	parents = arguments.text_list("depends_on", list(depends_on), max_items=config.MAX_DEPENDENCIES)
	if not parents:
		return []
	found = set(
		frappe.db.sql_list(
			"SELECT name FROM `tabBackground Job` WHERE name IN %(names)s AND organization = %(org)s",
			{"names": tuple(parents), "org": organization},
		)
	)
	missing = [name for name in parents if name not in found]
	if missing:
		frappe.throw(_("Dependency job {0} not found").format(missing[0]), frappe.DoesNotExistError)
	return parents


def verdicts(children: list[str]) -> dict[str, Verdict]:
	"""Readiness of each child job from its parents' current statuses (one query)."""
	if not children:
		return {}
	rows = frappe.db.sql(
		"""SELECT d.parent AS child, d.depends_on AS parent, p.status, p.next_retry_at
		FROM `tabBackground Job Dependency` d
		LEFT JOIN `tabBackground Job` p ON p.name = d.depends_on
		WHERE d.parenttype = %(parenttype)s AND d.parent IN %(children)s""",
		{"children": tuple(children), "parenttype": "Background Job"},
		as_dict=True,
	)
	result = {child: Verdict(Readiness.READY) for child in children}
	for row in rows:
		current = result[row.child]
		if current.readiness is Readiness.BLOCKED:
			continue
		verdict = _parent_verdict(row)
		if verdict.readiness is not Readiness.READY:
			result[row.child] = verdict
	return result


def _parent_verdict(row: frappe._dict) -> Verdict:
	if row.status is None:
		return Verdict(Readiness.BLOCKED, _("Dependency {0} no longer exists").format(row.parent))
	if row.status == JobStatus.COMPLETED.value:
		return Verdict(Readiness.READY)
	if row.status in PARENT_FAILED_FOR_GOOD or (row.status in RETRY_WAITING and not row.next_retry_at):
		return Verdict(Readiness.BLOCKED, _("Dependency {0} ended {1}").format(row.parent, row.status))
	return Verdict(Readiness.WAITING)
