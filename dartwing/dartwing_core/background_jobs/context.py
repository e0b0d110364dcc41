"""What a handler receives: ``JobContext``, its parameters and the means to report progress and stop early.

Contract: no I/O. ``update_progress`` only offers the value to the job's ``ProgressThrottle`` and wakes
the side channel when an update must go out now; the side channel stores and publishes it. A
requested cancellation (set by the side channel) surfaces as ``JobCanceled`` at the handler's next
``checkpoint()`` or ``update_progress()``. ``snooze(seconds)`` raises ``Snooze``: the handler stops
there, its writes are rolled back, and outcome.py puts the job back to wait (no retry spent).
"""

import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

from frappe import _

from dartwing.dartwing_core.background_jobs.errors import JobCanceled, JobTimedOut, Snooze
from dartwing.dartwing_core.background_jobs.progress import ProgressThrottle, ProgressUpdate

PROGRESS_MESSAGE_MAX_CHARS = 140


class JobContext:
	"""A running job as its handler sees it. Shared with the side channel thread (``take_urgent``,
	``request_cancel``, ``wake``); everything else is the handler's."""

	def __init__(
		self, job: Mapping[str, Any], parameters: dict[str, Any], throttle: ProgressThrottle
	) -> None:
		self.name: str = job["name"]
		self.job_type: str = job["job_type"]
		self.organization: str = job["organization"]
		self.submitted_by: str = job["submitted_by"]
		self.attempt: int = int(job.get("retry_count") or 0) + 1  # a snooze keeps the attempt
		self.snoozes: int = int(job.get("snooze_count") or 0)  # times this job snoozed so far
		self.parameters = parameters
		self.output_reference: str | None = None
		self.throttle = throttle
		self.wake = threading.Event()  # set when an update must go out now, or the job ends
		self._cancel = threading.Event()
		self._urgent: ProgressUpdate | None = None

	@property
	def cancel_requested(self) -> bool:
		return self._cancel.is_set()

	def checkpoint(self) -> None:
		"""Raise ``JobCanceled`` if cancellation was requested. Costs no I/O."""
		if self._cancel.is_set():
			raise JobCanceled(_("Job {0} was canceled").format(self.name))

	def snooze(self, seconds: float, reason: str = "") -> None:
		"""Stop here and run again in ``seconds`` (finite, > 0, at most a week): no retry is spent and it
		is no failure; the Job Type's ``max_snoozes`` bounds how often. Raises ``Snooze`` (ValueError for
		a bad ``seconds``); the attempt's writes are rolled back, like a failed attempt's."""
		raise Snooze(seconds, reason)

	def update_progress(self, percent: float, message: str = "") -> None:
		"""Report progress (0-100) and a step message; also a cancellation checkpoint."""
		self.checkpoint()
		percent = min(max(float(percent), 0.0), 100.0)
		update = self.throttle.offer(percent, str(message or "")[:PROGRESS_MESSAGE_MAX_CHARS])
		if update is not None:
			self._urgent = update
			self.wake.set()

	# The side channel's side

	def request_cancel(self) -> None:
		self._cancel.set()

	def take_urgent(self) -> ProgressUpdate | None:
		update, self._urgent = self._urgent, None
		return update

	@property
	def has_unsent_progress(self) -> bool:
		return self._urgent is not None or self.throttle.pending


class HandlerDeadline:
	"""Raises ``JobTimedOut`` in the handler once it has run ``seconds`` (SIGALRM, in the main thread of
	the work horse, the thread that runs the handler). On leaving, the alarm RQ had set for the work
	horse is put back with what is left of it, so RQ's own limit still stands behind ours.

	Off the main thread (a benchmark running jobs in threads) signals cannot be used: there only the
	side channel's hard kill enforces the timeout.
	"""

	def __init__(self, seconds: float) -> None:
		self.seconds = max(float(seconds), 0.001)
		self._armed = False

	def __enter__(self) -> "HandlerDeadline":
		if threading.current_thread() is not threading.main_thread():
			return self
		self._entered = time.monotonic()
		self._previous_handler = signal.signal(signal.SIGALRM, self._expire)
		self._previous_remaining, _interval = signal.setitimer(signal.ITIMER_REAL, self.seconds)
		self._armed = True
		return self

	def __exit__(self, *exc_info: object) -> None:
		if not self._armed:
			return
		signal.setitimer(signal.ITIMER_REAL, 0)
		signal.signal(signal.SIGALRM, self._previous_handler)
		if self._previous_remaining:
			left = self._previous_remaining - (time.monotonic() - self._entered)
			signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))

	def _expire(self, signum: int, frame: FrameType | None) -> None:
		raise JobTimedOut(_("Job exceeded its timeout of {0} s").format(int(self.seconds)))
