"""A batch's status and summary, from the counts of its jobs by status.

Contract: pure (no frappe). A batch is Running until every job has ended (Completed, Canceled or Dead
Letter: ``transitions.FINAL``); it then ends Canceled if someone canceled it, Completed if every job
completed, else Completed with failures. ``summary`` is what the batch's ``on_complete`` job receives as
parameters and what ``get_batch`` and the ``batch_completed`` event carry.
"""

from collections.abc import Mapping
from enum import Enum
from typing import Any

from dartwing.dartwing_core.background_jobs.transitions import FINAL, JobStatus


class BatchStatus(str, Enum):
	RUNNING = "Running"
	COMPLETED = "Completed"
	COMPLETED_WITH_FAILURES = "Completed with failures"
	CANCELED = "Canceled"

	def __str__(self) -> str:
		return self.value


FINAL_VALUES = frozenset(status.value for status in FINAL)


def ended(counts: Mapping[str, int]) -> int:
	"""Jobs of the batch that have ended (``counts``: jobs by status value)."""
	return sum(int(count) for status, count in counts.items() if status in FINAL_VALUES)


def final_status(counts: Mapping[str, int], *, cancel_requested: bool) -> BatchStatus:
	"""The status a batch ends with once all its jobs ended (Running while any has not)."""
	total = sum(int(count) for count in counts.values())
	if ended(counts) < total:
		return BatchStatus.RUNNING
	if cancel_requested:
		return BatchStatus.CANCELED
	if int(counts.get(JobStatus.COMPLETED.value, 0)) == total:
		return BatchStatus.COMPLETED
	return BatchStatus.COMPLETED_WITH_FAILURES


def progress(counts: Mapping[str, int], total: int) -> float:
	"""Share of the batch's jobs that ended, in percent (an empty batch is done)."""
	return 100.0 if total <= 0 else round(100.0 * ended(counts) / total, 2)


def summary(batch: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, Any]:
	"""The batch as the API, its events and its ``on_complete`` job see it."""
	total = int(batch.get("total") or 0)
	return {
		"batch": batch["name"],
		"organization": batch["organization"],
		"job_type": batch["job_type"],
		"status": batch["status"],
		"total": total,
		"counts": {status: int(count) for status, count in sorted(counts.items()) if count},
		"ended": ended(counts),
		"completed": int(counts.get(JobStatus.COMPLETED.value, 0)),
		"failed": int(counts.get(JobStatus.DEAD_LETTER.value, 0)),
		"canceled": int(counts.get(JobStatus.CANCELED.value, 0)),
		"progress": progress(counts, total),
	}
