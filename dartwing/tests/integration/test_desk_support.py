"""What the desk and the job monitor are told by the server: the status sets (boot info), whether the user
may cancel or retry a job (the form's onload, and ``can_manage`` on every job the API returns), and the
organizations whose rooms the Background Job list follows live."""

import unittest

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from dartwing.dartwing_core.api.desk import FEED_ORGANIZATIONS_MAX, job_feed_organizations
from dartwing.dartwing_core.background_jobs import queries, transitions
from dartwing.dartwing_core.boot import extend_bootinfo
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import ON_BENCHLESS, insert_job_document, make_member, make_org, make_user

ORG, OTHER, BUSY, QUIET, RECENT = (
	"T Desk Org",
	"T Desk Other",
	"T Desk Busy",
	"T Desk Quiet",
	"T Desk Recent",
)
MEMBER, COLLEAGUE, ADMIN, VIEWER, OPS = (
	"t-desk-member@example.test",
	"t-desk-colleague@example.test",
	"t-desk-admin@example.test",
	"t-desk-viewer@example.test",
	"t-desk-ops@example.test",
)


def make_job(organization: str, submitted_by: str, status: str = "Pending", **fields) -> str:
	values = {"organization": organization, "submitted_by": submitted_by, "status": status, **fields}
	return insert_job_document(values).name


def can_manage_on_load(job: str, user: str) -> bool:
	frappe.set_user(user)
	doc = frappe.get_doc("Background Job", job)
	doc.run_method("onload")  # what frappe.desk.form.load.getdoc runs before sending the form its doc
	return doc.as_dict()["__onload"]["can_manage"]


class TestDeskSupport(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		create_demo_job_types()
		for org in (ORG, OTHER, BUSY, QUIET, RECENT):
			make_org(org)
		for user in (MEMBER, COLLEAGUE, ADMIN, VIEWER):
			make_user(user)
		make_user(OPS, ["System Manager"])
		make_member(MEMBER, ORG, role="Member")
		make_member(MEMBER, OTHER, role="Viewer")
		make_member(COLLEAGUE, ORG, role="Member")
		make_member(ADMIN, ORG, role="Admin")
		make_member(VIEWER, ORG, role="Viewer")
		cls.own_job = make_job(ORG, MEMBER, "Failed")
		cls.colleague_job = make_job(ORG, COLLEAGUE, "Running")
		make_job(BUSY, COLLEAGUE, "Queued")
		long_ago = add_to_date(now_datetime(), hours=-3)
		make_job(QUIET, COLLEAGUE, "Completed", completed_at=long_ago)
		make_job(RECENT, COLLEAGUE, "Dead Letter", completed_at=add_to_date(now_datetime(), minutes=-5))

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_boot_info_carries_the_status_sets_of_the_transition_table(self):
		bootinfo = frappe._dict()
		extend_bootinfo(bootinfo)
		sets = bootinfo.dartwing["job_statuses"]
		self.assertEqual(sets["all"], [status.value for status in transitions.JobStatus])
		for key, source in (
			("active", transitions.ACTIVE),
			("final", transitions.FINAL),
			("cancelable", transitions.CANCELABLE),
			("retryable", transitions.RETRYABLE_BY_USER),
		):
			self.assertEqual(set(sets[key]), {status.value for status in source}, key)
		self.assertIn("dartwing.dartwing_core.boot.extend_bootinfo", frappe.get_hooks("extend_bootinfo"))

	def test_form_onload_says_who_may_cancel_or_retry_by_the_engine_rule(self):
		self.assertTrue(can_manage_on_load(self.own_job, MEMBER))  # a Member manages their own job
		self.assertFalse(can_manage_on_load(self.colleague_job, MEMBER))  # but not a colleague's
		self.assertTrue(can_manage_on_load(self.colleague_job, ADMIN))  # an Org Admin manages any
		self.assertFalse(can_manage_on_load(self.own_job, VIEWER))
		self.assertTrue(can_manage_on_load(self.own_job, OPS))

	def test_api_jobs_carry_can_manage_for_the_caller(self):
		frappe.set_user(MEMBER)
		listed = {
			job["job_id"]: job["can_manage"] for job in queries.list_jobs({"organization": ORG})["jobs"]
		}
		self.assertEqual(listed, {self.own_job: True, self.colleague_job: False})
		self.assertFalse(queries.job_status(self.colleague_job)["can_manage"])
		frappe.set_user(ADMIN)
		self.assertTrue(queries.job_status(self.colleague_job)["can_manage"])

	def test_a_member_follows_exactly_their_organizations(self):
		frappe.set_user(MEMBER)
		self.assertEqual(job_feed_organizations(), sorted([ORG, OTHER]))
		frappe.set_user(make_user("t-desk-nobody@example.test"))
		self.assertEqual(job_feed_organizations(), [])

	def test_a_system_manager_follows_organizations_with_active_or_recently_ended_jobs(self):
		# jobs other tests left behind would fill the bound: they end long ago for this class (rolled back)
		frappe.db.sql(
			"""UPDATE `tabBackground Job` SET status = 'Completed', completed_at = %s
			WHERE organization NOT IN %s""",
			(add_to_date(now_datetime(), days=-2), (ORG, OTHER, BUSY, QUIET, RECENT)),
		)
		frappe.set_user(OPS)
		followed = job_feed_organizations()
		self.assertLessEqual(len(followed), FEED_ORGANIZATIONS_MAX)
		# BUSY: a Queued job; ORG: a Running one; RECENT: dead-lettered five minutes ago.
		# Not QUIET (nothing since three hours ago), nor OTHER (no jobs).
		self.assertEqual(sorted(followed), sorted([BUSY, ORG, RECENT]))


# What Frappe 15's report view (frappe/public/js/frappe/views/reports/report_view.js) reads from a
# Report Builder report's `json`; a key it does not read (e.g. "columns") is silently ignored.
REPORT_VIEW_KEYS = {
	"filters",
	"fields",
	"order_by",
	"add_totals_row",
	"page_length",
	"column_widths",
	"group_by",
	"chart_args",
}


class TestDeadLetterReport(FrappeTestCase):
	def settings(self) -> dict:
		path = frappe.get_app_path("dartwing", "dartwing_core", "report", "dead_letter_jobs")
		with open(f"{path}/dead_letter_jobs.json") as f:
			return frappe.parse_json(frappe.parse_json(f.read())["json"])

	def test_the_report_shows_what_an_operator_needs_first_in_the_keys_frappes_report_view_reads(self):
		settings = self.settings()
		self.assertLessEqual(set(settings), REPORT_VIEW_KEYS)
		fields = [fieldname for fieldname, _doctype in settings["fields"]]
		# the report view puts name and docstatus first; a report saved from the desk carries them too
		self.assertEqual(fields[:2], ["name", "docstatus"])
		self.assertLessEqual({"error_type", "error_message", "retry_count", "completed_at"}, set(fields[2:]))
		meta = frappe.get_meta("Background Job")
		self.assertEqual([f for f in fields[2:] if not meta.has_field(f)], [])
		self.assertEqual(settings["filters"], [["Background Job", "status", "=", "Dead Letter", False]])

	def test_exception_text_is_stored_in_fields_the_desk_shows_escaped(self):
		# The engine writes these with SQL (no Document sanitizing). Frappe's Data/Text formatters render
		# a value as HTML: "<object object at 0x…>" in an error message swallowed the report's row (and
		# any markup in an exception reached the page). Code is shown escaped and never sanitized away.
		meta = frappe.get_meta("Background Job")
		for fieldname in ("error_message", "error_traceback"):
			with self.subTest(fieldname=fieldname):
				self.assertEqual(meta.get_field(fieldname).fieldtype, "Code")

	@unittest.skipIf(ON_BENCHLESS, "benchless syncs no Report documents")
	def test_the_installed_report_is_the_one_the_app_ships(self):
		installed = frappe.db.get_value("Report", "Dead Letter Jobs", ["report_type", "json"], as_dict=True)
		self.assertEqual(installed.report_type, "Report Builder")
		self.assertEqual(frappe.parse_json(installed.json), self.settings())
