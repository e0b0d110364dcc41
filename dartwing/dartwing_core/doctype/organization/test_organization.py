# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.tests.utils import make_org


class TestOrganization(FrappeTestCase):
	def test_name_is_the_trimmed_org_name(self):
		org = frappe.get_doc({"doctype": "Organization", "org_name": "  Trimmed Org  "}).insert()
		self.assertEqual(org.name, "Trimmed Org")
		self.assertEqual((org.status, org.org_type), ("Active", "Company"))

	def test_duplicate_org_name_is_rejected(self):
		make_org("Twice Org")
		with self.assertRaises(frappe.DuplicateEntryError):
			frappe.get_doc({"doctype": "Organization", "org_name": "Twice Org"}).insert()

	def test_unknown_status_is_rejected(self):
		with self.assertRaises(frappe.ValidationError):
			frappe.get_doc({"doctype": "Organization", "org_name": "Odd Org", "status": "Paused"}).insert()

	def test_make_org_sets_status_of_existing_org(self):
		make_org("Flip Org")
		make_org("Flip Org", status="Suspended")
		self.assertEqual(frappe.db.get_value("Organization", "Flip Org", "status"), "Suspended")
