"""Recurring schedules (Job Schedule) on real MariaDB and Redis: validation, tenancy, and the sweep —
one job per occurrence with two sweepers at once, a crash between claim and submission, catch-up,
suspended organizations, disabled job types and owners who lost their rights.

The sweep commits (as the scheduler's does), so every schedule here belongs to a fresh tenant. An
occurrence is made due by moving ``next_run_at`` into the past, as time passing would.
"""

import json
import os
import signal
import tempfile
import threading
from datetime import timedelta
from unittest import mock

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import schedules, scheduling
from dartwing.tests.engine_utils import make_job_type, make_tenant
from dartwing.tests.utils import benchless_only, make_member, make_org, wait_until

SCHEDULE = "Job Schedule"


def make_schedule(owner: str, org: str, job_type: str, cron: str = "* * * * *", **fields) -> str:
	frappe.set_user(owner)
	try:
		doc = frappe.get_doc(
			{
				"doctype": SCHEDULE,
				"organization": org,
				"job_type": job_type,
				"cron_expression": cron,
				"parameters": {"report": "daily"},
				**fields,
			}
		).insert()
		frappe.db.commit()
		return doc.name
	finally:
		frappe.set_user("Administrator")


def make_due(schedule: str, ago: timedelta = timedelta(seconds=5)) -> None:
	"""Move the next occurrence into the past (a whole minute, as cron occurrences are)."""
	when = (now_datetime() - ago).replace(second=0, microsecond=0)
	frappe.db.set_value(SCHEDULE, schedule, "next_run_at", when, update_modified=False)
	frappe.db.commit()


def jobs_of(schedule: str) -> list[frappe._dict]:
	frappe.db.rollback()
	return frappe.get_all(
		"Background Job", filters={"schedule": schedule}, fields=["name", "submitted_by", "status"]
	)


def fresh(schedule: str) -> frappe._dict:
	frappe.db.rollback()
	return frappe.db.get_value(
		SCHEDULE,
		schedule,
		["next_run_at", "last_run_at", "last_job", "schedule_status", "status_reason"],
		as_dict=True,
	)


class TestScheduleValidation(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.viewer, _ = make_tenant("Viewer", org=cls.org)
		cls.stranger, cls.other_org = make_tenant("Owner")
		cls.job_type = make_job_type()
		frappe.db.commit()

	def count(self) -> int:
		return frappe.db.count(SCHEDULE, {"organization": self.org})

	def test_bad_cron_time_zone_catch_up_or_parameters_are_refused_and_nothing_is_written(self):
		before = self.count()
		for fields in (
			{"cron_expression": "every day"},
			{"cron_expression": "61 * * * *"},
			{"cron_expression": "* * * * * *"},  # seconds: schedules are minute-resolution
			{"time_zone": "Mars/Olympus"},
			{"catch_up": "Sometimes"},
			{"parameters": "[1, 2]"},
		):
			with self.subTest(**fields), self.assertRaises(frappe.ValidationError):
				make_schedule(
					self.owner, self.org, self.job_type, **{"cron_expression": "0 * * * *", **fields}
				)
			frappe.db.rollback()
		self.assertEqual(self.count(), before)

	def test_a_new_schedule_gets_the_site_time_zone_and_its_next_occurrence_after_now(self):
		name = make_schedule(self.owner, self.org, self.job_type, "*/15 * * * *")
		doc = frappe.get_doc(SCHEDULE, name)
		self.assertEqual(doc.time_zone, schedules.site_time_zone())
		self.assertGreater(doc.next_run_at, now_datetime())
		self.assertEqual(doc.next_run_at.minute % 15, 0)
		self.assertEqual((doc.schedule_status, doc.catch_up), ("Active", "Run once"))

	def test_the_detail_shows_the_next_five_occurrences_in_the_schedules_time_zone(self):
		# a schedule zone other than the site's (Frappe's default is Asia/Kolkata), so a conversion shows
		site_zone = schedules.site_time_zone()
		zone = "America/New_York" if site_zone == "Asia/Kolkata" else "Asia/Kolkata"
		name = make_schedule(self.owner, self.org, self.job_type, "30 9 * * *", time_zone=zone)
		frappe.set_user(self.owner)
		detail = schedules.get_schedule(name)
		frappe.set_user("Administrator")
		self.assertEqual(len(detail["upcoming"]), 5)
		for text in detail["upcoming"]:  # site-naive, as now_datetime(): read them in the site's zone
			site_time = frappe.utils.get_datetime(text).replace(tzinfo=scheduling.ZoneInfo(site_zone))
			local = site_time.astimezone(scheduling.ZoneInfo(zone))
			self.assertEqual((local.hour, local.minute), (9, 30))
		self.assertEqual(detail["parameters"], {"report": "daily"})

	def test_a_viewer_or_a_member_of_another_organization_cannot_create_a_schedule(self):
		for user in (self.viewer, self.stranger):
			with self.subTest(user=user), self.assertRaises(frappe.PermissionError):
				make_schedule(user, self.org, self.job_type)
			frappe.db.rollback()

	def test_a_job_type_with_a_required_permission_needs_it_to_be_scheduled(self):
		guarded = make_job_type(required_permission="Role")
		frappe.db.commit()
		with self.assertRaises(frappe.PermissionError):
			make_schedule(self.owner, self.org, guarded)

	def test_another_tenants_schedule_is_invisible_and_answered_as_missing(self):
		name = make_schedule(self.owner, self.org, self.job_type)
		frappe.set_user(self.stranger)
		try:
			self.assertNotIn(name, [s["schedule"] for s in schedules.list_schedules()["schedules"]])
			self.assertEqual(schedules.list_schedules(self.org), {"schedules": [], "total": 0})
			self.assertNotIn(name, frappe.get_list(SCHEDULE, pluck="name"))
			self.assertFalse(frappe.has_permission(SCHEDULE, "read", doc=name))
			with self.assertRaises(frappe.DoesNotExistError) as caught:
				schedules.get_schedule(name)
			with self.assertRaises(frappe.DoesNotExistError) as missing:
				schedules.get_schedule("no-such-schedule")
			self.assertEqual(
				str(caught.exception).replace(name, "X"),
				str(missing.exception).replace("no-such-schedule", "X"),
			)
		finally:
			frappe.set_user("Administrator")
		frappe.set_user(self.owner)
		self.assertIn(name, [s["schedule"] for s in schedules.list_schedules(self.org)["schedules"]])
		frappe.set_user("Administrator")

	def test_saving_the_form_never_puts_back_an_occurrence_the_scheduler_claimed(self):
		name = make_schedule(self.owner, self.org, self.job_type)
		frappe.set_user(self.owner)
		stale = frappe.get_doc(SCHEDULE, name)  # the form as loaded
		frappe.set_user("Administrator")
		later = stale.next_run_at + timedelta(minutes=7)
		frappe.db.set_value(SCHEDULE, name, "next_run_at", later, update_modified=False)  # a claim
		frappe.db.commit()
		frappe.set_user(self.owner)
		stale.description = "edited"
		stale.save()
		frappe.db.commit()
		frappe.set_user("Administrator")
		self.assertEqual(fresh(name).next_run_at, later)


class TestScheduleSweep(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type(dedup_window_seconds=300)
		frappe.db.commit()

	def test_a_due_occurrence_submits_one_job_as_the_owner_and_moves_to_the_next(self):
		name = make_schedule(self.owner, self.org, self.job_type)
		make_due(name)
		occurrence = fresh(name).next_run_at
		self.assertTrue(schedules.run_occurrence(name, occurrence))
		jobs = jobs_of(name)
		self.assertEqual(len(jobs), 1)
		self.assertEqual(jobs[0].submitted_by, self.owner)
		row = fresh(name)
		self.assertEqual(
			(row.last_run_at, row.last_job, row.schedule_status), (occurrence, jobs[0].name, "Active")
		)
		self.assertGreater(row.next_run_at, now_datetime())
		schedules.submit_due_schedules()
		self.assertEqual(len(jobs_of(name)), 1)  # nothing more is due

	def test_two_sweepers_at_once_submit_exactly_one_job_per_occurrence(self):
		names = [make_schedule(self.owner, self.org, self.job_type, parameters={"n": n}) for n in range(12)]
		for name in names:
			make_due(name)
		site, errors, counts = frappe.local.site, [], []
		barrier = threading.Barrier(2)

		def sweeper():
			frappe.init(site)
			frappe.connect()
			try:
				barrier.wait()
				counts.append(schedules.submit_due_schedules())
			except Exception as exc:
				errors.append(repr(exc))
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=sweeper) for _ in range(2)]
		for thread in threads:
			thread.start()
		for thread in threads:
			thread.join()
		self.assertEqual(errors, [])
		self.assertEqual([len(jobs_of(name)) for name in names], [1] * len(names))
		self.assertGreaterEqual(sum(counts), len(names))  # other tenants' due schedules may count too

	def test_a_crash_between_claim_and_submission_leaves_the_occurrence_due_and_it_runs_once_later(self):
		name = make_schedule(self.owner, self.org, self.job_type)
		make_due(name)
		occurrence = fresh(name).next_run_at
		with mock.patch.object(schedules, "_submit_as_owner", side_effect=RuntimeError("worker died")):
			self.assertFalse(schedules.run_occurrence(name, occurrence))
		self.assertEqual(jobs_of(name), [])
		self.assertEqual(fresh(name).next_run_at, occurrence)  # the claim was rolled back
		schedules.submit_due_schedules()
		schedules.submit_due_schedules()
		self.assertEqual(len(jobs_of(name)), 1)
		self.assertEqual(fresh(name).last_run_at, occurrence)

	@benchless_only("starts and kills a benchless process")
	def test_a_process_killed_while_it_holds_a_claim_leaves_the_occurrence_to_the_next_sweep(self):
		from benchless.testing import spawn

		name = make_schedule(self.owner, self.org, self.job_type, parameters={"p": "killed"})
		make_due(name)
		occurrence = fresh(name).next_run_at
		marker = os.path.join(tempfile.mkdtemp(), "claimed")
		proc = spawn(
			"execute",
			"--site",
			frappe.local.site,
			"dartwing.tests.crash_helpers.claim_occurrence_and_hang",
			"--args",
			json.dumps([name, marker]),
		)
		try:
			wait_until(lambda: os.path.exists(marker) or proc.poll() is not None, timeout=30)
			self.assertIsNone(proc.poll(), "the helper should hang holding its claim")
			self.assertEqual(fresh(name).next_run_at, occurrence)  # claimed, not committed
		finally:
			os.killpg(proc.pid, signal.SIGKILL)  # the crash: no commit, the connection drops
			proc.wait()
		schedules.submit_due_schedules()  # waits for the server to roll the dead claim back
		schedules.submit_due_schedules()
		self.assertEqual(len(jobs_of(name)), 1)
		self.assertEqual(fresh(name).last_run_at, occurrence)

	def test_after_downtime_run_once_submits_one_job_and_skip_missed_submits_none(self):
		once = make_schedule(self.owner, self.org, self.job_type, parameters={"p": "once"})
		skip = make_schedule(
			self.owner, self.org, self.job_type, parameters={"p": "skip"}, catch_up="Skip missed"
		)
		for name in (once, skip):
			make_due(name, ago=timedelta(minutes=30))  # thirty occurrences missed
		schedules.submit_due_schedules()
		schedules.submit_due_schedules()
		self.assertEqual(len(jobs_of(once)), 1)
		self.assertEqual(jobs_of(skip), [])
		skipped = fresh(skip)
		self.assertIn("skipped", skipped.status_reason)
		for name in (once, skip):
			self.assertGreater(fresh(name).next_run_at, now_datetime())

	def test_an_on_time_occurrence_of_a_skip_missed_schedule_still_runs(self):
		name = make_schedule(self.owner, self.org, self.job_type, catch_up="Skip missed", cron="0 0 1 1 *")
		make_due(name, ago=timedelta(seconds=1))
		schedules.submit_due_schedules()
		self.assertEqual(len(jobs_of(name)), 1)


class TestScheduleBlocked(FrappeTestCase):
	def test_a_suspended_organizations_schedule_pauses_with_the_reason_visible(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type()
		name = make_schedule(owner, org, job_type)
		make_org(org, "Suspended")
		make_due(name)
		schedules.submit_due_schedules()
		row = fresh(name)
		self.assertEqual(jobs_of(name), [])
		self.assertEqual(row.schedule_status, "Paused")
		self.assertIn("Suspended", row.status_reason)
		self.assertGreater(row.next_run_at, now_datetime())
		make_org(org, "Active")
		frappe.db.commit()
		make_due(name)
		schedules.submit_due_schedules()
		self.assertEqual((len(jobs_of(name)), fresh(name).schedule_status), (1, "Active"))

	def test_a_disabled_job_types_schedule_does_not_submit_and_says_why(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type()
		name = make_schedule(owner, org, job_type)
		frappe.db.set_value("Job Type", job_type, "enabled", 0)
		make_due(name)
		schedules.submit_due_schedules()
		row = fresh(name)
		self.assertEqual(jobs_of(name), [])
		self.assertEqual(row.schedule_status, "Not submitted")
		self.assertIn("disabled", row.status_reason)

	def test_an_ex_members_schedule_stops_with_a_reason(self):
		owner, org = make_tenant("Member")
		job_type = make_job_type()
		name = make_schedule(owner, org, job_type)
		make_member(owner, org, role="Member", status="Inactive")
		make_due(name)
		schedules.submit_due_schedules()
		row = fresh(name)
		self.assertEqual(jobs_of(name), [])
		self.assertEqual(row.schedule_status, "Not submitted")
		self.assertIn("may no longer submit", row.status_reason)

	def test_an_engine_refusal_is_recorded_and_the_schedule_carries_on(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type(rate_limit_count=1, rate_limit_window_seconds=3600)
		first = make_schedule(owner, org, job_type, parameters={"n": 1})
		second = make_schedule(owner, org, job_type, parameters={"n": 2})
		for name in (first, second):
			make_due(name)
		schedules.submit_due_schedules()
		outcomes = sorted(fresh(name).schedule_status for name in (first, second))
		self.assertEqual(outcomes, ["Active", "Not submitted"])
		refused = first if fresh(first).schedule_status == "Not submitted" else second
		self.assertIn("Too many jobs", fresh(refused).status_reason)
		self.assertGreater(fresh(refused).next_run_at, now_datetime())
