"""Infrastructure failures on real processes: a worker killed mid-job, Redis stopped and restarted.

These tests kill processes and stop the Redis server the test site uses, then restore them; each
class starts its own workers. The sweeps the scheduler would run every minute are called in-process.
They run on benchless only: on a real bench they would kill the bench's workers and stop the host's Redis.
"""

import os
import signal
import subprocess

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import engine, scheduler
from dartwing.tests.engine_utils import (
	fresh_row,
	history,
	make_job_type,
	make_tenant,
	running_workers,
	submit_as,
	wait_for_status,
)
from dartwing.tests.utils import benchless_only, wait_until

DESTRUCTIVE = "kills worker processes and stops the Redis server on 127.0.0.1:6379"

REDIS_START = [
	"redis-server",
	"--daemonize",
	"yes",
	"--bind",
	"127.0.0.1",
	"-::1",
	"--port",
	"6379",
	"--save",
	"",
	"--appendonly",
	"no",
	"--dir",
	"/tmp",
	"--logfile",
	"/tmp/dartwing-test-redis.log",
]


def recover() -> None:
	scheduler.recover_stale_jobs(stale_after=3)
	frappe.db.commit()
	scheduler.retry_due_jobs()
	frappe.db.commit()


@benchless_only(DESTRUCTIVE)
class TestWorkerKilledMidJob(FrappeTestCase):
	def test_a_job_whose_worker_is_killed_is_recovered_and_completes(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type("dartwing.demo.demo_sleep", max_retries=3)
		frappe.db.commit()
		with running_workers(2):
			job = submit_as(owner, job_type, org, {"seconds": 4, "steps": 8})
			wait_for_status(job, "Running")
			horse = int(fresh_row(job, ("worker",)).worker.rsplit(":", 1)[1])
			os.killpg(os.getpgid(horse), signal.SIGKILL)  # the worker and its work horse, as kill -9 / OOM
			# the sweep must record the lost attempt (the job was Running, so its status proves nothing)
			wait_until(lambda: _lost_attempt_recorded(job), timeout=30)
			row = wait_for_status(job, "Completed", timeout=60, tick=recover)
		self.assertEqual(row.retry_count, 1)
		lost = [h for h in history(job) if h[:2] == ("Running", "Failed")]
		self.assertEqual(lost, [("Running", "Failed", 1)])
		error = frappe.db.get_value("Job Execution Log", {"job": job, "to_status": "Failed"}, "message")
		self.assertIn("WorkerLost", error)


@benchless_only(DESTRUCTIVE)
class TestRedisOutage(FrappeTestCase):
	def test_submissions_fail_cleanly_while_redis_is_down_and_accepted_jobs_run_after_it_returns(self):
		owner, org = make_tenant("Owner")
		job_type = make_job_type("dartwing.demo.demo_echo", max_running_per_org=10)
		frappe.db.commit()
		accepted = [
			submit_as(owner, job_type, org, {"i": i}) for i in range(5)
		]  # Queued in Redis, no worker yet
		self.assertEqual({fresh_row(j).status for j in accepted}, {"Queued"})
		before = frappe.db.count("Background Job", {"job_type": job_type})
		subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, capture_output=True)
		try:
			frappe.set_user(owner)
			with self.assertRaisesRegex(engine.JobSubmissionUnavailable, "temporarily unavailable"):
				engine.submit_job(job_type, org, {"during": "outage"})
			frappe.db.rollback()
			frappe.set_user("Administrator")
			self.assertEqual(frappe.db.count("Background Job", {"job_type": job_type}), before)
		finally:
			frappe.set_user("Administrator")
			subprocess.run(REDIS_START, check=True, capture_output=True)
			_wait_for_redis()
		# Redis came back empty: the RQ jobs of the accepted submissions are gone.
		with running_workers(2):
			for job in accepted:
				wait_for_status(job, "Completed", timeout=60, tick=_requeue)
		self.assertIn(("Queued", "Pending", 1), history(accepted[0]))


def _lost_attempt_recorded(job: str) -> bool:
	recover()
	return ("Running", "Failed", 1) in history(job)


def _requeue() -> None:
	scheduler.requeue_lost_jobs(grace_seconds=0)
	frappe.db.commit()


def _wait_for_redis() -> None:
	def up() -> bool:
		result = subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True)
		return result.stdout.strip() == "PONG"

	wait_until(up, timeout=15)
