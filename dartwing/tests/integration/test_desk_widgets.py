"""The Background Jobs workspace widgets: failure-rate card and jobs-per-hour chart, scoped by tenancy."""

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.dashboard_chart_source.jobs_per_hour.jobs_per_hour import get as chart_source
from dartwing.dartwing_core.desk_widgets import get_failure_rate, jobs_per_hour
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import make_member, make_org, make_user

ORG, OTHER = "T Widgets Org", "T Widgets Other"
MEMBER, OPS = "t-widgets-member@example.test", "t-widgets-ops@example.test"


def make_jobs(organization: str, statuses: list[str]) -> None:
	for status in statuses:
		frappe.get_doc(
			{
				"doctype": "Background Job",
				"job_type": "demo_noop",
				"organization": organization,
				"submitted_by": MEMBER,
				"status": status,
			}
		).insert(ignore_permissions=True)


class TestDeskWidgets(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		create_demo_job_types()
		make_org(ORG), make_org(OTHER)
		make_user(MEMBER), make_user(OPS, ["System Manager"])
		make_member(MEMBER, ORG, role="Member")
		make_jobs(ORG, ["Completed", "Completed", "Completed", "Dead Letter"])
		make_jobs(OTHER, ["Dead Letter", "Dead Letter", "Failed"])

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_member_failure_rate_counts_only_their_organization(self):
		frappe.set_user(MEMBER)
		self.assertEqual(get_failure_rate(), {"value": 25.0, "fieldtype": "Percent"})

	def test_member_chart_counts_only_their_organization(self):
		frappe.set_user(MEMBER)
		data = jobs_per_hour(24)
		self.assertEqual(len(data["labels"]), 24)
		totals = {dataset["name"]: sum(dataset["values"]) for dataset in data["datasets"]}
		self.assertEqual(totals, {"Completed": 3, "Dead Letter": 1})

	def test_system_manager_chart_source_sees_every_organization(self):
		frappe.set_user(OPS)
		data = chart_source(filters='{"hours": 2}')
		totals = {dataset["name"]: sum(dataset["values"]) for dataset in data["datasets"]}
		self.assertGreaterEqual(totals.get("Dead Letter", 0), 3)
		self.assertEqual(len(data["labels"]), 2)

	def test_a_user_without_organizations_sees_zero(self):
		frappe.set_user(make_user("t-widgets-nobody@example.test"))
		self.assertEqual(get_failure_rate()["value"], 0.0)
		self.assertEqual(jobs_per_hour(24)["datasets"], [])
