# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import re

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.tests.utils import make_user


class TestPerson(FrappeTestCase):
	def test_person_is_named_by_series_and_takes_the_users_full_name(self):
		user = make_user("person-one@dartwing.test")
		person = frappe.get_doc({"doctype": "Person", "user": user}).insert()
		self.assertRegex(person.name, re.compile(r"^PER-\d{5}$"))
		self.assertTrue(person.full_name)

	def test_second_person_for_the_same_user_is_rejected(self):
		user = make_user("person-two@dartwing.test")
		frappe.get_doc({"doctype": "Person", "user": user, "full_name": "First"}).insert()
		with self.assertRaises(frappe.UniqueValidationError) as caught:
			frappe.get_doc({"doctype": "Person", "user": user, "full_name": "Second"}).insert()
		self.assertIn("already has a Person", str(caught.exception))

	def test_unique_user_holds_in_the_database_too(self):
		user = make_user("person-three@dartwing.test")
		frappe.get_doc({"doctype": "Person", "user": user}).insert()
		duplicate = frappe.get_doc({"doctype": "Person", "user": user})
		duplicate.flags.ignore_validate = True
		with self.assertRaises(frappe.UniqueValidationError):
			duplicate.insert()

	def test_person_needs_an_existing_user(self):
		with self.assertRaises(frappe.LinkValidationError):
			frappe.get_doc({"doctype": "Person", "user": "nobody@nowhere.test"}).insert()
