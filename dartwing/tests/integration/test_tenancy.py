"""Tenancy end to end on the database: who sees which organizations, people, memberships and jobs.

Every path a user reads through (get_list with the query hooks, Document.check_permission and
frappe.has_permission with the controller hooks) must give the same answer as get_user_organizations.
"""

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import permissions
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import insert_job_document, make_member, make_org, make_person, make_user

ACME, GLOBEX, SUSPENDED, QUOTED = "T Acme", "T Globex", "T Suspended", "T O'Brien & 100% Co"
OWNER = "t-owner@acme.test"
MEMBER = "t-member@acme.test"
VIEWER = "t-viewer@acme.test"
GLOBEX_ADMIN = "t-admin@globex.test"
INACTIVE = "t-inactive@acme.test"
SUSPENDED_ONLY = "t-suspended@initech.test"
NO_PERSON = "t-nobody@dartwing.test"
OPS = "t-ops@dartwing.test"


def job(organization: str, submitted_by: str) -> str:
	return insert_job_document(
		{"organization": organization, "submitted_by": submitted_by, "status": "Pending"}
	).name


class TestTenancy(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		create_demo_job_types()
		for org in (ACME, GLOBEX, QUOTED):
			make_org(org)
		make_org(SUSPENDED, status="Suspended")
		for user in (OWNER, MEMBER, VIEWER, GLOBEX_ADMIN, INACTIVE, SUSPENDED_ONLY, NO_PERSON):
			make_user(user)
		make_user(OPS, roles=["System Manager"])
		make_member(OWNER, ACME, role="Owner")
		make_member(OWNER, QUOTED, role="Owner")
		make_member(MEMBER, ACME, role="Member")
		make_member(MEMBER, SUSPENDED, role="Owner")
		make_member(VIEWER, ACME, role="Viewer")
		make_member(GLOBEX_ADMIN, GLOBEX, role="Admin")
		make_member(INACTIVE, ACME, status="Inactive")
		make_member(SUSPENDED_ONLY, SUSPENDED, role="Owner")
		cls.acme_owner_job = job(ACME, OWNER)
		cls.acme_member_job = job(ACME, MEMBER)
		cls.globex_job = job(GLOBEX, GLOBEX_ADMIN)
		cls.quoted_job = job(QUOTED, OWNER)
		for name, org in ((cls.acme_owner_job, ACME), (cls.globex_job, GLOBEX)):
			frappe.get_doc(
				{"doctype": "Job Execution Log", "job": name, "organization": org, "to_status": "Pending"}
			).insert(ignore_permissions=True)

	def visible(self, user: str, doctype: str, field: str = "name") -> set[str]:
		with self.set_user(user):
			return set(frappe.get_list(doctype, pluck=field, limit_page_length=0))

	def ours(self, values: set[str]) -> set[str]:
		"""Only the rows this test made (the site may hold demo data)."""
		return values & {ACME, GLOBEX, SUSPENDED, QUOTED}

	# The resolver

	def test_member_resolves_to_active_organizations_only(self):
		self.assertEqual(permissions.get_user_organizations(OWNER), sorted([ACME, QUOTED]))
		self.assertEqual(permissions.get_user_organizations(MEMBER), [ACME])  # Suspended one dropped

	def test_inactive_membership_suspended_org_and_missing_person_grant_nothing(self):
		for user in (INACTIVE, SUSPENDED_ONLY, NO_PERSON):
			self.assertEqual(permissions.get_user_organizations(user), [], user)
			self.assertFalse(permissions.can_act_in(ACME, user), user)

	def test_org_role_follows_the_membership(self):
		self.assertEqual(permissions.get_org_role(VIEWER, ACME), "Viewer")
		self.assertIsNone(permissions.get_org_role(VIEWER, GLOBEX))
		self.assertIsNone(permissions.get_org_role(MEMBER, SUSPENDED))

	def test_role_table_for_actions(self):
		expected = {
			OWNER: {"read", "submit", "manage_own", "manage_any"},
			MEMBER: {"read", "submit", "manage_own"},
			VIEWER: {"read"},
		}
		for user, allowed in expected.items():
			for action in permissions.ACTIONS:
				self.assertEqual(
					permissions.can_act_in(ACME, user, action), action in allowed, (user, action)
				)

	def test_check_org_access_raises_permission_error(self):
		with self.assertRaises(frappe.PermissionError):
			permissions.check_org_access(GLOBEX, OWNER)
		with self.assertRaises(frappe.PermissionError):
			permissions.check_org_access(ACME, VIEWER, action="submit")
		permissions.check_org_access(ACME, MEMBER, action="submit")

	def test_unknown_action_is_a_programming_error(self):
		with self.assertRaises(ValueError):
			permissions.can_act_in(ACME, OWNER, "delete_everything")

	def test_system_manager_and_administrator_are_unrestricted(self):
		self.assertTrue(permissions.is_unrestricted(OPS))
		self.assertTrue(permissions.is_unrestricted("Administrator"))
		self.assertFalse(permissions.is_unrestricted(OWNER))
		self.assertTrue(permissions.can_act_in(SUSPENDED, OPS, "manage_any"))
		self.assertEqual(permissions.background_job_query(OPS), "")

	def test_query_conditions_for_a_user_without_organizations_match_nothing(self):
		condition = permissions.background_job_query(NO_PERSON)
		self.assertTrue(condition)
		self.assertEqual(frappe.db.sql(f"select name from `tabBackground Job` where {condition}"), ())

	# get_list (permission query conditions)

	def test_get_list_shows_members_their_organizations_only(self):
		self.assertEqual(self.ours(self.visible(OWNER, "Organization")), {ACME, QUOTED})
		self.assertEqual(self.ours(self.visible(GLOBEX_ADMIN, "Organization")), {GLOBEX})
		self.assertEqual(self.ours(self.visible(NO_PERSON, "Organization")), set())
		self.assertEqual(self.ours(self.visible(INACTIVE, "Organization")), set())

	def test_system_manager_sees_every_organization(self):
		self.assertEqual(self.ours(self.visible(OPS, "Organization")), {ACME, GLOBEX, SUSPENDED, QUOTED})

	def test_get_list_of_jobs_is_scoped_to_the_users_organizations(self):
		mine = {self.acme_owner_job, self.acme_member_job, self.quoted_job}
		self.assertEqual(self.visible(OWNER, "Background Job") & (mine | {self.globex_job}), mine)
		self.assertEqual(self.ours(self.visible(GLOBEX_ADMIN, "Background Job", "organization")), {GLOBEX})
		self.assertEqual(self.visible(NO_PERSON, "Background Job"), set())

	def test_get_list_of_logs_and_memberships_is_scoped(self):
		self.assertEqual(self.ours(self.visible(OWNER, "Job Execution Log", "organization")), {ACME})
		self.assertEqual(self.ours(self.visible(GLOBEX_ADMIN, "Org Member", "organization")), {GLOBEX})

	def test_persons_visible_are_self_and_people_sharing_an_organization(self):
		visible = self.visible(GLOBEX_ADMIN, "Person", "user")
		self.assertIn(GLOBEX_ADMIN, visible)
		self.assertNotIn(OWNER, visible)
		self.assertTrue({OWNER, MEMBER, VIEWER} <= self.visible(VIEWER, "Person", "user"))
		self.assertEqual(self.visible(SUSPENDED_ONLY, "Person", "user"), {SUSPENDED_ONLY})

	# Document permissions (has_permission hooks)

	def test_check_permission_refuses_a_job_of_another_organization(self):
		with self.set_user(OWNER):
			frappe.get_doc("Background Job", self.acme_member_job).check_permission("read")
			with self.assertRaises(frappe.PermissionError):
				frappe.get_doc("Background Job", self.globex_job).check_permission("read")

	def test_has_permission_agrees_with_the_role_table(self):
		def allowed(user, name, ptype="read"):
			doc = frappe.get_doc("Background Job", name)
			return bool(frappe.has_permission("Background Job", ptype, doc=doc, user=user))

		self.assertTrue(allowed(VIEWER, self.acme_owner_job))
		self.assertFalse(allowed(VIEWER, self.globex_job))
		self.assertFalse(allowed(INACTIVE, self.acme_owner_job))
		self.assertTrue(allowed(OPS, self.globex_job))
		# Writing (cancel / retry) needs manage rights: own jobs for Members, any for Owners and Admins.
		self.assertTrue(
			permissions.has_background_job_permission(self.doc(self.acme_member_job), "write", MEMBER)
		)
		self.assertFalse(
			permissions.has_background_job_permission(self.doc(self.acme_owner_job), "write", MEMBER)
		)
		self.assertTrue(
			permissions.has_background_job_permission(self.doc(self.acme_member_job), "write", OWNER)
		)
		self.assertFalse(
			permissions.has_background_job_permission(self.doc(self.acme_owner_job), "write", VIEWER)
		)

	def test_organization_and_person_documents(self):
		self.assertTrue(
			frappe.has_permission("Organization", doc=frappe.get_doc("Organization", ACME), user=MEMBER)
		)
		self.assertFalse(
			frappe.has_permission("Organization", doc=frappe.get_doc("Organization", SUSPENDED), user=MEMBER)
		)
		globex_person = frappe.get_doc("Person", make_person(GLOBEX_ADMIN))
		self.assertFalse(frappe.has_permission("Person", doc=globex_person, user=OWNER))
		self.assertTrue(frappe.has_permission("Person", doc=globex_person, user=GLOBEX_ADMIN))

	def test_logs_are_readable_by_members_and_never_writable(self):
		log_name = frappe.db.get_value("Job Execution Log", {"job": self.acme_owner_job}, "name")
		log = frappe.get_doc("Job Execution Log", log_name)
		self.assertTrue(permissions.has_job_execution_log_permission(log, "read", VIEWER))
		self.assertFalse(permissions.has_job_execution_log_permission(log, "read", GLOBEX_ADMIN))
		self.assertFalse(permissions.has_job_execution_log_permission(log, "write", OWNER))

	def test_organization_names_are_escaped_in_query_conditions(self):
		self.assertIn(self.quoted_job, self.visible(OWNER, "Background Job"))

	def test_duplicate_membership_is_rejected_by_the_database(self):
		duplicate = frappe.get_doc(
			{"doctype": "Org Member", "person": make_person(OWNER), "organization": ACME, "role": "Viewer"}
		)
		duplicate.flags.ignore_validate = True
		with self.assertRaises(frappe.UniqueValidationError):
			duplicate.insert(ignore_permissions=True)

	@staticmethod
	def doc(name: str):
		return frappe.get_doc("Background Job", name)
