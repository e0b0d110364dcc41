# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, now_datetime

from dartwing.dartwing_core.doctype.job_execution_log.job_execution_log import JobExecutionLog
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import insert_job_document, make_org


class TestJobExecutionLog(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		create_demo_job_types()
		org = make_org("Log Test Org")
		cls.org = org
		cls.job = insert_job_document({"organization": org})

	def log(self, job=None, **values):
		doc = frappe.get_doc(
			{
				"doctype": "Job Execution Log",
				"job": job or self.job.name,
				"organization": self.org,
				"to_status": "Pending",
				**values,
			}
		)
		doc.flags.ignore_links = bool(job)  # rows whose job was deleted some other way
		return doc.insert()

	def test_timestamp_defaults_to_now(self):
		self.assertIsNotNone(self.log().timestamp)

	def test_clear_old_logs_deletes_old_rows_of_gone_or_long_ended_jobs_and_keeps_retained_history(self):
		long_ago = add_days(now_datetime(), -40)
		orphans = [self.log(job="deleted-job", timestamp=long_ago).name for _ in range(3)]
		ended = insert_job_document(
			{"organization": self.org, "status": "Completed", "completed_at": long_ago}
		)
		of_ended = self.log(job=ended.name, timestamp=long_ago).name
		of_retained = self.log(timestamp=long_ago).name  # self.job is still Pending: its history stays
		recent = self.log(job="deleted-job", timestamp=add_days(now_datetime(), -1)).name
		deleted = JobExecutionLog.clear_old_logs(days=30)
		self.assertGreaterEqual(deleted, 4)
		for name in (*orphans, of_ended):
			self.assertFalse(frappe.db.exists("Job Execution Log", name))
		self.assertTrue(frappe.db.exists("Job Execution Log", of_retained))
		self.assertTrue(frappe.db.exists("Job Execution Log", recent))
