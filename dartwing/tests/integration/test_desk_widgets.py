"""The Background Jobs workspace widgets: failure-rate card and jobs-per-hour chart, scoped by tenancy;
an empty window gives the chart a shape Frappe's chart widget can draw."""

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from dartwing.dartwing_core.dashboard_chart_source.jobs_per_hour.jobs_per_hour import get as chart_source
from dartwing.dartwing_core.desk_widgets import STATUS_ORDER, get_failure_rate, jobs_per_hour
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import insert_job_document, make_member, make_org, make_user

ORG, OTHER = "T Widgets Org", "T Widgets Other"
MEMBER, OPS = "t-widgets-member@example.test", "t-widgets-ops@example.test"
QUIET, QUIET_MEMBER = "T Widgets Quiet", "t-widgets-quiet@example.test"  # only jobs older than the window


def make_jobs(organization: str, statuses: list[str]) -> None:
	for status in statuses:
		insert_job_document({"organization": organization, "submitted_by": MEMBER, "status": status})


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
		self.assert_empty_chart(jobs_per_hour(24), hours=24)

	def test_an_empty_window_still_gives_the_chart_a_series_per_status(self):
		# frappe-charts throws on zero datasets; an hour with no job in it is drawn as zeros
		make_org(QUIET), make_user(QUIET_MEMBER)
		make_member(QUIET_MEMBER, QUIET, role="Member")
		make_jobs(QUIET, ["Completed", "Failed"])
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET creation = %s WHERE organization = %s",
			(add_to_date(now_datetime(), hours=-30), QUIET),
		)
		frappe.set_user(QUIET_MEMBER)
		self.assert_empty_chart(chart_source(filters='{"hours": 3}'), hours=3)

	def assert_empty_chart(self, data: dict, hours: int) -> None:
		self.assertEqual(len(data["labels"]), hours)
		self.assertEqual([dataset["name"] for dataset in data["datasets"]], list(STATUS_ORDER))
		for dataset in data["datasets"]:
			self.assertEqual(dataset["values"], [0] * hours)
