"""Which endpoints read from a MariaDB replica (Frappe's ``read_from_replica``) and which stay on the primary.

As Frappe's own test of the switch does, the "replica" is the same server reached through a second
connection: a read through it cannot see this test's uncommitted job, a read on the primary does.
"""

from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.api import jobs as api
from dartwing.dartwing_core.background_jobs import engine
from dartwing.tests.engine_utils import make_job_type, make_tenant


class TestReplicaReads(FrappeTestCase):
	def setUp(self):
		self.owner, self.org = make_tenant("Owner")
		self.job_type = make_job_type()
		frappe.db.commit()
		frappe.set_user(self.owner)
		# not committed: only this transaction's own connection can see it
		self.job = engine.submit_job(self.job_type, self.org, {}).name

	def tearDown(self):
		frappe.db.rollback()
		frappe.set_user("Administrator")
		self._new_context()

	def _new_context(self) -> None:
		"""Frappe switches to the replica once per request (``local.replica_db`` stays set until the next
		request); each call below stands for a request of its own."""
		for attr in ("replica_db", "primary_db"):
			if hasattr(frappe.local, attr):
				delattr(frappe.local, attr)

	def _replica(self):
		conf = {
			"read_from_replica": 1,
			"replica_host": frappe.conf.db_host or "127.0.0.1",
			"replica_db_port": frappe.conf.db_port,
		}
		return patch.dict(frappe.local.conf, conf)

	def _listed(self) -> list[str]:
		self._new_context()
		return [row["job_id"] for row in api.list_jobs(organization=self.org)["jobs"]]

	def test_list_jobs_reads_from_the_replica_when_the_site_has_one(self):
		self.assertIn(self.job, self._listed(), "on the primary the transaction sees its own job")
		primary = frappe.local.db
		with self._replica():
			self.assertNotIn(self.job, self._listed())
		self.assertIs(frappe.local.db, primary, "the primary connection is back after the read")

	def test_metrics_read_from_the_replica(self):
		with self._replica():
			self._new_context()
			replica_total = api.get_job_metrics(organization=self.org)["total"]
		self._new_context()
		primary_total = api.get_job_metrics(organization=self.org)["total"]
		self.assertEqual((replica_total, primary_total), (0, 1))

	def test_job_status_stays_on_the_primary(self):
		with self._replica():
			self._new_context()
			status = api.get_job_status(job_id=self.job)
		self.assertEqual(status["job_id"], self.job)
