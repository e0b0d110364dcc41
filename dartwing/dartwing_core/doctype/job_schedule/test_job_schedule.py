"""Job Schedule's controller: the checks that need no scheduler (the sweep is tested in
dartwing/tests/integration/test_job_schedules.py)."""

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.tests.engine_utils import make_job_type, make_tenant


class TestJobSchedule(FrappeTestCase):
	def test_disabling_a_schedule_shows_it_disabled_and_re_enabling_sets_the_next_run_ahead(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type()
		frappe.set_user(owner)
		try:
			doc = frappe.get_doc(
				{
					"doctype": "Job Schedule",
					"organization": org,
					"job_type": job_type,
					"cron_expression": "0 6 * * 1",
				}
			).insert()
			doc.enabled = 0
			doc.save()
			self.assertEqual(doc.schedule_status, "Disabled")
			doc.enabled = 1
			doc.save()
			self.assertEqual(doc.schedule_status, "Active")
			self.assertGreater(doc.next_run_at, frappe.utils.now_datetime())
			self.assertEqual((doc.next_run_at.weekday(), doc.next_run_at.minute), (0, 0))
		finally:
			frappe.set_user("Administrator")
