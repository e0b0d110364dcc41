"""Job metrics: what `dartwing.jobs.get_job_metrics` and `dartwing.jobs.prometheus_metrics` report.

Contract:
- Every figure is aggregated in SQL (SUM / COUNT); Python merges the rollup's and the edge hours' aggregate
  rows. Values reach SQL as query parameters only.
- Windowed figures cover jobs *created* in the half-open window [from, to) (default: the last 24 hours,
  at most 90 days); queue depth, running jobs and the dead-letter total are the state *now*.
- Scope: unrestricted users (Administrator, System Manager) see every organization or the one they name;
  members see their Active organizations only. A member naming an organization that is not theirs gets
  the empty result (zero counts), exactly as for an organization without jobs, so existence never leaks.
  Bench-wide Redis figures (RQ queue lengths, live workers) go to unrestricted users only (None otherwise).
- Durations are completed_at - started_at of Completed jobs, in seconds; the average is exact; p95 is the
  nearest-rank 95th percentile read from the merged fixed-bucket histogram (metrics_math): never below
  the exact value, less than one bucket (26 %) above it.
- Windowed figures come from the Job Metrics Rollup for the window's whole days and hours and from the
  job table for the partial hours at its edges (metrics_math.split_window, metrics_rollup.read): counts
  are exact (D25), and jobs purged by retention stay counted in whole hours and days.
- A failure is a job whose status is Dead Letter, Failed or Timed Out; failure rate = failures /
  (failures + Completed). Canceled and in-flight jobs are neither. A failure is bucketed in the hour of
  its last attempt: COALESCE(completed_at, started_at, creation).
- Speed: the edge-hour query reads the covering index METRICS_INDEX alone (forced, since MariaDB
  underrates the row lookups of the (organization, creation) index); Background Job's
  on_doctype_update creates it. Current-state queries use (status, organization, ...).
- Redis being down never fails the call: the Redis figures become None.
- A rollup count below zero (rows changed past the engine's transitions, for example by hand in SQL)
  reads as 0 and is logged; `metrics_rollup.rebuild` recounts from the jobs.

Mirrors nothing in Frappe; uses frappe.db.sql / has_index (frappe/database/database.py) and
frappe.utils.background_jobs (get_queue, get_queue_list, generate_qname, get_redis_conn) as in v15.
"""

from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from dartwing.dartwing_core.background_jobs import (
	arguments,
	config,
	metrics_math,
	metrics_rollup,
	permissions,
)
from dartwing.dartwing_core.background_jobs.transitions import FAILURE, WAITING, JobStatus, status_tuple

# Covering index for the windowed queries, created by Background Job's on_doctype_update().
METRICS_INDEX_NAME = "metrics_window_index"
METRICS_INDEX = ("creation", "organization", "job_type", "status", "started_at", "completed_at")

STATUSES = tuple(status.value for status in JobStatus)
FAILURE_STATUSES = status_tuple(FAILURE)
WAITING_STATUSES = status_tuple(WAITING)
CURRENT_STATUSES = (
	*WAITING_STATUSES,
	JobStatus.RUNNING.value,
	JobStatus.DEAD_LETTER.value,
	JobStatus.SCHEDULED.value,
)

_TABLE = "`tabBackground Job`"
_DURATION_US = "TIMESTAMPDIFF(MICROSECOND, started_at, completed_at)"
_FAILED_AT = "COALESCE(completed_at, started_at, creation)"


def get_job_metrics(
	organization: str | None = None,
	hours: int | None = metrics_math.DEFAULT_WINDOW_HOURS,
	from_date: Any = None,
	to_date: Any = None,
	*,
	user: str | None = None,
) -> dict[str, Any]:
	"""Every metric for the window and the caller's scope (see the module contract and contracts/api.md)."""
	start, end = resolve_window(hours, from_date, to_date)
	unrestricted = permissions.is_unrestricted(user)
	scope = permissions.org_scope(organization, user)
	metrics = _empty(start, end, organization, scope.organizations)
	if not scope.empty:
		metrics.update(_database_metrics(start, end, scope))
	if unrestricted:
		live = redis_metrics()
		metrics["queue_depth"]["by_queue"] = live["by_queue"]
		metrics["workers"] = live["workers"]
	return metrics


def resolve_window(hours: Any, from_date: Any, to_date: Any) -> tuple[datetime, datetime]:
	"""[start, end) from the API arguments; ValidationError (417) when unparsable, inverted or too long."""
	start, end = arguments.moment("from_date", from_date), arguments.moment("to_date", to_date)
	try:
		return metrics_math.window_bounds(now_datetime(), hours=hours, start=start, end=end)
	except ValueError as exc:
		frappe.throw(_("Invalid metrics window: {0}").format(exc), frappe.ValidationError)


def resolve_scope(organization: str | None, user: str | None = None) -> tuple[str, ...] | None:
	"""Organizations to count: None = all; () = none (a member asking for someone else's organization)."""
	return permissions.org_scope(organization, user).organizations


def _empty(
	start: datetime, end: datetime, organization: str | None, organizations: tuple[str, ...] | None
) -> dict[str, Any]:
	return {
		"window": {"from": start.isoformat(), "to": end.isoformat()},
		"organization": organization,
		"organizations": list(organizations) if organizations is not None else None,
		"by_status": dict.fromkeys(STATUSES, 0),
		"total": 0,
		"queue_depth": {"by_priority": dict.fromkeys(config.PRIORITIES, 0), "by_queue": None},
		"running": 0,
		"scheduled": 0,
		"workers": None,
		"dead_letter": 0,
		"dead_letter_in_window": 0,
		"by_job_type": [],
		"failures_per_hour": [],
		"failure_clusters": [],
	}


def _database_metrics(start: datetime, end: datetime, org_scope: permissions.OrgScope) -> dict:
	condition, scope_values = org_scope.sql()
	values = {"start": start, "end": end, **scope_values}
	scope = f" AND {condition}" if org_scope.organizations is not None else ""
	parts = metrics_math.split_window(start, end)
	totals = metrics_rollup.Totals()
	metrics_rollup.read(totals, parts, condition if scope else "", scope_values)
	_read_live(totals, parts.live, scope, scope_values)
	_drop_negative(totals)
	by_status = dict.fromkeys(STATUSES, 0)
	for (_job_type, status), jobs in totals.counts.items():
		by_status[status] = by_status.get(status, 0) + jobs
	cells = [
		metrics_math.FailureCell(job_type, hour, failures)
		for (job_type, hour), failures in sorted(
			totals.failures.items(), key=lambda item: (item[0][1], item[0][0])
		)
		if failures
	]
	return {
		"by_status": by_status,
		"total": sum(by_status.values()),
		"dead_letter_in_window": by_status[JobStatus.DEAD_LETTER.value],
		"by_job_type": _by_job_type(totals),
		"failures_per_hour": [
			{"hour": cell.hour.isoformat(), "job_type": cell.job_type, "failures": cell.failures}
			for cell in cells
		],
		"failure_clusters": metrics_math.failure_clusters(
			cells, hours=metrics_math.hours_in_window(start, end)
		),
		**_current_state(scope, values),
	}


def _drop_negative(totals: metrics_rollup.Totals) -> None:
	"""Counts below zero read as zero, logged: the rollup disagrees with the jobs (rows written past the
	engine's transitions), and a metrics call must still answer. `metrics_rollup.rebuild` recounts."""
	for counts in (totals.counts, totals.failures):
		negative = {key: n for key, n in counts.items() if n < 0}
		if negative:
			frappe.logger("dartwing").warning(
				"metrics rollup counts below zero, read as 0 (recount with metrics_rollup.rebuild): %s",
				negative,
			)
			counts.update(dict.fromkeys(negative, 0))


_WINDOW_SOURCE = f"{_TABLE} FORCE INDEX ({METRICS_INDEX_NAME})"
_BOUNDARIES = ", ".join(str(b) for b in metrics_math.HISTOGRAM_BOUNDARIES_US)
_COMPLETED_DURATION = f"IF(status = %(completed)s AND started_at IS NOT NULL AND completed_at IS NOT NULL, {_DURATION_US}, NULL)"


def _read_live(
	totals: metrics_rollup.Totals, ranges: tuple[tuple[datetime, datetime], ...], scope: str, values: dict
) -> None:
	"""The partial hours at the window's edges, from the job table's covering index, in the rollup's shape."""
	if not ranges:
		return
	params = {**values, "completed": JobStatus.COMPLETED.value, "failure_statuses": FAILURE_STATUSES}
	conditions = []
	for index, (start, end) in enumerate(ranges):
		conditions.append(f"(creation >= %(live_from_{index})s AND creation < %(live_to_{index})s)")
		params.update({f"live_from_{index}": start, f"live_to_{index}": end})
	rows = frappe.db.sql(
		f"""SELECT job_type, status, failed_hour, COUNT(*) AS jobs, COUNT(duration) AS durations,
			COALESCE(SUM(duration), 0) AS duration_sum_us, COALESCE(MAX(duration), 0) AS duration_max_us,
			IF(duration IS NULL, NULL, INTERVAL(duration, {_BOUNDARIES})) AS bucket
		FROM (
			SELECT job_type, status, {_COMPLETED_DURATION} AS duration,
				IF(status IN %(failure_statuses)s, DATE_FORMAT({_FAILED_AT}, '%%Y-%%m-%%d %%H:00:00'), NULL)
					AS failed_hour
			FROM {_WINDOW_SOURCE} WHERE ({" OR ".join(conditions)}){scope}
		) live
		GROUP BY job_type, status, failed_hour, bucket""",
		params,
		as_dict=True,
	)
	for row in rows:
		bucket = row.bucket
		totals.add(row, () if bucket is None else ((int(bucket), row.durations),))


def _by_job_type(totals: metrics_rollup.Totals) -> list[dict]:
	rows = metrics_math.job_type_rows(
		totals.counts,
		success_status=JobStatus.COMPLETED.value,
		failure_statuses=FAILURE_STATUSES,
		dead_letter_status=JobStatus.DEAD_LETTER.value,
	)
	for row in rows:
		count, sum_us, max_us, buckets = totals.durations.get(row["job_type"], (0, 0, None, ()))
		row["avg_duration"] = round(sum_us / count / 1_000_000, 3) if count else None
		p95 = metrics_math.histogram_percentile(buckets, max_us) if count else None
		row["p95_duration"] = round(p95 / 1_000_000, 3) if p95 is not None else None
	return rows


def _current_state(scope: str, values: dict) -> dict[str, Any]:
	rows = frappe.db.sql(
		f"""SELECT status, priority, COUNT(*) AS jobs FROM {_TABLE}
		WHERE status IN %(current)s{scope} GROUP BY status, priority""",
		{**values, "current": CURRENT_STATUSES},
		as_dict=True,
	)
	by_priority = dict.fromkeys(config.PRIORITIES, 0)
	totals = dict.fromkeys(CURRENT_STATUSES, 0)
	for row in rows:
		totals[row.status] += int(row.jobs)
		if row.status in WAITING_STATUSES and row.priority in by_priority:
			by_priority[row.priority] += int(row.jobs)
	return {
		"queue_depth": {"by_priority": by_priority, "by_queue": None},
		"running": totals[JobStatus.RUNNING.value],
		"scheduled": totals[JobStatus.SCHEDULED.value],  # waiting for their run_at, not in the queue
		"dead_letter": totals[JobStatus.DEAD_LETTER.value],
	}


def redis_metrics() -> dict[str, Any]:
	"""RQ queue lengths and this bench's live workers; None for both when Redis cannot be reached."""
	from frappe.utils.background_jobs import generate_qname, get_queue, get_queue_list, get_redis_conn
	from rq import Worker

	try:
		queues = get_queue_list()
		by_queue = {queue: get_queue(queue).count for queue in queues}
		ours = {generate_qname(queue) for queue in queues}
		workers = [w for w in Worker.all(connection=get_redis_conn()) if ours & set(w.queue_names())]
	except Exception:
		frappe.logger("dartwing.jobs").warning("metrics: Redis unavailable", exc_info=True)
		return {"by_queue": None, "workers": None}
	busy = sum(1 for worker in workers if worker.get_state() == "busy")
	return {"by_queue": by_queue, "workers": {"live": len(workers), "busy": busy}}


# Prometheus text exposition (prometheus_client, private registry: nothing global, nothing left behind)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _JobMetricsCollector:
	"""Turns one get_job_metrics() reply into Prometheus gauge families."""

	def __init__(self, metrics: dict[str, Any]) -> None:
		self.metrics = metrics

	def collect(self):
		from prometheus_client.core import GaugeMetricFamily

		m = self.metrics
		yield _gauge(
			GaugeMetricFamily,
			"jobs_window",
			"Jobs created in the window, by status",
			"status",
			m["by_status"],
		)
		yield _gauge(
			GaugeMetricFamily,
			"queue_depth",
			"Pending + Queued jobs, by priority",
			"priority",
			m["queue_depth"]["by_priority"],
		)
		yield _gauge(
			GaugeMetricFamily,
			"rq_queue_length",
			"Jobs waiting in RQ",
			"queue",
			m["queue_depth"]["by_queue"] or {},
		)
		yield GaugeMetricFamily("dartwing_jobs_running", "Jobs running now", value=m["running"])
		yield GaugeMetricFamily(
			"dartwing_jobs_scheduled", "Jobs waiting for their run_at", value=m["scheduled"]
		)
		yield GaugeMetricFamily(
			"dartwing_dead_letter_jobs", "Jobs in the dead letter queue", value=m["dead_letter"]
		)
		workers = m["workers"] or {}
		yield GaugeMetricFamily(
			"dartwing_workers_live", "Live RQ workers of this bench", value=workers.get("live", 0)
		)
		yield GaugeMetricFamily(
			"dartwing_workers_busy", "Busy RQ workers of this bench", value=workers.get("busy", 0)
		)
		for key, name, doc in (
			("avg_duration", "job_duration_seconds_avg", "Average duration of Completed jobs"),
			("p95_duration", "job_duration_seconds_p95", "95th percentile duration of Completed jobs"),
			("failure_rate", "job_failure_ratio", "Failures / (failures + Completed)"),
			("failed", "job_failures_window", "Failed, Timed Out or Dead Letter jobs created in the window"),
		):
			values = {row["job_type"]: row[key] for row in m["by_job_type"] if row[key] is not None}
			yield _gauge(GaugeMetricFamily, name, doc, "job_type", values)


def _gauge(family: type, name: str, documentation: str, label: str, values: dict[str, Any]):
	gauge = family(f"dartwing_{name}", documentation, labels=[label])
	for key, value in values.items():
		gauge.add_metric([str(key)], float(value))
	return gauge


def prometheus_exposition(hours: int = metrics_math.DEFAULT_WINDOW_HOURS) -> bytes:
	"""All organizations' metrics of the last `hours` in Prometheus text format 0.0.4."""
	from prometheus_client import CollectorRegistry, generate_latest

	registry = CollectorRegistry(auto_describe=False)
	registry.register(_JobMetricsCollector(get_job_metrics(hours=hours)))
	return generate_latest(registry)
