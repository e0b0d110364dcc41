"""What a handler receives: ``JobContext``, its parameters and the means to report progress and stop early.

Contract: no I/O. ``update_progress`` only offers the value to the job's ``ProgressThrottle`` and wakes
the side channel when an update must go out now; the side channel stores and publishes it. A
requested cancellation (set by the side channel) surfaces as ``JobCanceled`` at the handler's next
``checkpoint()`` or ``update_progress()``.
"""

import threading
from collections.abc import Mapping
from typing import Any

from frappe import _

from dartwing.dartwing_core.background_jobs.errors import JobCanceled
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
		self.attempt: int = int(job.get("retry_count") or 0) + 1
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
