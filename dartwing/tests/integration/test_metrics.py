"""Job metrics on the database: counts, durations, p95, failure rates, clusters, scope and window bounds.

Jobs are written straight into `tabBackground Job` with known timestamps inside a window in 2001, so
no other test's rows fall in it; current-state figures (queue depth, running, dead letter) are read
for this test's own organizations. FrappeTestCase rolls everything back.
"""

from datetime import datetime, timedelta

import frappe
from frappe.tests.utils import FrappeTestCase
from prometheus_client.parser import text_string_to_metric_families

from dartwing.dartwing_core.api import jobs as api
from dartwing.dartwing_core.background_jobs import metrics, metrics_math, metrics_rollup
from dartwing.tests.utils import make_member, make_org, make_user

ORG_A, ORG_B = "T Metrics A", "T Metrics B"
MEMBER_A = "t-metrics-member@a.test"
OPS = "t-metrics-ops@dartwing.test"
OCR, MAIL = "tm_ocr", "tm_mail"
START, END = datetime(2001, 1, 1), datetime(2001, 1, 2)
WINDOW = {"from_date": "2001-01-01 00:00:00", "to_date": "2001-01-02 00:00:00"}


def insert_job(
	org, job_type, status, created, *, seconds=None, started=None, completed=None, priority="Normal"
):
	if seconds is not None:
		started = created + timedelta(seconds=1)
		completed = started + timedelta(seconds=seconds)
	frappe.db.sql(
		"""INSERT INTO `tabBackground Job` (name, creation, modified, owner, modified_by, job_type,
		organization, status, priority, started_at, completed_at)
		VALUES (%s, %s, %s, 'Administrator', 'Administrator', %s, %s, %s, %s, %s, %s)""",
		(
			frappe.generate_hash(length=12),
			created,
			created,
			job_type,
			org,
			status,
			priority,
			started,
			completed,
		),
	)


def at(hour, minute=0):
	return START + timedelta(hours=hour, minutes=minute)


class TestJobMetrics(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		make_org(ORG_A)
		make_org(ORG_B)
		make_user(MEMBER_A)
		make_user(OPS, roles=["System Manager"])
		make_member(MEMBER_A, ORG_A, role="Member")
		for i in range(20):  # durations 1..20 s: avg 10.5, nearest-rank p95 = 19
			insert_job(ORG_A, OCR, "Completed", at(1, i), seconds=i + 1)
		for i in range(3):
			insert_job(ORG_A, OCR, "Dead Letter", at(4, 50), started=at(5, i), completed=at(5, i + 1))
		insert_job(ORG_A, OCR, "Failed", at(7), started=at(7, 10))
		insert_job(ORG_A, OCR, "Canceled", at(7), completed=at(7, 1))
		insert_job(ORG_A, OCR, "Pending", at(8), priority="High")
		insert_job(ORG_A, OCR, "Pending", at(8), priority="Low")
		insert_job(ORG_A, OCR, "Queued", at(8), priority="Normal")
		insert_job(ORG_A, OCR, "Running", at(8), started=at(8, 1))
		for seconds in (2, 2, 2, 10):  # avg 4, p95 = 10
			insert_job(ORG_B, MAIL, "Completed", at(9), seconds=seconds)
		insert_job(ORG_B, MAIL, "Timed Out", at(9), started=at(9, 30))
		# Outside the window: the end is exclusive, the start inclusive.
		insert_job(ORG_A, OCR, "Completed", END, seconds=1000)
		insert_job(ORG_A, OCR, "Completed", START - timedelta(microseconds=1), seconds=1000)
		insert_job(ORG_A, OCR, "Dead Letter", datetime(1999, 6, 1), completed=datetime(1999, 6, 1, 1))
		# The rows went in without the engine, so they are counted as migrate's backfill counts them.
		metrics_rollup.rebuild((ORG_A, ORG_B), commit=False)

	def tearDown(self):
		frappe.set_user("Administrator")

	def metrics_as(self, user, **kwargs):
		with self.set_user(user):
			return api.get_job_metrics(**{**WINDOW, **kwargs})

	def type_row(self, reply, job_type):
		return next(row for row in reply["by_job_type"] if row["job_type"] == job_type)

	def test_system_manager_sees_every_organization_by_status_in_the_window(self):
		reply = self.metrics_as(OPS)
		self.assertEqual(
			reply["by_status"],
			{
				"Scheduled": 0,
				"Pending": 2,
				"Queued": 1,
				"Running": 1,
				"Completed": 24,
				"Failed": 1,
				"Timed Out": 1,
				"Canceled": 1,
				"Dead Letter": 3,
			},
		)
		self.assertEqual(reply["total"], 34)
		self.assertEqual(reply["window"], {"from": "2001-01-01T00:00:00", "to": "2001-01-02T00:00:00"})

	def test_average_p95_and_failure_rate_per_job_type(self):
		reply = self.metrics_as(OPS)
		ocr, mail = self.type_row(reply, OCR), self.type_row(reply, MAIL)
		self.assertEqual(ocr["avg_duration"], 10.5)
		# p95 comes from the rollup's histogram: never below the exact nearest rank (19 s), in its bucket
		# [16.25 s, 20.48 s); the answer is that bucket's upper boundary capped at the longest duration.
		exact = 19.0
		self.assertEqual(ocr["p95_duration"], 20.0)
		self.assertGreaterEqual(ocr["p95_duration"], exact)
		self.assertEqual(
			metrics_math.duration_bucket(int(ocr["p95_duration"] * 1e6)),
			metrics_math.duration_bucket(int(exact * 1e6)),
		)
		self.assertEqual((ocr["completed"], ocr["failed"], ocr["dead_letter"], ocr["total"]), (20, 4, 3, 29))
		self.assertEqual(ocr["failure_rate"], round(4 / 24, 4))
		self.assertEqual((mail["avg_duration"], mail["p95_duration"]), (4.0, 10.0))
		self.assertEqual(mail["failure_rate"], 0.2)

	def test_failures_are_bucketed_by_hour_and_the_cluster_is_found(self):
		reply = self.metrics_as(OPS)
		self.assertEqual(
			reply["failures_per_hour"],
			[
				{"hour": "2001-01-01T05:00:00", "job_type": OCR, "failures": 3},
				{"hour": "2001-01-01T07:00:00", "job_type": OCR, "failures": 1},
				{"hour": "2001-01-01T09:00:00", "job_type": MAIL, "failures": 1},
			],
		)
		self.assertEqual(
			[(c["job_type"], c["hour"], c["failures"]) for c in reply["failure_clusters"]],
			[(OCR, "2001-01-01T05:00:00", 3)],
		)

	def test_current_state_queue_depth_running_and_dead_letter_for_one_organization(self):
		reply = self.metrics_as(OPS, organization=ORG_A)
		self.assertEqual(
			reply["queue_depth"]["by_priority"], {"Low": 1, "Normal": 1, "High": 1, "Critical": 0}
		)
		self.assertEqual(reply["running"], 1)
		self.assertEqual(reply["dead_letter"], 4)  # includes the 1999 one: the queue, not the window
		self.assertEqual(reply["dead_letter_in_window"], 3)
		self.assertEqual([row["job_type"] for row in reply["by_job_type"]], [OCR])

	def test_system_manager_gets_redis_figures_and_a_member_does_not(self):
		admin = self.metrics_as(OPS)
		self.assertEqual(set(admin["queue_depth"]["by_queue"]), {"short", "default", "long"})
		self.assertGreaterEqual(admin["workers"]["live"], admin["workers"]["busy"])
		member = self.metrics_as(MEMBER_A)
		self.assertIsNone(member["queue_depth"]["by_queue"])
		self.assertIsNone(member["workers"])

	def test_member_sees_only_their_organization(self):
		reply = self.metrics_as(MEMBER_A)
		self.assertEqual(reply["organizations"], [ORG_A])
		self.assertEqual([row["job_type"] for row in reply["by_job_type"]], [OCR])
		self.assertEqual(reply["total"], 29)

	def test_member_asking_for_another_organization_gets_the_empty_result(self):
		reply = self.metrics_as(MEMBER_A, organization=ORG_B)
		self.assertEqual(reply["total"], 0)
		self.assertEqual(set(reply["by_status"].values()), {0})
		self.assertEqual((reply["by_job_type"], reply["running"], reply["dead_letter"]), ([], 0, 0))

	def test_a_user_without_organizations_gets_the_empty_result(self):
		make_user("t-metrics-nobody@dartwing.test")
		reply = self.metrics_as("t-metrics-nobody@dartwing.test")
		self.assertEqual((reply["total"], reply["organizations"]), (0, []))

	def test_window_bounds_are_validated(self):
		for arguments in (
			{"hours": 0, "from_date": None, "to_date": None},
			{"hours": 90 * 24 + 1, "from_date": None, "to_date": None},
			{"from_date": "2001-01-02", "to_date": "2001-01-01"},
			{"from_date": "2000-01-01", "to_date": "2001-01-01"},
			{"from_date": "not a date"},
		):
			with self.subTest(arguments=arguments), self.assertRaises(frappe.ValidationError):
				self.metrics_as(OPS, **arguments)

	def test_hours_window_ends_now(self):
		reply = self.metrics_as(OPS, hours=2, from_date=None, to_date=None)
		start, end = (datetime.fromisoformat(reply["window"][key]) for key in ("from", "to"))
		self.assertEqual(end - start, timedelta(hours=2))

	def test_prometheus_is_for_system_managers_only(self):
		with self.set_user(MEMBER_A), self.assertRaises(frappe.PermissionError):
			api.prometheus_metrics()

	def test_prometheus_text_parses_and_carries_the_gauges(self):
		with self.set_user(OPS):
			response = api.prometheus_metrics()
		self.assertEqual(response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
		families = {family.name: family for family in text_string_to_metric_families(response.get_data(True))}
		for name in ("dartwing_jobs_window", "dartwing_queue_depth", "dartwing_dead_letter_jobs"):
			self.assertIn(name, families)
		statuses = {sample.labels["status"] for sample in families["dartwing_jobs_window"].samples}
		self.assertEqual(statuses, set(metrics.STATUSES))
