"""Tenancy: the one answer to "where may this user act, and what may they do there".

Contract: every access decision about Organizations, Persons, Org Members, Background Jobs, their
Batches, Job Schedules, Job Execution Logs and the Job Metrics Rollup (permission query conditions, has_permission hooks, the
API, dispatch) goes through this
module. A user acts in an organization only through User → Person → Org Member (Active) → Organization
(Active). Administrator and System Manager are unrestricted. Values reach SQL parameterised, or
escaped with frappe.db.escape where a hook must return SQL text.

Hooks mirror Frappe 15's contracts (frappe/model/db_query.py `get_permission_query_conditions`,
frappe/permissions.py `has_controller_permissions`): query hooks return an SQL condition ("" = no
restriction); has_permission hooks return False to deny, True or None to leave the role decision standing.
"""

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import frappe
from frappe import _

READ, SUBMIT, MANAGE_OWN, MANAGE_ANY = "read", "submit", "manage_own", "manage_any"
ACTIONS = (READ, SUBMIT, MANAGE_OWN, MANAGE_ANY)

# data-model.md "Organization roles": what a member may do with the jobs of that organization.
ROLE_ACTIONS = MappingProxyType(
	{
		"Owner": frozenset(ACTIONS),
		"Admin": frozenset(ACTIONS),
		"Member": frozenset({READ, SUBMIT, MANAGE_OWN}),
		"Viewer": frozenset({READ}),
	}
)

# Frappe ptypes that only look at a document; every other ptype changes it.
_READ_PTYPES = frozenset({None, "read", "select", "print", "email", "report", "export", "share"})

_ACTIVE_MEMBERSHIPS = """
	from `tabOrg Member` m
	join `tabPerson` p on p.name = m.person
	join `tabOrganization` o on o.name = m.organization
	where p.user = %s and m.status = 'Active' and o.status = 'Active'
"""


def _user(user: str | None) -> str:
	return user or frappe.session.user


def is_unrestricted(user: str | None = None) -> bool:
	user = _user(user)
	return user == "Administrator" or "System Manager" in frappe.get_roles(user)


def get_user_organizations(user: str | None = None) -> list[str]:
	"""Active organizations where the user holds an Active membership (unrestricted users: check
	`is_unrestricted` first; this function answers by membership only)."""
	return frappe.db.sql_list(
		f"select distinct m.organization {_ACTIVE_MEMBERSHIPS} order by m.organization", (_user(user),)
	)


def get_org_role(user: str | None, organization: str | None) -> str | None:
	"""The user's role in the organization, or None when the membership or the organization is not Active."""
	if not organization:
		return None
	rows = frappe.db.sql(
		f"select m.role {_ACTIVE_MEMBERSHIPS} and m.organization = %s limit 1", (_user(user), organization)
	)
	return rows[0][0] if rows else None


def can_act_in(organization: str | None, user: str | None = None, action: str = READ) -> bool:
	return _access(organization, user, action) is not None


def _access(organization: str | None, user: str | None, action: str) -> str | None:
	"""How the user may perform `action` in `organization`: "member" (an Active membership whose role
	allows it, which also proves the organization exists and is Active), "unrestricted", or None.
	The membership is asked first: it is one query, and what almost every caller has."""
	if action not in ACTIONS:
		raise ValueError(f"Unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
	if _user(user) != "Administrator":
		role = get_org_role(user, organization)
		if role is not None and action in ROLE_ACTIONS.get(role, ()):
			return "member"
	return "unrestricted" if is_unrestricted(user) else None


@dataclass(frozen=True)
class OrgScope:
	"""The organizations a read may cover: None = every organization, () = none."""

	organizations: tuple[str, ...] | None

	@property
	def empty(self) -> bool:
		return self.organizations == ()

	def sql(self, column: str = "organization", key: str = "scope_organizations") -> tuple[str, dict]:
		"""The condition on ``column`` and its values (the organizations go in as a parameter)."""
		if self.organizations is None:
			return "1 = 1", {}
		return f"{column} IN %({key})s", {key: self.organizations or ("",)}


def org_scope(organization: str | None = None, user: str | None = None) -> OrgScope:
	"""The one tenancy filter of the engine's reads (lists, metrics, desk widgets): unrestricted users
	see every organization or the one they name; members their Active organizations, and a member naming
	an organization that is not theirs gets the empty scope, exactly as for one without jobs."""
	if is_unrestricted(user):
		return OrgScope((organization,) if organization else None)
	mine = tuple(get_user_organizations(user))
	if organization:
		return OrgScope((organization,) if organization in mine else ())
	return OrgScope(mine)


def may_manage(organization: str | None, submitted_by: str | None, user: str | None = None) -> bool:
	"""The one rule for changing a job (cancel, retry): its submitter with manage_own rights, or anyone
	with manage_any rights, in the job's organization (unrestricted users always)."""
	action = MANAGE_OWN if submitted_by and submitted_by == _user(user) else MANAGE_ANY
	return can_act_in(organization, user, action)


def refuse_unless_engine(doc: Any, api: str) -> None:
	"""A job or a batch begins only through the engine (admission, log rows, counts, dispatch): a
	controller's before_insert calls this, and any insert the engine did not flag (``flags.via_engine``)
	is refused with PermissionError (403), whoever makes it (a REST POST, an import, a bare insert)."""
	if not doc.flags.via_engine:
		frappe.throw(
			_("A {0} is submitted ({1}), not created as a document").format(_(doc.doctype), api),
			frappe.PermissionError,
		)


def check_org_access(organization: str | None, user: str | None = None, action: str = READ) -> str:
	"""Raise frappe.PermissionError unless the user may perform `action` in `organization`; else return
	"member" or "unrestricted" (only a membership proves the organization exists)."""
	access = _access(organization, user, action)
	if access is None:
		frappe.throw(
			_("You are not permitted to {0} in organization {1}").format(
				_(action.replace("_", " ")), frappe.bold(organization or "")
			),
			frappe.PermissionError,
		)
	return access


# Permission query conditions (hooks.permission_query_conditions)
#
# The membership chain goes into the condition as a subquery, so only the user (an email, escaped) is
# inlined: organization names never meet SQL text, whatever characters they hold, and Frappe's list
# query and ours agree by construction.


def _user_orgs_subquery(user: str) -> str:
	return f"select m.organization {_ACTIVE_MEMBERSHIPS.replace('%s', frappe.db.escape(user))}"


def _in_user_orgs(column: str, user: str | None) -> str:
	"""`column` restricted to the user's organizations; "" (no restriction) for unrestricted users."""
	user = _user(user)
	if is_unrestricted(user):
		return ""
	return f"{column} in ({_user_orgs_subquery(user)})"


def organization_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabOrganization`.`name`", user)


def org_member_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabOrg Member`.`organization`", user)


def background_job_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabBackground Job`.`organization`", user)


def job_schedule_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabJob Schedule`.`organization`", user)


def background_job_batch_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabBackground Job Batch`.`organization`", user)


def job_execution_log_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabJob Execution Log`.`organization`", user)


def job_metrics_rollup_query(user: str | None = None) -> str:
	return _in_user_orgs("`tabJob Metrics Rollup`.`organization`", user)


def person_query(user: str | None = None) -> str:
	"""Own Person, plus Persons with a membership in one of the user's organizations."""
	user = _user(user)
	if is_unrestricted(user):
		return ""
	shared = _in_user_orgs("shared.organization", user)
	return (
		f"(`tabPerson`.`user` = {frappe.db.escape(user)}"
		f" or `tabPerson`.`name` in (select shared.person from `tabOrg Member` shared where {shared}))"
	)


# has_permission hooks (hooks.has_permission)


def _doc_verdict(
	organization: str | None, ptype: str | None, user: str | None, owner: str | None = None
) -> bool:
	"""Reading needs membership; creating needs submit rights; changing needs manage rights
	(own documents: manage_own, anyone's: manage_any)."""
	if ptype in _READ_PTYPES:
		return can_act_in(organization, user, READ)
	if ptype == "create":
		return can_act_in(organization, user, SUBMIT)
	return may_manage(organization, owner, user)


def has_organization_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	if ptype in _READ_PTYPES:
		return can_act_in(doc.name, user, READ)
	return can_act_in(doc.name, user, MANAGE_ANY)


def has_person_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	user = _user(user)
	if is_unrestricted(user) or doc.get("user") == user:
		return True
	if ptype not in _READ_PTYPES:
		return False
	organizations = get_user_organizations(user)
	if not organizations or not doc.name:
		return False
	return bool(
		frappe.db.sql(
			"select 1 from `tabOrg Member` where person = %s and organization in %s limit 1",
			(doc.name, tuple(organizations)),
		)
	)


def has_org_member_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	if ptype in _READ_PTYPES:
		return can_act_in(doc.get("organization"), user, READ)
	return can_act_in(doc.get("organization"), user, MANAGE_ANY)


def has_background_job_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	return _doc_verdict(
		doc.get("organization"), ptype, user, owner=doc.get("submitted_by") or doc.get("owner")
	)


def has_job_schedule_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	"""As a job: members read; creating needs submit rights; changing one's own needs manage_own rights,
	anyone's manage_any (the controller also checks the Job Type's required permission)."""
	return _doc_verdict(doc.get("organization"), ptype, user, owner=doc.get("owner"))


def has_background_job_batch_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	# Batches are made by submit_jobs alone; changing one (cancel) is a job manager's right.
	if ptype == "create":
		return is_unrestricted(user)
	return _doc_verdict(doc.get("organization"), ptype, user, owner=doc.get("created_by") or doc.get("owner"))


def has_job_execution_log_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	organization = doc.get("organization") or frappe.db.get_value(
		"Background Job", doc.get("job"), "organization"
	)
	# Logs are written by the engine alone; people only read them.
	if ptype not in _READ_PTYPES:
		return is_unrestricted(user)
	return can_act_in(organization, user, READ)


def has_job_metrics_rollup_permission(doc: Any, ptype: str | None = None, user: str | None = None) -> bool:
	# Counts are kept by the engine alone; members of the organization read them.
	if ptype not in _READ_PTYPES:
		return is_unrestricted(user)
	return can_act_in(doc.get("organization"), user, READ)
