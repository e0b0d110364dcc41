"""Limits and operator controls on real workers: the global running cap across organizations and
four workers, the start rate across two worker "hosts" (two separate sets of worker processes) and
shared between organizations when its window opens, a
paused Job Type resumed, and Frappe's site switches (maintenance mode, paused scheduler) on and off
with nothing lost.

The site switches are written to site_config.json with ``frappe.installer.update_site_config``, as
``bench set-maintenance-mode`` and ``bench scheduler pause`` write them; workers read them when they
start each job. The scheduler is not running here: the tests call its sweeps where it would.
"""

import contextlib

import frappe
from frappe.installer import update_site_config
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import dispatcher, pauses, scheduler
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	fresh_row,
	make_job_type,
	make_tenant,
	running_workers,
	submit_as,
	wait_for_status,
)
from dartwing.tests.utils import wait_until

SLACK_SECONDS = 0.25  # between a start taken in Redis and its log row (unlimited: 4 starts in ~0.2 s)


def max_overlap(intervals: list[tuple]) -> int:
	"""The most intervals open at one instant (an end at the same instant as a start closes first)."""
	events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
	events.sort(key=lambda event: (event[0], event[1]))
	most = current = 0
	for _at, step in events:
		current += step
		most = max(most, current)
	return most


def wait_all(jobs: list[str], status: str = "Completed", timeout: float = 90, tick=None) -> None:
	def done() -> bool:
		if tick:
			tick()
			frappe.db.commit()
		frappe.db.rollback()
		found = frappe.db.sql(
			"SELECT COUNT(*) FROM `tabBackground Job` WHERE name IN %(jobs)s AND status = %(status)s",
			{"jobs": tuple(jobs), "status": status},
		)[0][0]
		return found == len(jobs)

	wait_until(done, timeout=timeout, interval=0.2)


def statuses(jobs: list[str]) -> set[str]:
	frappe.db.rollback()
	return set(
		frappe.db.sql_list(
			"SELECT DISTINCT status FROM `tabBackground Job` WHERE name IN %(jobs)s", {"jobs": tuple(jobs)}
		)
	)


@contextlib.contextmanager
def site_switch(key: str):
	update_site_config(key, 1)
	try:
		yield
	finally:
		update_site_config(key, 0)


class TestGlobalCapAcrossOrganizations(WorkersTestCase):
	worker_count = 4

	@classmethod
	def set_up_data(cls) -> None:
		cls.user_a, cls.org_a = make_tenant("Owner")
		cls.user_b, cls.org_b = make_tenant("Owner")
		cls.job_type = make_job_type("dartwing.demo.demo_sleep", max_running_global=2, max_running_per_org=4)

	def test_a_global_cap_of_two_holds_across_two_organizations_and_four_workers(self):
		jobs = []
		for _round in range(4):
			jobs.append(submit_as(self.user_a, self.job_type, self.org_a, {"seconds": 0.6, "steps": 2}))
			jobs.append(submit_as(self.user_b, self.job_type, self.org_b, {"seconds": 0.6, "steps": 2}))
		seen_running = []

		def all_done() -> bool:
			frappe.db.rollback()
			counts = dict(
				frappe.db.sql(
					"SELECT status, COUNT(*) FROM `tabBackground Job` WHERE name IN %(jobs)s GROUP BY status",
					{"jobs": tuple(jobs)},
				)
			)
			seen_running.append(counts.get("Running", 0) + counts.get("Queued", 0))
			return counts.get("Completed", 0) == len(jobs)

		wait_until(all_done, timeout=90, interval=0.05)
		self.assertLessEqual(max(seen_running), 2, "more than two jobs held a slot at one poll")
		rows = frappe.db.sql(
			"""SELECT organization, started_at, completed_at FROM `tabBackground Job`
			WHERE name IN %(jobs)s ORDER BY started_at""",
			{"jobs": tuple(jobs)},
			as_dict=True,
		)
		overlap = max_overlap([(row.started_at, row.completed_at) for row in rows])
		self.assertEqual(overlap, 2, "four workers, eight jobs: exactly two ran at once, never three")
		first_four = [row.organization for row in rows[:4]]
		self.assertEqual(
			sorted(first_four).count(self.org_a), 2, f"fair share under the global cap: {first_four}"
		)


class TestStartRateAcrossTwoHosts(FrappeTestCase):
	"""Two separate sets of worker processes dispatch after every job they end: both take starts
	from the one window in Redis."""

	LIMIT, WINDOW = 3, 2

	def test_a_start_rate_holds_across_two_worker_hosts(self):
		frappe.set_user("Administrator")
		user_a, org_a = make_tenant("Owner")
		user_b, org_b = make_tenant("Owner")
		job_type = make_job_type(
			rate_limit_starts=self.LIMIT, rate_limit_starts_window_seconds=self.WINDOW, max_running_per_org=10
		)
		frappe.db.commit()
		with running_workers(2), running_workers(2):
			jobs = []
			for index in range(10):
				user, org = (user_a, org_a) if index % 2 else (user_b, org_b)
				jobs.append(submit_as(user, job_type, org))
			# the scheduler's tick sweep dispatches what waits on the window
			wait_all(jobs, timeout=60, tick=dispatcher.dispatch_limited_types)
		starts = frappe.db.sql_list(
			"""SELECT `timestamp` FROM `tabJob Execution Log` WHERE job IN %(jobs)s AND to_status = 'Queued'
			ORDER BY `timestamp`""",
			{"jobs": tuple(jobs)},
		)
		self.assertEqual(len(starts), len(jobs), "each job started once")
		for first, later in zip(starts, starts[self.LIMIT :], strict=False):
			gap = (later - first).total_seconds()
			# A start is taken on Redis's clock, then the log row is written (its own time) after the
			# dispatch's earlier jobs of the same loop: a loaded machine delays some rows more than others.
			self.assertGreaterEqual(
				gap, self.WINDOW - SLACK_SECONDS, f"{self.LIMIT + 1} starts within {gap}s"
			)
		spread = (starts[-1] - starts[0]).total_seconds()
		self.assertGreaterEqual(
			spread, 3 * self.WINDOW - SLACK_SECONDS, "ten starts at 3 per 2 s span three windows"
		)


class TestStartRateFairShare(WorkersTestCase):
	"""An organization that queued a backlog first does not take every start of the window: when the
	window opens, the waiting organizations share its starts."""

	worker_count = 2
	LIMIT, WINDOW = 2, 2

	@classmethod
	def set_up_data(cls) -> None:
		cls.user_a, cls.org_a = make_tenant("Owner")
		cls.user_b, cls.org_b = make_tenant("Owner")
		cls.job_type = make_job_type(
			rate_limit_starts=cls.LIMIT, rate_limit_starts_window_seconds=cls.WINDOW, max_running_per_org=20
		)

	def test_a_later_organization_starts_within_the_first_windows_not_after_the_backlog(self):
		backlog = [submit_as(self.user_a, self.job_type, self.org_a) for _ in range(12)]
		later = [submit_as(self.user_b, self.job_type, self.org_b) for _ in range(3)]
		wait_all(backlog + later, timeout=120, tick=dispatcher.dispatch_limited_types)
		order = frappe.db.sql_list(
			"""SELECT job FROM `tabJob Execution Log` WHERE job IN %(jobs)s AND to_status = 'Queued'
			ORDER BY `timestamp`, creation""",
			{"jobs": tuple(backlog + later)},
		)
		self.assertEqual(len(order), 15, "each job started once")
		last_of_b = max(order.index(job) for job in later)
		# first come, first served would start B's jobs 13th to 15th; sharing each window gives B one
		# start per window from the second window on
		self.assertLess(last_of_b, 10, f"B's jobs started at {sorted(order.index(j) + 1 for j in later)}")


class TestPauseWithWorkers(WorkersTestCase):
	@classmethod
	def set_up_data(cls) -> None:
		cls.user, cls.org = make_tenant("Owner")
		cls.member, _org = make_tenant("Member", org=cls.org)

	def setUp(self) -> None:
		frappe.set_user("Administrator")

	def test_a_paused_type_waits_then_runs_after_resume(self):
		job_type = make_job_type()
		pauses.pause_job_type(job_type)
		frappe.db.commit()
		jobs = [submit_as(self.user, job_type, self.org) for _ in range(3)]
		dispatcher.dispatch_now(self.org)
		self.assertEqual(statuses(jobs), {"Pending"})
		result = pauses.resume_job_type(job_type)
		frappe.db.commit()  # the resume wakes the type after this commit
		self.assertTrue(result["changed"])
		wait_all(jobs, timeout=30)
		comments = frappe.get_all(
			"Comment", filters={"reference_doctype": "Job Type", "reference_name": job_type}, pluck="content"
		)
		self.assertEqual(len(comments), 2, comments)
		self.assertTrue(any("Paused by Administrator" in text for text in comments))

	def test_a_job_dispatched_just_before_the_pause_does_not_start(self):
		job_type = make_job_type()
		pauses.pause_job_type(job_type)
		frappe.db.commit()
		job = submit_as(self.user, job_type, self.org)
		row = frappe.db.get_value("Background Job", job, "*", as_dict=True)
		self.assertTrue(dispatcher.enqueue(row))  # a dispatch that read its view before the pause
		frappe.db.commit()

		def refused() -> bool:
			frappe.db.rollback()
			return bool(
				frappe.db.exists(
					"Job Execution Log", {"job": job, "from_status": "Queued", "to_status": "Pending"}
				)
			)

		wait_until(refused, timeout=30)
		self.assertEqual(fresh_row(job).status, "Pending")
		pauses.resume_job_type(job_type)
		frappe.db.commit()
		wait_for_status(job, "Completed")

	def test_a_running_job_finishes_when_its_type_is_paused(self):
		job_type = make_job_type("dartwing.demo.demo_sleep")
		job = submit_as(self.user, job_type, self.org, {"seconds": 1.5, "steps": 3})
		wait_for_status(job, "Running")
		pauses.pause_job_type(job_type)
		frappe.db.commit()
		wait_for_status(job, "Completed")
		pauses.resume_job_type(job_type)
		frappe.db.commit()

	def test_a_type_whose_handler_no_longer_imports_can_still_be_paused(self):
		job_type = make_job_type()
		frappe.db.set_value("Job Type", job_type, "handler", "dartwing.no_such_module.gone")
		frappe.db.commit()
		self.assertTrue(pauses.pause_job_type(job_type)["paused"])
		frappe.db.commit()
		self.assertEqual(
			frappe.db.get_value("Job Type", job_type, ["paused", "paused_by"]), (1, "Administrator")
		)
		self.assertFalse(pauses.pause_job_type(job_type)["changed"], "pausing a paused type changes nothing")
		self.assertTrue(pauses.resume_job_type(job_type)["changed"])
		frappe.db.commit()

	def test_only_a_system_manager_may_pause_or_resume(self):
		job_type = make_job_type()
		frappe.db.commit()
		frappe.set_user(self.user)
		try:
			with self.assertRaises(frappe.PermissionError):
				pauses.pause_job_type(job_type)
		finally:
			frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Job Type", job_type, "paused"), 0)
		with self.assertRaises(frappe.DoesNotExistError):
			pauses.pause_job_type("no_such_type_here")


class TestPauseOnlyThroughPauseAndResume(FrappeTestCase):
	"""A saved Job Type's pause fields change only through pauses.py (audited): a REST PUT or an import
	saves the document, and the save refuses a changed pause (417, nothing written)."""

	def tearDown(self) -> None:
		frappe.db.rollback()

	def assert_save_refused(self, job_type: str, **changes) -> None:
		doc = frappe.get_doc("Job Type", job_type)
		doc.update(changes)
		with self.assertRaisesRegex(frappe.ValidationError, "Pause / Resume buttons"):
			doc.save()

	def test_a_save_cannot_pause_or_resume_a_type(self):
		job_type = make_job_type(max_retries=3)
		self.assert_save_refused(job_type, paused=1)
		self.assert_save_refused(job_type, paused="1", max_retries=2)
		self.assertEqual(frappe.db.get_value("Job Type", job_type, ["paused", "max_retries"]), (0, 3))
		pauses.pause_job_type(job_type)
		paused = frappe.db.get_value("Job Type", job_type, ["paused", "paused_by", "paused_at"])
		self.assert_save_refused(job_type, paused=0)
		self.assert_save_refused(job_type, paused_by="Guest")
		self.assert_save_refused(job_type, paused_at="2001-01-01 00:00:00")
		self.assert_save_refused(job_type, paused_at="not a moment")
		self.assertEqual(
			frappe.db.get_value("Job Type", job_type, ["paused", "paused_by", "paused_at"]), paused
		)

	def test_other_fields_of_a_paused_type_still_save_with_its_pause_sent_back_as_text(self):
		job_type = make_job_type()
		pauses.pause_job_type(job_type)
		doc = frappe.get_doc("Job Type", job_type)
		doc.update({"max_retries": 7, "paused": "1", "paused_at": str(doc.paused_at)})  # what a form sends
		doc.save()
		self.assertEqual(
			frappe.db.get_value("Job Type", job_type, ["paused", "paused_by", "max_retries"]),
			(1, "Administrator", 7),
		)

	def test_a_type_created_paused_records_who_created_it_paused(self):
		job_type = make_job_type(paused=1, paused_by="Guest", paused_at="2001-01-01 00:00:00")
		paused, by, at = frappe.db.get_value("Job Type", job_type, ["paused", "paused_by", "paused_at"])
		self.assertEqual((paused, by), (1, "Administrator"))
		self.assertGreater(at, frappe.utils.add_to_date(frappe.utils.now_datetime(), minutes=-5))
		comments = frappe.get_all(
			"Comment", filters={"reference_doctype": "Job Type", "reference_name": job_type}, pluck="content"
		)
		self.assertEqual(len(comments), 1)
		self.assertIn("Created paused by Administrator", comments[0])
		unpaused = make_job_type(paused_by="Guest", paused_at="2001-01-01 00:00:00")
		self.assertEqual(
			frappe.db.get_value("Job Type", unpaused, ["paused", "paused_by", "paused_at"]), (0, None, None)
		)


class TestSiteSwitchesWithWorkers(WorkersTestCase):
	@classmethod
	def set_up_data(cls) -> None:
		cls.user, cls.org = make_tenant("Owner")

	def setUp(self) -> None:
		frappe.set_user("Administrator")

	def held_then_run(self, key: str, gate: str) -> None:
		from dartwing.dartwing_core.background_jobs import gates

		job_type = make_job_type()
		frappe.db.commit()
		with site_switch(key):
			jobs = [submit_as(self.user, job_type, self.org) for _ in range(4)]  # accepted, they wait
			raced = submit_as(self.user, job_type, self.org)
			# a job handed to RQ just before the switch: the worker that takes it must not start it
			self.assertTrue(
				dispatcher.enqueue(frappe.db.get_value("Background Job", raced, "*", as_dict=True))
			)
			frappe.db.commit()
			wait_until(lambda: fresh_row(raced).status == "Pending", timeout=30)
			dispatcher.dispatch_now(self.org)
			scheduler.dispatch_waiting_jobs()
			self.assertEqual(statuses([*jobs, raced]), {"Pending"})
			answer = gates.waiting_for(frappe.db.get_value("Background Job", jobs[0], "*", as_dict=True))
			self.assertEqual(answer["gate"], gate)
		# switched off: the scheduler's minute sweep dispatches what waited
		wait_all([*jobs, raced], timeout=30, tick=scheduler.dispatch_waiting_jobs)

	def test_maintenance_mode_on_and_off_loses_nothing(self):
		self.held_then_run("maintenance_mode", "site_maintenance")

	def test_a_paused_scheduler_on_and_off_loses_nothing(self):
		self.held_then_run("pause_scheduler", "scheduler_paused")
