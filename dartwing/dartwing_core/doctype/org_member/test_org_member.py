# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.tests.utils import make_member, make_org, make_person, make_user


class TestOrgMember(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.org = make_org("Member Test Org")
		cls.person = make_person(make_user("member-test@dartwing.test"))

	def new_member(self, **values):
		return frappe.get_doc(
			{"doctype": "Org Member", "person": self.person, "organization": self.org, **values}
		)

	def test_defaults_are_member_and_active(self):
		member = self.new_member().insert()
		self.assertEqual((member.role, member.status), ("Member", "Active"))
		member.delete()

	def test_duplicate_membership_gets_a_friendly_message(self):
		self.new_member().insert()
		with self.assertRaises(frappe.UniqueValidationError) as caught:
			self.new_member(role="Admin").insert()
		self.assertIn("already a member", str(caught.exception))

	def test_duplicate_membership_is_rejected_by_the_database(self):
		make_member("member-test@dartwing.test", self.org)
		duplicate = self.new_member()
		duplicate.flags.ignore_validate = True  # skip the friendly check: the unique index must hold
		with self.assertRaises(frappe.UniqueValidationError):
			duplicate.insert()

	def test_unique_index_on_person_and_organization_exists(self):
		rows = frappe.db.sql("show index from `tabOrg Member`", as_dict=True)
		unique = {}
		for row in rows:
			if not row.Non_unique:
				unique.setdefault(row.Key_name, []).append(row.Column_name)
		self.assertIn(["person", "organization"], list(unique.values()))

	def test_role_must_be_a_known_option(self):
		with self.assertRaises(frappe.ValidationError):
			self.new_member(role="Emperor").insert()
