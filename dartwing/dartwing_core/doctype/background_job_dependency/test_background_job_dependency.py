# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


class TestBackgroundJobDependency(FrappeTestCase):
	def test_is_a_child_table(self):
		meta = frappe.get_meta("Background Job Dependency")
		self.assertTrue(meta.istable)
		self.assertEqual(meta.get_field("depends_on").options, "Background Job")
