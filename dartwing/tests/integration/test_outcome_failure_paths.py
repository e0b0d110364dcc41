"""Failure paths of running and recording a job, each driven for real: a result that cannot be stored,
a completion whose commit fails, lock conflicts while a failure is recorded, a side channel tick that
fails, a handler blocked in C code that only the hard kill can stop, and metrics with Redis gone.

Replaced, and why: the database errors (a deadlock on the completion's commit, lock waits on the
failure's read, a lost connection in one heartbeat) are raised by wrapping the engine's own call, since
MariaDB cannot be made to fail one chosen statement on demand; "Redis gone" is a Redis client pointed
at a port where nothing listens. Everything else is the real engine on MariaDB, Redis and, for the
hard kill, a real RQ worker.
"""

import hashlib
import socket
import threading
import time
from unittest import mock

import frappe
import pymysql
import redis
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import executor, metrics, outcome, scheduler, side_channel, state
from dartwing.dartwing_core.background_jobs.errors import TransientError
from dartwing.dartwing_core.background_jobs.transitions import JobStatus
from dartwing.tests.engine_utils import (
	WorkersTestCase,
	fresh_row,
	history,
	make_job_type,
	make_tenant,
	submit_as,
	wait_for_status,
)
from dartwing.tests.utils import insert_job_document

THIS = __name__
BEATS: dict[str, int] = {"failed": 0, "done": 0}
BEATS_LOCK = threading.Lock()
WAIT_FOR_BEATS_SECONDS = 20


def unstorable_result(ctx):
	return {"handle": object()}


def waits_for_two_good_beats(ctx):
	"""Returns once the side channel has beaten twice after its failed tick (or gives up)."""
	deadline = time.monotonic() + WAIT_FOR_BEATS_SECONDS
	while BEATS["done"] < 2 and time.monotonic() < deadline:
		time.sleep(0.05)
	return {"beats": BEATS["done"]}


def blocked_in_c(ctx):
	"""A C call that holds off SIGALRM (the signal's handler runs only when it returns) and lets the
	side channel run (it releases the GIL): far longer than the timeout and its kill grace."""
	started = time.monotonic()
	hashlib.pbkdf2_hmac("sha256", b"p", b"s", 20_000)
	per_round = max((time.monotonic() - started) / 20_000, 1e-8)
	hashlib.pbkdf2_hmac("sha256", b"p", b"s", int(120 / per_round))
	return {"finished": True}


def _deadlock() -> pymysql.err.OperationalError:
	return pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")


def _lock_wait() -> pymysql.err.OperationalError:
	return pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")


def _dispatched(owner: str, job_type: str, org: str) -> tuple[str, str]:
	"""A Queued job as dispatch leaves it, but with no RQ job behind it, so that no worker (a real
	bench's, say) can take it before this process runs it: its name and dispatch token."""
	token = f"test-dispatch-{frappe.generate_hash(length=10)}"
	doc = insert_job_document(
		{
			"job_type": job_type,
			"organization": org,
			"submitted_by": owner,
			"status": JobStatus.QUEUED.value,
			"priority": "Normal",
			"parameters": "{}",
			"max_retries": 5,
			"timeout_seconds": 300,
			"queue": "default",
			"rq_job_id": token,
			"enqueued_at": frappe.utils.now_datetime(),
		}
	)
	frappe.db.commit()
	return doc.name, token


class TestRecordingOutcomes(FrappeTestCase):
	"""``executor.run_job`` in this process (as a work horse would call it), so a call can be wrapped."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.owner, cls.org = make_tenant("Owner")
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()

	def test_a_result_that_cannot_be_stored_dead_letters_the_job_with_the_reason(self):
		job_type = make_job_type(f"{THIS}.unstorable_result")
		frappe.db.commit()
		job, token = _dispatched(self.owner, job_type, self.org)
		executor.run_job(job, token)
		row = fresh_row(job, ("status", "error_type", "error_message", "result"))
		self.assertEqual(row.status, JobStatus.DEAD_LETTER.value)
		self.assertEqual(row.error_type, "PermanentError")
		self.assertIn("The handler's result cannot be stored", row.error_message)
		self.assertIsNone(row.result)
		self.assertNotIn(("Running", "Completed", 1), history(job))

	def test_a_completion_whose_commit_fails_is_recorded_as_a_transient_failure_and_retried(self):
		job_type = make_job_type("dartwing.demo.demo_echo")
		frappe.db.commit()
		job, token = _dispatched(self.owner, job_type, self.org)
		real = outcome.record_success

		def then_deadlock(*args, **kwargs):
			real(*args, **kwargs)
			raise _deadlock()  # the completion's commit is where a deadlock would surface

		with mock.patch.object(outcome, "record_success", side_effect=then_deadlock):
			executor.run_job(job, token)
		row = fresh_row(job, ("status", "error_type", "error_message", "next_retry_at", "result"))
		self.assertEqual(row.status, JobStatus.FAILED.value)
		self.assertEqual(row.error_type, "TransientError")
		self.assertIn("Could not record the completion", row.error_message)
		self.assertIsNotNone(row.next_retry_at)
		self.assertIsNone(row.result, "the rolled-back completion left nothing behind")
		self.assertEqual([h for h in history(job) if h[1] == "Completed"], [])

	def _running(self) -> frappe._dict:
		job_type = make_job_type()
		frappe.db.commit()
		job, token = _dispatched(self.owner, job_type, self.org)
		claimed = state.transition(state.load(job), JobStatus.RUNNING, message="claimed by the test")
		self.assertIsNotNone(claimed)
		frappe.db.commit()
		return frappe._dict(claimed.job, rq_job_id=token)

	def test_recording_a_failure_retries_through_lock_conflicts(self):
		job = self._running()
		real, calls = state.load, []

		def conflicted_twice(*args, **kwargs):
			calls.append(args)
			if len(calls) <= 2:
				raise _lock_wait()
			return real(*args, **kwargs)

		with mock.patch.object(state, "load", side_effect=conflicted_twice):
			outcome.record_failure_committed(job, TransientError("vendor down"), "", None)
		self.assertEqual(len(calls), 3)
		self.assertEqual(fresh_row(job.name).status, JobStatus.FAILED.value)

	def test_a_failure_that_cannot_be_recorded_is_left_to_the_stale_heartbeat_sweep(self):
		job = self._running()
		with (
			mock.patch.object(state, "load", side_effect=_lock_wait()),
			self.assertRaises(pymysql.err.OperationalError),
		):
			outcome.record_failure_committed(job, TransientError("vendor down"), "", None)
		self.assertEqual(fresh_row(job.name).status, JobStatus.RUNNING.value)
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET heartbeat_at = %s WHERE name = %s",
			(frappe.utils.add_to_date(None, minutes=-10), job.name),
		)
		frappe.db.commit()
		self.assertGreaterEqual(scheduler.recover_stale_jobs(stale_after=60), 1)
		frappe.db.commit()
		row = fresh_row(job.name, ("status", "error_type"))
		self.assertEqual((row.status, row.error_type), (JobStatus.FAILED.value, "WorkerLost"))

	def test_the_side_channel_keeps_beating_after_a_failed_tick(self):
		job_type = make_job_type(f"{THIS}.waits_for_two_good_beats")
		frappe.db.commit()
		job, token = _dispatched(self.owner, job_type, self.org)
		real = side_channel.SideChannel._beat
		BEATS.update(failed=0, done=0)

		def first_beat_loses_the_connection(channel):
			with BEATS_LOCK:
				first = BEATS["failed"] == 0
				BEATS["failed"] += first
			if first:
				raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
			real(channel)
			with BEATS_LOCK:
				BEATS["done"] += 1

		with mock.patch.object(side_channel.SideChannel, "_beat", first_beat_loses_the_connection):
			executor.run_job(job, token)
		row = fresh_row(job, ("status", "result", "heartbeat_at", "started_at"))
		self.assertEqual(row.status, JobStatus.COMPLETED.value)
		self.assertEqual(BEATS["failed"], 1)
		self.assertGreaterEqual(frappe.parse_json(row.result)["beats"], 2)
		self.assertGreater(row.heartbeat_at, row.started_at, "the beats after the failure were written")


class TestHardKill(WorkersTestCase):
	worker_count = 1

	@classmethod
	def set_up_data(cls):
		cls.owner, cls.org = make_tenant("Owner")

	def test_a_handler_blocked_in_c_code_is_killed_after_the_grace_and_recorded_timed_out(self):
		job_type = make_job_type(f"{THIS}.blocked_in_c", timeout_seconds=1, max_retries=0)
		noop = make_job_type()
		frappe.db.commit()
		job = submit_as(self.owner, job_type, self.org)
		row = wait_for_status(job, JobStatus.DEAD_LETTER.value, timeout=90)
		self.assertEqual(row.error_type, "JobTimedOut")
		self.assertIn("Stopped by force: over its timeout", row.error_message)
		self.assertIn(("Running", "Dead Letter", 1), history(job))
		# The worker lost only its work horse: it still takes jobs.
		wait_for_status(submit_as(self.owner, noop, self.org), JobStatus.COMPLETED.value, timeout=60)


class TestMetricsWithRedisGone(FrappeTestCase):
	def test_metrics_answer_from_the_database_when_redis_cannot_be_reached(self):
		owner, org = make_tenant("Owner")
		submit_as(owner, make_job_type(), org)
		with socket.socket() as probe:
			probe.bind(("127.0.0.1", 0))
			closed_port = probe.getsockname()[1]  # nothing listens once the socket closes
		gone = redis.Redis(host="127.0.0.1", port=closed_port, socket_connect_timeout=1)
		from frappe.utils import background_jobs
		from rq import Queue

		with (
			mock.patch.object(background_jobs, "get_redis_conn", return_value=gone),
			mock.patch.object(
				background_jobs, "get_queue", side_effect=lambda q, **kw: Queue(q, connection=gone)
			),
		):
			reply = metrics.get_job_metrics(organization=org)
			text = metrics.prometheus_exposition().decode()
		self.assertIsNone(reply["queue_depth"]["by_queue"])
		self.assertIsNone(reply["workers"])
		self.assertGreaterEqual(reply["total"], 1)
		self.assertIn("dartwing_jobs_window", text)
