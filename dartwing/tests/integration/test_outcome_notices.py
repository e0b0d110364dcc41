"""Telling people and other apps about job outcomes, on real workers.

Dead letters become Notification Log entries for the organization's Owners/Admins and the System
Managers, one per job type (and organization) and window even when many jobs dead-letter at once on four
workers; email is queued only when the site says so; a rolled-back dead letter notifies nobody.
``dartwing_job_events`` hooks of another app (the fixture app ``dartwing_probe``, installed on the test
site for the class) run after commit, in order, each in isolation: one that fails changes neither the
job nor the other hooks.
"""

import os
import sys
from datetime import timedelta

import frappe
from frappe.tests.utils import FrappeTestCase, patch_hooks
from frappe.utils import now_datetime
from frappe.utils.background_jobs import get_redis_conn

from dartwing.dartwing_core.background_jobs import engine, job_events, notifications, scheduler, state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	fresh_row,
	make_job_type,
	make_tenant,
	submit_as,
	unique,
	wait_for_status,
)
from dartwing.tests.utils import benchless_only, make_user, wait_until

NOTICE = "Notification Log"
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
PROBE_APP = "dartwing_probe"
PROBE_TYPE = "dartwing_probe_flaky"


def notices_of(job_type: str) -> list[frappe._dict]:
	frappe.db.rollback()
	return frappe.get_all(
		NOTICE,
		filters={"document_type": "Background Job", "subject": ["like", f"% of type {job_type} %"]},
		fields=["for_user", "document_name", "subject", "type", "email_content"],
	)


def emails_for(jobs: list[str]) -> list[frappe._dict]:
	frappe.db.rollback()
	return frappe.get_all(
		"Email Queue",
		filters={"reference_doctype": "Background Job", "reference_name": ["in", jobs]},
		fields=["name", "reference_name", "status", "message"],
	)


def queues_drained() -> bool:
	"""No job waits in RQ (Frappe's enqueue_create_notification makes the entries in a background job)."""
	from frappe.utils.background_jobs import get_queue

	return all(
		not get_queue(name).count and not get_queue(name).started_job_registry.count
		for name in ("short", "default", "long")
	)


def recipients_of(email_queue: str) -> set[str]:
	return set(frappe.get_all("Email Queue Recipient", filters={"parent": email_queue}, pluck="recipient"))


class TestDeadLetterNotices(WorkersTestCase):
	worker_count = 4

	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")
		cls.org_admin, _org = make_tenant("Admin", org=cls.org)
		cls.member, _org = make_tenant("Member", org=cls.org)
		cls.other_owner, cls.other_org = make_tenant("Owner")
		cls.admin = make_user(f"{frappe.generate_hash(length=8)}-notice-sm@example.test", ["System Manager"])

	def expected_users(self, organization: str) -> set[str]:
		managers = set(notifications.system_managers()) - {"Administrator"}
		return managers | set(notifications.organization_admins(organization))

	def test_many_concurrent_dead_letters_make_one_notice_per_job_type_and_window_for_each_person(self):
		job_type = make_job_type("dartwing.demo.demo_fail", max_retries=0, max_running_per_org=8)
		frappe.db.commit()
		ours = [submit_as(self.member, job_type, self.org, {"n": n}) for n in range(16)]
		theirs = [submit_as(self.other_owner, job_type, self.other_org, {"n": n}) for n in range(4)]
		for job in ours + theirs:
			wait_for_status(job, "Dead Letter", timeout=60)
		managers = set(notifications.system_managers()) - {"Administrator"}  # never notified: not a person
		ours_users = set(notifications.organization_admins(self.org))
		theirs_users = set(notifications.organization_admins(self.other_org))
		self.assertEqual(ours_users, {self.owner, self.org_admin})
		self.assertIn(self.admin, managers)
		# each person: one entry for the type from their organization (System Managers: one in all)
		expected = len(managers | ours_users) + len(theirs_users - managers)
		wait_until(lambda: len(notices_of(job_type)) >= expected, timeout=30)
		wait_until(queues_drained, timeout=30)  # no notice job still on its way
		notices = notices_of(job_type)
		by_user: dict[str, list] = {}
		for notice in notices:
			by_user.setdefault(notice.for_user, []).append(notice)
		self.assertEqual(set(by_user), managers | ours_users | theirs_users)
		self.assertNotIn(self.member, by_user)  # members are not the people who must act
		for user, entries in by_user.items():
			allowed = 2 if user in managers and user in (ours_users | theirs_users) else 1
			self.assertLessEqual(len(entries), allowed, f"{user} got {len(entries)} entries")
		for user in ours_users - managers:
			[entry] = by_user[user]
			self.assertIn(entry.document_name, ours)  # it links a job of their own organization
			self.assertEqual(entry.type, "Alert")
			self.assertIn("not notified one by one", entry.email_content)
		for user in theirs_users - managers:
			self.assertIn(by_user[user][0].document_name, theirs)
		self.assertEqual(len(notices), expected)
		self.assertEqual(emails_for(ours + theirs), [])  # email is off by default

	def test_a_later_window_notifies_again(self):
		job_type = make_job_type("dartwing.demo.demo_fail", max_retries=0)
		frappe.db.commit()
		first = submit_as(self.owner, job_type, self.org, {"n": 1})
		wait_for_status(first, "Dead Letter")
		wait_until(lambda: {n.for_user for n in notices_of(job_type)} >= {self.owner}, timeout=20)
		# the window passes (its claim expires)
		for group in (notifications.SITE_WIDE, self.org):
			get_redis_conn().delete(f"dartwing:dead_letter_notice:{frappe.local.site}:{job_type}:{group}")
		second = submit_as(self.owner, job_type, self.org, {"n": 2})
		wait_for_status(second, "Dead Letter")
		wait_until(
			lambda: {n.document_name for n in notices_of(job_type) if n.for_user == self.owner}
			== {first, second},
			timeout=20,
		)

	def test_email_is_queued_through_frappes_mail_queue_only_when_the_site_setting_is_on(self):
		from frappe.installer import update_site_config

		job_type = make_job_type("dartwing.demo.demo_fail", max_retries=0)
		frappe.db.commit()
		off = submit_as(self.owner, job_type, self.org, {"n": "off"})
		wait_for_status(off, "Dead Letter")
		wait_until(lambda: notices_of(job_type), timeout=20)
		self.assertEqual(emails_for([off]), [])
		other_type = make_job_type("dartwing.demo.demo_fail", max_retries=0)
		frappe.db.commit()
		update_site_config(notifications.EMAIL_SETTING, 1)
		self.addCleanup(update_site_config, notifications.EMAIL_SETTING, "None")
		# Frappe queues email only with an outgoing account: the site config's is one (nothing is sent here)
		update_site_config("mail_server", "smtp.invalid")
		self.addCleanup(update_site_config, "mail_server", "None")
		on = submit_as(self.owner, other_type, self.org, {"n": "on"})
		wait_for_status(on, "Dead Letter")
		[email] = wait_until(lambda: emails_for([on]), timeout=20)
		self.assertEqual(email.status, "Not Sent")
		# the subject names the job and its type (a long header may be folded at spaces: test the words)
		self.assertTrue(on in email.message and other_type in email.message, email.message[:500])
		addresses = set(
			frappe.get_all(
				"User", filters={"name": ["in", list(self.expected_users(self.org))]}, pluck="email"
			)
		)
		self.assertEqual(recipients_of(email.name), addresses - {""})

	def test_without_an_outgoing_email_account_the_email_is_logged_and_the_entries_stand(self):
		from frappe.installer import update_site_config

		job_type = make_job_type("dartwing.demo.demo_fail", max_retries=0)
		frappe.db.commit()
		update_site_config(notifications.EMAIL_SETTING, 1)
		self.addCleanup(update_site_config, notifications.EMAIL_SETTING, "None")
		job = submit_as(self.owner, job_type, self.org, {"n": "no account"})
		wait_for_status(job, "Dead Letter")
		title = f"Dead-letter notice email for job {job} not queued"
		wait_until(
			lambda: frappe.db.rollback() or frappe.db.exists("Error Log", {"method": title}), timeout=20
		)
		expected = set(self.expected_users(self.org)) - {"Administrator"}
		wait_until(lambda: {n.for_user for n in notices_of(job_type)} == expected, timeout=20)
		self.assertEqual(emails_for([job]), [])

	def test_a_rolled_back_dead_letter_notifies_nobody(self):
		job_type = make_job_type("dartwing.demo.demo_echo", max_retries=0)
		frappe.db.commit()
		later = now_datetime() + timedelta(days=1)
		job = submit_as(self.owner, job_type, self.org, {"n": "rollback"}, run_at=later)
		row = state.load(job, for_update=True)
		due = state.transition(row, JobStatus.PENDING, message="test: due")
		state.transition(due.job, JobStatus.DEAD_LETTER, message="test: dead letter, rolled back")
		frappe.db.rollback()
		self.assertEqual(fresh_row(job).status, JobStatus.SCHEDULED.value)
		self.assertEqual(notices_of(job_type), [])
		key = f"dartwing:dead_letter_notice:{frappe.local.site}:{job_type}:{notifications.SITE_WIDE}"
		self.assertFalse(get_redis_conn().exists(key))
		self.assertEqual(emails_for([job]), [])


@benchless_only("installs the fixture app dartwing_probe on the test site for the class")
class TestJobEventHooks(WorkersTestCase):
	@classmethod
	def set_up_data(cls):
		cls._install_probe()
		cls.owner, cls.org = make_tenant("Owner")
		if not frappe.db.exists("Job Type", PROBE_TYPE):
			frappe.get_doc(
				{
					"doctype": "Job Type",
					"job_type_name": PROBE_TYPE,
					"handler": "dartwing.demo.demo_flaky",
					"dedup_window_seconds": 0,
				}
			).insert(ignore_permissions=True)
		frappe.db.set_value(
			"Job Type",
			PROBE_TYPE,
			{"max_retries": 1, "backoff_base_seconds": 1, "backoff_max_seconds": 1, "backoff_jitter": 0},
		)

	@classmethod
	def _install_probe(cls) -> None:
		from frappe.installer import add_to_installed_apps

		cls._pythonpath = os.environ.get("PYTHONPATH")
		os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [FIXTURES, cls._pythonpath]))  # workers
		sys.path.insert(0, FIXTURES)
		cls._apps_txt = os.path.join(frappe.local.sites_path, "apps.txt")
		with open(cls._apps_txt) as f:
			cls._apps_before = f.read()
		with open(cls._apps_txt, "a") as f:
			f.write(("" if cls._apps_before.endswith("\n") else "\n") + PROBE_APP + "\n")
		add_to_installed_apps(PROBE_APP)
		frappe.clear_cache()

	@classmethod
	def tearDownClass(cls):
		from frappe.installer import read_installed_apps, write_installed_apps

		try:
			super().tearDownClass()
		finally:
			write_installed_apps([app for app in read_installed_apps() if app != PROBE_APP])
			frappe.db.commit()
			with open(cls._apps_txt, "w") as f:
				f.write(cls._apps_before)
			if cls._pythonpath is None:
				os.environ.pop("PYTHONPATH", None)
			else:
				os.environ["PYTHONPATH"] = cls._pythonpath
			sys.path.remove(FIXTURES)
			frappe.clear_cache()

	def calls(self, job: str) -> list[str]:
		key = f"dartwing_probe:{frappe.local.site}:{job}"
		return [value.decode() for value in get_redis_conn().lrange(key, 0, -1)]

	def test_hooks_run_after_commit_in_order_and_a_failing_one_changes_nothing(self):
		job = submit_as(self.owner, PROBE_TYPE, self.org, {"fail_times": 5})
		dead = wait_for_status(job, "Dead Letter", tick=scheduler.retry_due_jobs)
		self.assertEqual(dead.error_type, "TransientError")  # the outcome the engine decided, kept
		wait_until(lambda: len(self.calls(job)) >= 3, timeout=20)
		self.assertEqual(
			self.calls(job),
			["own:on_failure:Failed", "own:on_dead_letter:Dead Letter", "any:on_dead_letter:Dead Letter"],
		)
		frappe.db.rollback()
		subjects = frappe.get_all(
			NOTICE, filters={"document_name": job, "for_user": self.owner}, pluck="subject"
		)
		self.assertTrue(any(s.startswith(f"Your {PROBE_TYPE} job {job} failed") for s in subjects))
		self.assertFalse(any(s.startswith("explode wrote this") for s in subjects))  # rolled back
		logged = frappe.get_all(
			"Error Log",
			filters={"reference_name": job, "method": ["like", "dartwing_job_events hook %explode%"]},
			pluck="error",
		)
		self.assertEqual(len(logged), 1)
		self.assertIn("explode fails on purpose", logged[0])
		self.assertEqual(fresh_row(job).status, "Dead Letter")

	def test_success_calls_the_types_own_hooks_then_those_for_every_type(self):
		job = submit_as(self.owner, PROBE_TYPE, self.org, {"fail_times": 0})
		wait_for_status(job, "Completed")
		wait_until(lambda: len(self.calls(job)) >= 2, timeout=20)
		self.assertEqual(self.calls(job), ["own:on_success:Completed", "any:on_success:Completed"])

	def test_a_cancel_in_this_process_calls_on_cancel_after_the_commit_only(self):
		frappe.set_user(self.owner)
		try:
			job = engine.submit_job(
				PROBE_TYPE, self.org, {"n": "cancel"}, run_at=now_datetime() + timedelta(days=1)
			)
			frappe.db.commit()
			engine.cancel_job(job.name)
			self.assertEqual(self.calls(job.name), [])  # not before the commit
			frappe.db.rollback()
			self.assertEqual(self.calls(job.name), [])  # a rolled-back cancel calls nobody
			engine.cancel_job(job.name)
			frappe.db.commit()
		finally:
			frappe.set_user("Administrator")
		self.assertEqual(self.calls(job.name), ["own:on_cancel:Canceled"])


# Hooks of the in-process test below (Frappe's patch_hooks, so it runs on a real bench as well).
CALLS: list[str] = []
_HERE = "dartwing.tests.integration.test_outcome_notices"


def hook_own(event):
	CALLS.append(f"own:{event.event}:{event.job}")


def hook_any(event):
	CALLS.append(f"any:{event.event}:{event.job}")


def hook_explode(event):
	frappe.db.set_value("Background Job", event.job, "progress_message", "written by a failing hook")
	event["job"] = "changed by a hook"  # a hook gets a copy: the next one must not see this
	raise RuntimeError("hook_explode fails on purpose")


class TestJobEventsInProcess(FrappeTestCase):
	"""The same rules without workers, with Frappe's ``patch_hooks``: the change is made and committed here."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		cls.job_type = make_job_type("dartwing.demo.demo_echo")
		frappe.db.commit()

	def setUp(self):
		CALLS.clear()

	def hooks(self) -> dict:
		return {
			job_events.HOOK: {
				self.job_type: {
					"on_cancel": [f"{_HERE}.hook_own", f"{_HERE}.hook_explode", f"{_HERE}.hook_own"]
				},
				"*": {"on_cancel": f"{_HERE}.hook_any", "on_success": [f"{_HERE}.no_such_function"]},
				"other_type": {"on_cancel": [f"{_HERE}.hook_any"]},
			}
		}

	def scheduled_job(self) -> str:
		return submit_as(
			self.owner,
			self.job_type,
			self.org,
			{"n": unique("ev")},
			run_at=now_datetime() + timedelta(days=1),
		)

	def test_hooks_run_after_commit_in_declared_order_each_isolated(self):
		job = self.scheduled_job()
		with patch_hooks(self.hooks()):
			engine.cancel_job(job)
			self.assertEqual(CALLS, [])  # nothing before the commit
			frappe.db.commit()
		self.assertEqual(CALLS, [f"own:on_cancel:{job}", f"own:on_cancel:{job}", f"any:on_cancel:{job}"])
		row = fresh_row(job, ("status", "progress_message"))
		self.assertEqual(row.status, "Canceled")
		self.assertNotEqual(row.progress_message, "written by a failing hook")  # its write was rolled back
		self.assertTrue(
			frappe.db.exists(
				"Error Log", {"reference_name": job, "method": ["like", "%hook_explode failed%"]}
			)
		)

	def test_a_rolled_back_change_calls_no_hook(self):
		job = self.scheduled_job()
		with patch_hooks(self.hooks()):
			engine.cancel_job(job)
			frappe.db.rollback()
		self.assertEqual(CALLS, [])
		self.assertEqual(fresh_row(job).status, "Scheduled")

	def test_declarations_of_the_wrong_shape_are_ignored(self):
		declared = {
			"t": {"on_success": "a.b", "on_cancel": [1, "c.d"]},
			"*": ["x"],
			"u": {"on_success": ["e.f"]},
		}
		self.assertEqual(job_events.hooks_for(declared, "t", "on_success"), ["a.b"])
		self.assertEqual(job_events.hooks_for(declared, "t", "on_cancel"), ["c.d"])
		self.assertEqual(job_events.hooks_for(declared, "t", "on_failure"), [])
		self.assertEqual(job_events.hooks_for({}, "t", "on_success"), [])
