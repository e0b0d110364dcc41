"""Install hooks: the demo Job Types exist, resolve to real handlers, and re-running leaves tuned rows alone."""

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.install import DEMO_JOB_TYPES, after_migrate, create_demo_job_types


class TestInstall(FrappeTestCase):
	def test_demo_job_types_are_installed_and_their_handlers_import(self):
		create_demo_job_types()
		for spec in DEMO_JOB_TYPES:
			handler = frappe.db.get_value("Job Type", spec["job_type_name"], "handler")
			self.assertEqual(handler, f"dartwing.demo.{spec['job_type_name']}")
			self.assertTrue(callable(frappe.get_attr(handler)))

	def test_migrate_recreates_a_missing_demo_type_and_keeps_tuned_ones(self):
		create_demo_job_types()
		frappe.db.set_value("Job Type", "demo_sleep", "timeout_seconds", 42)
		frappe.db.delete("Job Type", {"name": "demo_echo"})  # no link check: jobs may point at it
		after_migrate()
		self.assertTrue(frappe.db.exists("Job Type", "demo_echo"))
		self.assertEqual(frappe.db.get_value("Job Type", "demo_sleep", "timeout_seconds"), 42)

	def test_demo_fail_never_retries(self):
		create_demo_job_types()
		self.assertEqual(frappe.db.get_value("Job Type", "demo_fail", "max_retries"), 0)

	def test_the_demo_schedule_is_made_once_owned_by_alice_with_its_next_run_ahead(self):
		from dartwing.install import DEMO_SCHEDULE_OWNER, ensure_demo_schedule
		from dartwing.tests.utils import make_member, make_user

		create_demo_job_types()
		make_member(make_user(DEMO_SCHEDULE_OWNER), "Acme Corp", role="Owner")
		name = ensure_demo_schedule()
		self.assertEqual(ensure_demo_schedule(), name)
		row = frappe.db.get_value("Job Schedule", name, ["owner", "next_run_at", "enabled"], as_dict=True)
		self.assertEqual((row.owner, row.enabled), (DEMO_SCHEDULE_OWNER, 1))
		self.assertGreater(row.next_run_at, frappe.utils.now_datetime())
