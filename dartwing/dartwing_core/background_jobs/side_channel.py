"""The side channel of a running job: a thread beside the handler, with its own database connection,
that beats the heartbeat, stores and publishes progress, watches for a cancellation and stops the job
by force when it overruns.

Contract:
- Started before the handler and stopped (``stop()``) after it, in the work horse that claimed the
  job. Most jobs end within one heartbeat; those never open its connection.
- Each tick, isolated (a failed tick — a lost connection, a lock wait — is logged, the connection is
  rolled back or replaced, and the next tick runs): store and publish the progress that is due, beat
  the heartbeat every ``HEARTBEAT_INTERVAL_SECONDS`` and read back whether the job must stop
  (``cancellation.observed``), in which case the handler is told (``ctx.request_cancel``).
- Forced stops: a cancellation ignored past the grace period ends the job Canceled
  (``cancellation.force``); a handler still running ``TIMEOUT_KILL_GRACE_SECONDS`` after its timeout
  (where RQ's SIGALRM could not reach it) is recorded Timed Out. Either way this work horse is killed.
- Progress is written only while the job is Running, and published after its commit.
"""

import threading
import time

import frappe
from frappe import _
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import cancellation, config, outcome, state
from dartwing.dartwing_core.background_jobs.context import JobContext
from dartwing.dartwing_core.background_jobs.errors import JobTimedOut
from dartwing.dartwing_core.background_jobs.progress import ProgressUpdate, publish_progress
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

_RUNNING = JobStatus.RUNNING.value


class SideChannel(threading.Thread):
	"""Heartbeat, progress, cancellation and overrun watch for one running job (own DB connection)."""

	def __init__(self, job: frappe._dict, ctx: JobContext) -> None:
		super().__init__(name=f"dartwing-side-{job.name}", daemon=True)
		self.job = job
		self.ctx = ctx
		self.site = frappe.local.site
		self.grace = float(frappe.conf.get("dartwing_cancel_grace_seconds") or config.CANCEL_GRACE_SECONDS)
		self.deadline = time.monotonic() + int(job.timeout_seconds or config.DEFAULT_TIMEOUT_SECONDS)
		self._stop_event = threading.Event()
		self._cancel_seen_at: float | None = None
		self._last_beat = 0.0

	def stop(self) -> None:
		self._stop_event.set()
		self.ctx.wake.set()
		self.join(timeout=10)

	def run(self) -> None:
		self.ctx.wake.wait(config.HEARTBEAT_INTERVAL_SECONDS)
		if self._stop_event.is_set() and not self.ctx.has_unsent_progress:
			return
		frappe.init(self.site)
		try:
			frappe.connect(set_admin_as_user=False)
			frappe.set_user(self.job.submitted_by)
			while not self._stop_event.is_set():
				self.ctx.wake.wait(min(config.PROGRESS_THROTTLE_SECONDS, config.HEARTBEAT_INTERVAL_SECONDS))
				self.ctx.wake.clear()
				self._guarded_tick()
			self._flush(self.ctx.throttle.drain() or self.ctx.take_urgent())
		except Exception:
			frappe.logger("dartwing.jobs").exception(f"Side channel of job {self.job.name} stopped")
		finally:
			frappe.destroy()

	def _guarded_tick(self) -> None:
		"""One failed tick must not end the heartbeat for good."""
		try:
			self._tick()
		except Exception:
			frappe.logger("dartwing.jobs").exception(f"Side channel tick of job {self.job.name} failed")
			try:
				frappe.db.rollback()
			except Exception:
				frappe.local.db = None
				frappe.connect(set_admin_as_user=False)

	def _tick(self) -> None:
		self._flush(self.ctx.take_urgent() or self.ctx.throttle.due())
		if time.monotonic() - self._last_beat >= config.HEARTBEAT_INTERVAL_SECONDS:
			self._beat()
		if self._cancel_seen_at and time.monotonic() - self._cancel_seen_at > self.grace:
			cancellation.force(
				self.job, _("Stopped by force: cancellation ignored for {0} s").format(self.grace)
			)
		elif time.monotonic() > self.deadline + config.TIMEOUT_KILL_GRACE_SECONDS:
			self._force_timeout()

	def _flush(self, update: ProgressUpdate | None) -> None:
		if update is None:
			return
		frappe.db.sql(
			"""UPDATE `tabBackground Job` SET progress = %(percent)s, progress_message = %(message)s,
				heartbeat_at = %(now)s
			WHERE name = %(name)s AND status = %(running)s""",
			{
				"percent": update.percent,
				"message": update.message,
				"now": now_datetime(),
				"name": self.job.name,
				"running": _RUNNING,
			},
		)
		frappe.db.commit()
		publish_progress(self.job, update.percent, update.message)

	def _beat(self) -> None:
		self._last_beat = time.monotonic()
		values = {"now": now_datetime(), "name": self.job.name, "running": _RUNNING}
		frappe.db.sql(
			"UPDATE `tabBackground Job` SET heartbeat_at = %(now)s WHERE name = %(name)s AND status = %(running)s",
			values,
		)
		row = frappe.db.sql(
			"SELECT status, cancel_requested FROM `tabBackground Job` WHERE name = %(name)s",
			values,
			as_dict=True,
		)
		frappe.db.commit()
		if cancellation.observed(row[0] if row else None):
			self.ctx.request_cancel()
			self._cancel_seen_at = self._cancel_seen_at or time.monotonic()

	def _force_timeout(self) -> None:
		# Reached only while the handler still runs: either we end the job now, or someone else already
		# ended it and this work horse is an orphan whose outcome would be discarded.
		current = state.load(self.job.name, for_update=True)
		if current and current.status == _RUNNING and current.worker == self.job.worker:
			reason = _("Stopped by force: over its timeout")
			outcome.record_failure(current, JobTimedOut(reason), traceback_text="")
			frappe.db.commit()
		cancellation.stop_work_horse(self.job.rq_job_id)
