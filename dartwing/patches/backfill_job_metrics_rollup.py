"""Backfill the Job Metrics Rollup from the jobs the site already has, so get_job_metrics answers the
same before and after the upgrade (post_model_sync: the rollup's table exists by then). Safe while
workers run: each creation day is recounted under shared locks on its jobs (metrics_rollup)."""

from dartwing.dartwing_core.background_jobs import metrics_rollup


def execute() -> None:
	metrics_rollup.rebuild()
