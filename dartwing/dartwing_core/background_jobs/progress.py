"""Live events for jobs: the one place that publishes them, and the per-job progress throttle.

Contract:
- Events go only to Frappe's permission-checked rooms: ``doc:Background Job/<job>``,
  ``doc:Organization/<org>`` and ``user:<submitter>``. The organization is always read from the job
  row, never taken from a caller, so an event cannot be steered into another tenant's room.
- ``job_status_changed`` is published by ``announce``, a consequence of status changes
  (``state.ON_TRANSITION``) run after their commit: a rolled-back change is never announced. A new
  job's first status is not announced (its submitter has the reply).
- ``job_progress`` is published by the worker's side channel right after it commits the stored
  progress, so a late subscriber reads the same value from the job.
- ``batch_progress`` (throttled by the batch bookkeeping) and ``batch_completed`` (once) are published by
  ``publish_batch`` to ``doc:Organization/<org>``, ``doc:Background Job Batch/<batch>`` and its creator's
  room (while the creator may still act in the organization), the organization read from the batch row.
- ``ProgressThrottle`` is pure: first update at once, then at most one per window carrying the
  latest value, and 100 % always at once.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import frappe
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs import config, permissions

JOB_PROGRESS = "job_progress"
JOB_STATUS_CHANGED = "job_status_changed"
BATCH_PROGRESS = "batch_progress"
BATCH_COMPLETED = "batch_completed"


def rooms_for(job: Mapping[str, Any]) -> list[str]:
	"""The job's and its organization's rooms (joined only after has_permission), and the submitter's
	own room while the submitter may still act in the organization (an ex-member hears nothing)."""
	rooms = [f"doc:Background Job/{job['name']}", f"doc:Organization/{job['organization']}"]
	submitter = job.get("submitted_by")
	if submitter and _submitter_may_hear(submitter, job["organization"]):
		rooms.append(f"user:{submitter}")
	return rooms


def _submitter_may_hear(submitter: str, organization: str) -> bool:
	"""``permissions.can_act_in`` for reading, reused for ``SUBMITTER_ROOM_RECHECK_SECONDS`` within this
	request or job context: a job's claim and its completion ask once (the side channel, with its own
	context, once a second for its progress flushes).
	A membership removed less than that long ago can still hear one last event of its own job."""
	known = _submitter_answers().get((submitter, organization))
	if known is None or time.monotonic() - known[1] > config.SUBMITTER_ROOM_RECHECK_SECONDS:
		known = _remember(submitter, organization, permissions.can_act_in(organization, user=submitter))
	return known[0]


def note_submitter_may_act(submitter: str, organization: str) -> None:
	"""The submitter was just found allowed to act in the organization (the worker's re-check before a
	claim): the events that follow in this context need not ask again."""
	_remember(submitter, organization, True)


def _remember(submitter: str, organization: str, answer: bool) -> tuple[bool, float]:
	known = _submitter_answers()[(submitter, organization)] = (answer, time.monotonic())
	return known


def _submitter_answers() -> dict[tuple[str, str], tuple[bool, float]]:
	answers = getattr(frappe.local, "dartwing_submitter_rooms", None)
	if answers is None:
		answers = frappe.local.dartwing_submitter_rooms = {}
	return answers


def publish(event: str, job: Mapping[str, Any], message: Mapping[str, Any], *, after_commit: bool) -> None:
	for room in rooms_for(job):
		frappe.publish_realtime(event, dict(message), room=room, after_commit=after_commit)


def announce(changes: list[Any]) -> None:
	"""After a commit: one ``job_status_changed`` per committed status change (``state.Change``)."""
	for change in changes:
		if change.from_status is None:
			continue
		job = change.job
		payload = {
			"job": job["name"],
			"job_type": job.get("job_type"),
			"organization": job["organization"],
			"from": change.from_status.value,
			"to": change.to_status.value,
			"message": change.message,
			"error_type": job.get("error_type"),
			"output_reference": job.get("output_reference"),
			"time": now_datetime().isoformat(),
		}
		publish(JOB_STATUS_CHANGED, job, payload, after_commit=False)


def publish_batch(event: str, batch: Mapping[str, Any], message: Mapping[str, Any]) -> None:
	"""A batch's event to its organization's room, its own and its creator's (``batch``: its row)."""
	payload = {**message, "time": now_datetime().isoformat()}
	rooms = [f"doc:Organization/{batch['organization']}", f"doc:Background Job Batch/{batch['name']}"]
	creator = batch.get("created_by")
	if creator and _submitter_may_hear(creator, batch["organization"]):
		rooms.append(f"user:{creator}")
	for room in rooms:
		frappe.publish_realtime(event, payload, room=room, after_commit=False)


def publish_progress(job: Mapping[str, Any], percent: float, text: str) -> None:
	payload = {
		"job": job["name"],
		"organization": job["organization"],
		"percent": percent,
		"message": text,
		"time": now_datetime().isoformat(),
	}
	publish(JOB_PROGRESS, job, payload, after_commit=False)


@dataclass
class ProgressUpdate:
	percent: float
	message: str


class ProgressThrottle:
	"""Decides when a progress update is sent. Thread-safe; the clock is injectable for tests."""

	def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
		self.window = window_seconds
		self.clock = clock
		self._lock = threading.Lock()
		self._pending: ProgressUpdate | None = None
		self._last_sent: float | None = None

	@property
	def pending(self) -> bool:
		"""An update is being held for the end of its window."""
		return self._pending is not None

	def offer(self, percent: float, message: str) -> ProgressUpdate | None:
		"""Record an update; return it when it must be sent now, else keep it as the latest."""
		with self._lock:
			update = ProgressUpdate(percent, message)
			now = self.clock()
			if percent >= 100 or self._last_sent is None or now - self._last_sent >= self.window:
				self._pending = None
				self._last_sent = now
				return update
			self._pending = update
			return None

	def due(self) -> ProgressUpdate | None:
		"""The kept update once its window has ended (called by the side channel's loop)."""
		with self._lock:
			if self._pending is None or self.clock() - (self._last_sent or 0) < self.window:
				return None
			update, self._pending = self._pending, None
			self._last_sent = self.clock()
			return update

	def drain(self) -> ProgressUpdate | None:
		"""The kept update regardless of the window (the job is ending)."""
		with self._lock:
			update, self._pending = self._pending, None
			return update
