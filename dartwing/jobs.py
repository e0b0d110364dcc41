"""The public REST surface: /api/method/dartwing.jobs.<name>.

These are the same whitelisted functions as ``dartwing.dartwing_core.api.jobs`` (one registration,
two dotted paths), so permissions and behaviour are identical on both.
"""

from dartwing.dartwing_core.api.jobs import (
	cancel_batch,
	cancel_job,
	delete_dead_letter_jobs,
	get_batch,
	get_dead_letter_jobs,
	get_job_history,
	get_job_metrics,
	get_job_status,
	get_schedule,
	list_batches,
	list_jobs,
	list_schedules,
	pause_job_type,
	prometheus_metrics,
	resume_job_type,
	retry_dead_letter_jobs,
	retry_job,
	submit_job,
	submit_jobs,
)

__all__ = [
	"cancel_batch",
	"cancel_job",
	"delete_dead_letter_jobs",
	"get_batch",
	"get_dead_letter_jobs",
	"get_job_history",
	"get_job_metrics",
	"get_job_status",
	"get_schedule",
	"list_batches",
	"list_jobs",
	"list_schedules",
	"pause_job_type",
	"prometheus_metrics",
	"resume_job_type",
	"retry_dead_letter_jobs",
	"retry_job",
	"submit_job",
	"submit_jobs",
]
