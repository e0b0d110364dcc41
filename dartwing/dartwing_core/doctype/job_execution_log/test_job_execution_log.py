# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, now_datetime

from dartwing.dartwing_core.doctype.job_execution_log.job_execution_log import JobExecutionLog
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import make_org


class TestJobExecutionLog(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		create_demo_job_types()
		org = make_org("Log Test Org")
		cls.org = org
		cls.job = frappe.get_doc(
			{"doctype": "Background Job", "job_type": "demo_noop", "organization": org}
		).insert()

	def log(self, **values):
		return frappe.get_doc(
			{
				"doctype": "Job Execution Log",
				"job": self.job.name,
				"organization": self.org,
				"to_status": "Pending",
				**values,
			}
		).insert()

	def test_timestamp_defaults_to_now(self):
		self.assertIsNotNone(self.log().timestamp)

	def test_clear_old_logs_deletes_only_rows_older_than_the_window(self):
		old = [self.log(timestamp=add_days(now_datetime(), -40)).name for _ in range(3)]
		recent = self.log(timestamp=add_days(now_datetime(), -1)).name
		deleted = JobExecutionLog.clear_old_logs(days=30)
		self.assertGreaterEqual(deleted, 3)
		for name in old:
			self.assertFalse(frappe.db.exists("Job Execution Log", name))
		self.assertTrue(frappe.db.exists("Job Execution Log", recent))
