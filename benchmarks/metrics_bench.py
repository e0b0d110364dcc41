"""Metrics at 1,000,000 jobs: time `get_job_metrics` on a bulk-loaded `tabBackground Job`.

Contract:
- Loads 1,000,000 rows (BENCH_QUICK: 20,000) into the real `tabBackground Job` of test_site, with its real
  indexes: 29 days (inside the 30-day retention purge), 10 organizations `bench-org-01..10` (skewed: the first holds ~30 %), 6 job types,
  a realistic status mix (mostly Completed, ~3 % Dead Letter with a failure burst of `bench_export` at
  02:00-03:59, Pending / Queued / Running only in the last 10 minutes, Failed / Timed Out in the last
  2 hours), random 10+ character names as Frappe's `hash` naming gives. One INSERT ... SELECT over
  MariaDB's SEQUENCE engine generates the rows server-side, in primary-key order (the fastest load).
  Other suites share test_site and run the engine's sweeps, so the bench organizations are Suspended and
  in-flight rows are parked (heartbeat_at, next_retry_at, enqueued_at a day ahead): no sweep touches them.
- Backfills the Job Metrics Rollup for the loaded rows with `metrics_rollup.rebuild` (what the migrate
  patch runs; timed), since the rows went in without the engine.
- Per window (24 h, 7 d, 30 d, 90 d over all organizations as System Manager; 24 h and 90 d for one
  organization) times >= 20 calls of `get_job_metrics` (rollup for whole hours and days, the edge hours
  live) and, as the baseline in the same run, the exact all-live queries `get_job_metrics` ran before the
  rollup (counts and averages by GROUP BY, p95 by ROW_NUMBER, failures per hour, plus the same
  current-state query and Redis figures). Records p50 / p95 / max of both, whether every count is
  identical, the p95 error per job type against the exact value, and the EXPLAIN of every query.
- Measures the tables as migrate leaves them (the covering index `metrics.METRICS_INDEX_NAME` that
  Background Job's on_doctype_update creates, the rollup's primary key).
- Removes every bench row and organization at the end (also rows left by an aborted earlier run);
  BENCH_METRICS_KEEP_ROWS=1 keeps the rows so the next run skips the load.
Writes benchmarks/results/metrics.json.
"""

import os
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from benchmarks import connect, disconnect, latency_summary, percentile, report, size, write_result

ROWS = size(1_000_000, 20_000)
CALLS = size(20, 5)
BASELINE_CALLS = size(3, 2)  # the all-live baseline takes seconds (tens under load) per call for long windows
SLOW_STATEMENT_SECONDS = 120  # s, cut-off per statement so a bad plan cannot stall `make bench`
ORGS = tuple(f"bench-org-{i:02d}" for i in range(1, 11))
ONE_ORG = "bench-org-03"
TABLE = "tabBackground Job"
TARGET_MS = 100
KEEP_ROWS = os.environ.get("BENCH_METRICS_KEEP_ROWS", "") not in ("", "0")

# Uniform numbers u1..u8 come from two MD5s of the sequence number; age from a third.
_LOAD = """
INSERT INTO `tabBackground Job` (name, creation, modified, modified_by, owner, job_type, organization,
	submitted_by, status, priority, parameters, params_hash, progress, retry_count, max_retries,
	timeout_seconds, queue, enqueued_at, started_at, completed_at, next_retry_at, heartbeat_at,
	error_type, error_message)
SELECT name, created, created, 'Administrator', 'Administrator', job_type, org, 'bench@dartwing.test',
	st, prio, '{{}}', h, IF(st = 'Completed', 100, 0), IF(st IN ('Failed', 'Timed Out', 'Dead Letter'), 1, 0),
	5, 300, CASE prio WHEN 'Low' THEN 'long' WHEN 'Normal' THEN 'default' ELSE 'short' END,
	IF(st = 'Queued', %(parked)s, IF(st = 'Pending', NULL, created)),
	IF(st IN ('Pending', 'Queued'), NULL, started),
	IF(st IN ('Completed', 'Dead Letter', 'Canceled'), started + INTERVAL dur_ms * 1000 MICROSECOND, NULL),
	IF(st IN ('Failed', 'Timed Out'), %(parked)s, NULL),
	IF(st = 'Running', %(parked)s, NULL),
	IF(st IN ('Failed', 'Timed Out', 'Dead Letter'), IF(st = 'Timed Out', 'JobTimedOut', 'TransientError'), NULL),
	IF(st IN ('Failed', 'Timed Out', 'Dead Letter'), 'bench failure', NULL)
FROM (
	SELECT name, h, created, job_type, org, prio, started, dur_ms,
		CASE
			WHEN u1 < IF(job_type = 'bench_export' AND HOUR(created) IN (2, 3), 0.30, 0.03) THEN 'Dead Letter'
			WHEN u1 >= 0.30 AND u1 < 0.32 THEN 'Canceled'
			WHEN age_s < 7200 AND u2 < 0.02 THEN 'Failed'
			WHEN age_s < 7200 AND u2 < 0.03 THEN 'Timed Out'
			WHEN age_s < 600 AND u2 < 0.20 THEN 'Pending'
			WHEN age_s < 600 AND u2 < 0.35 THEN 'Queued'
			WHEN age_s < 600 AND u2 < 0.45 THEN 'Running'
			ELSE 'Completed'
		END AS st
	FROM (
		SELECT CONCAT(SUBSTR(h, 1, 10), seq) AS name, h, u1, u2, age_s,
			%(now)s - INTERVAL age_s SECOND AS created,
			%(now)s - INTERVAL age_s SECOND + INTERVAL FLOOR(u3 * 5000000) MICROSECOND AS started,
			ELT(1 + FLOOR(u4 * 6), 'bench_noop', 'bench_email', 'bench_report', 'bench_export', 'bench_ocr',
				'bench_sync') AS job_type,
			CONCAT('bench-org-', LPAD(1 + FLOOR(u5 * u5 * 10), 2, '0')) AS org,
			ELT(1 + FLOOR(u6 * 10), 'Low', 'Normal', 'Normal', 'Normal', 'Normal', 'Normal', 'High', 'High',
				'Critical', 'Normal') AS prio,
			FLOOR((1 + FLOOR(u4 * 6)) * 400 * (0.5 + u7) * IF(u8 > 0.95, 8, 1)) AS dur_ms
		FROM (
			SELECT seq, h,
				CONV(SUBSTR(h, 1, 8), 16, 10) / 4294967296 AS u1, CONV(SUBSTR(h, 9, 8), 16, 10) / 4294967296 AS u2,
				CONV(SUBSTR(h, 17, 8), 16, 10) / 4294967296 AS u3, CONV(SUBSTR(h, 25, 8), 16, 10) / 4294967296 AS u4,
				CONV(SUBSTR(h2, 1, 8), 16, 10) / 4294967296 AS u5, CONV(SUBSTR(h2, 9, 8), 16, 10) / 4294967296 AS u6,
				CONV(SUBSTR(h2, 17, 8), 16, 10) / 4294967296 AS u7, CONV(SUBSTR(h2, 25, 8), 16, 10) / 4294967296 AS u8,
				FLOOR(CONV(SUBSTR(h3, 1, 8), 16, 10) / 4294967296 * 2505600) AS age_s
			FROM (SELECT seq, MD5(seq) AS h, MD5(CONCAT('b', seq)) AS h2, MD5(CONCAT('c', seq)) AS h3
				FROM seq_{first}_to_{last}) r
		) x
	) y
) z
ORDER BY name
"""
LOAD_CHUNK = 100_000  # rows per statement: keeps each transaction's undo log bounded
DELETE_BATCH = 20_000  # rows per DELETE (short transactions, as scheduler.py's purge does)


def main() -> dict[str, Any]:
	connect()
	try:
		return _run()
	finally:
		disconnect()


def _run() -> dict[str, Any]:
	import frappe

	from dartwing.dartwing_core.background_jobs import metrics

	results: dict[str, Any] = {"rows": ROWS, "calls_per_scenario": CALLS, "target_ms": TARGET_MS}
	results["load"] = _ensure_rows()
	results["backfill"] = _ensure_rollup(results["load"])
	results["table"] = _table_facts()
	if not frappe.db.has_index(TABLE, metrics.METRICS_INDEX_NAME):
		raise RuntimeError(
			f"{metrics.METRICS_INDEX_NAME} is missing: run `python -m benchless migrate --site test_site`"
		)
	results["index"] = {"name": metrics.METRICS_INDEX_NAME, "fields": list(metrics.METRICS_INDEX)}
	try:
		results["scenarios"] = _measure(CALLS)
	finally:
		if not KEEP_ROWS:
			results["cleanup_seconds"] = _delete_rows()
	path = write_result("metrics", results)
	_print(results, path)
	return results


# Loading and cleaning up


def _ensure_rows() -> dict[str, Any]:
	import frappe
	from frappe.utils import now_datetime

	from dartwing.install import ensure_organization

	for org in ORGS:
		ensure_organization(org, status="Suspended")
	# Suspended: the dispatcher leaves their Pending rows alone (also when an earlier run left them Active)
	frappe.db.sql("UPDATE `tabOrganization` SET status = 'Suspended' WHERE name IN %(orgs)s", {"orgs": ORGS})
	frappe.db.commit()
	present = _bench_row_count()
	if present == ROWS:
		return {"reused_rows": present}
	if present:
		_delete_rows()
	now = now_datetime()
	started = time.monotonic()
	for first in range(1, ROWS + 1, LOAD_CHUNK):
		last = min(first + LOAD_CHUNK - 1, ROWS)
		frappe.db.sql(_LOAD.format(first=first, last=last), {"now": now, "parked": now + timedelta(days=1)})
		frappe.db.commit()
	frappe.db.sql(f"ANALYZE TABLE `{TABLE}`")
	return {"loaded_rows": ROWS, "load_seconds": round(time.monotonic() - started, 1), "anchor": str(now)}


def _ensure_rollup(load: dict[str, Any]) -> dict[str, Any]:
	"""The migrate backfill over the bench rows (kept rows keep their rollup too)."""
	import frappe

	from dartwing.dartwing_core.background_jobs import metrics_rollup

	present = int(
		frappe.db.sql(
			"SELECT COUNT(*) FROM `tabJob Metrics Rollup` WHERE organization IN %(orgs)s", {"orgs": ORGS}
		)[0][0]
	)
	if present and "reused_rows" in load:
		return {"reused_rollup_rows": present}
	started = time.monotonic()
	written = metrics_rollup.rebuild(ORGS)
	frappe.db.sql("ANALYZE TABLE `tabJob Metrics Rollup`")
	return {"rollup_rows": written, "backfill_seconds": round(time.monotonic() - started, 1)}


def _bench_row_count() -> int:
	import frappe

	return int(
		frappe.db.sql(f"SELECT COUNT(*) FROM `{TABLE}` WHERE organization IN %(orgs)s", {"orgs": ORGS})[0][0]
	)


def _delete_rows() -> float:
	import frappe

	started = time.monotonic()
	for org in ORGS:
		deleted = DELETE_BATCH
		while deleted == DELETE_BATCH:
			frappe.db.sql(f"DELETE FROM `{TABLE}` WHERE organization = %s LIMIT {DELETE_BATCH}", (org,))
			deleted = _affected()
			frappe.db.commit()
	frappe.db.sql("DELETE FROM `tabJob Metrics Rollup` WHERE organization IN %(orgs)s", {"orgs": ORGS})
	frappe.db.sql("DELETE FROM `tabOrganization` WHERE name IN %(orgs)s", {"orgs": ORGS})
	frappe.db.commit()
	return round(time.monotonic() - started, 1)


def _affected() -> int:
	import frappe

	return int(frappe.db.sql("SELECT ROW_COUNT()")[0][0])


def _table_facts() -> dict[str, Any]:
	import frappe

	indexes = frappe.db.sql(f"SHOW INDEX FROM `{TABLE}`", as_dict=True)
	names: dict[str, list[str]] = {}
	for row in indexes:
		names.setdefault(row.Key_name, []).append(row.Column_name)
	return {
		"total_rows": int(frappe.db.sql(f"SELECT COUNT(*) FROM `{TABLE}`")[0][0]),
		"indexes": names,
		"innodb_buffer_pool_mb": int(frappe.db.sql("SELECT @@innodb_buffer_pool_size")[0][0]) // 2**20,
		"mariadb": frappe.db.sql("SELECT VERSION()")[0][0],
	}


# Measuring


def _scenarios() -> list[tuple[str, dict[str, Any]]]:
	everyone = [(f"system_manager_all_orgs_{label}", {"hours": hours}) for label, hours in WINDOWS]
	one = [
		(f"one_org_{label} ({ONE_ORG})", {"organization": ONE_ORG, "hours": hours})
		for label, hours in WINDOWS
	]
	return [*everyone, one[0], one[-1]]


WINDOWS = (("24h", 24), ("7d", 7 * 24), ("30d", 30 * 24), ("90d", 90 * 24))


def _measure(calls: int) -> dict[str, Any]:
	"""Per scenario: the rollup-backed call and the all-live baseline, one recorded (warm-up, EXPLAINed)
	call each, then timed calls. Statements are cut at SLOW_STATEMENT_SECONDS so a bad plan cannot stall
	`make bench`."""
	import frappe

	frappe.db.sql(f"SET SESSION max_statement_time = {SLOW_STATEMENT_SECONDS}")
	figures = {}
	try:
		for label, kwargs in _scenarios():
			figures[label] = _measure_scenario(kwargs, calls)
	finally:
		frappe.db.sql("SET SESSION max_statement_time = 0")
	return figures


def _measure_scenario(kwargs: dict[str, Any], calls: int) -> dict[str, Any]:
	import frappe
	from frappe.utils import get_datetime

	from dartwing.dartwing_core.background_jobs import metrics

	with _recording_queries() as recorded:
		reply = metrics.get_job_metrics(**kwargs)
	explain = _explain(recorded)
	seconds = []
	for _ in range(calls):
		started = time.perf_counter()
		reply = metrics.get_job_metrics(**kwargs)
		seconds.append(time.perf_counter() - started)
	result = {"rollup": _summary(seconds), "jobs_in_window": reply["total"], "explain": explain}
	window = (get_datetime(reply["window"]["from"]), get_datetime(reply["window"]["to"]))
	try:
		exact, baseline = _all_live(window, kwargs.get("organization"), BASELINE_CALLS)
	except Exception as exc:  # max_statement_time exceeded
		frappe.db.rollback()
		result["all_live_baseline"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
		return result
	result["all_live_baseline"] = _summary(baseline)
	result["p95_ratio_rollup_to_all_live"] = round(
		result["rollup"]["p95_ms"] / result["all_live_baseline"]["p95_ms"], 4
	)
	result["accuracy"] = _accuracy(reply, exact)
	return result


def _summary(seconds: list[float]) -> dict[str, Any]:
	summary = latency_summary(seconds)
	summary["p95_ms"] = round(percentile([s * 1000 for s in seconds], 95), 2)
	return summary


# The baseline: what get_job_metrics ran before the rollup (exact, every job of the window read live)

_LIVE = "`tabBackground Job` FORCE INDEX (metrics_window_index)"
_DURATION_US = "TIMESTAMPDIFF(MICROSECOND, started_at, completed_at)"


def _all_live(window, organization: str | None, calls: int) -> tuple[dict[str, Any], list[float]]:
	"""(exact figures, seconds per call) of the all-live queries, scoped as get_job_metrics scopes."""
	from dartwing.dartwing_core.background_jobs import metrics, permissions

	scope = permissions.org_scope(organization)
	condition, scope_values = scope.sql()
	clause = f" AND {condition}" if scope.organizations is not None else ""
	values = {"start": window[0], "end": window[1], **scope_values}
	where = f"{_LIVE} WHERE creation >= %(start)s AND creation < %(end)s{clause}"
	seconds, exact = [], None
	for _ in range(max(calls, 1)):
		started = time.perf_counter()
		exact = _all_live_queries(where, values)
		metrics._current_state(clause, values)
		metrics.redis_metrics()
		seconds.append(time.perf_counter() - started)
	return exact, seconds


def _all_live_queries(where: str, values: dict[str, Any]) -> dict[str, Any]:
	import frappe

	counts = frappe.db.sql(
		f"SELECT job_type, status, COUNT(*) AS jobs, AVG({_DURATION_US}) / 1000000 AS avg_seconds FROM {where} "
		"GROUP BY job_type, status",
		values,
		as_dict=True,
	)
	p95 = frappe.db.sql(
		f"""SELECT job_type, duration_us / 1000000 AS p95_seconds FROM (
			SELECT job_type, {_DURATION_US} AS duration_us,
				ROW_NUMBER() OVER (PARTITION BY job_type ORDER BY {_DURATION_US}) AS position,
				COUNT(*) OVER (PARTITION BY job_type) AS jobs
			FROM {where} AND status = 'Completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL
		) ranked WHERE position = CEIL(0.95 * jobs)""",
		values,
		as_dict=True,
	)
	failures = frappe.db.sql(
		f"""SELECT job_type, DATE_FORMAT(COALESCE(completed_at, started_at, creation), '%%Y-%%m-%%d %%H:00:00') AS hour,
			COUNT(*) AS failures FROM {where} AND status IN ('Dead Letter', 'Failed', 'Timed Out')
		GROUP BY job_type, hour ORDER BY hour, job_type""",
		values,
		as_dict=True,
	)
	by_status: dict[str, int] = {}
	for row in counts:
		by_status[row.status] = by_status.get(row.status, 0) + int(row.jobs)
	return {
		"by_status": by_status,
		"counts": {(row.job_type, row.status): int(row.jobs) for row in counts},
		"avg": {
			row.job_type: round(float(row.avg_seconds), 3)
			for row in counts
			if row.status == "Completed" and row.avg_seconds is not None
		},
		"p95": {row.job_type: float(row.p95_seconds) for row in p95},
		"failures": [(f"{row.hour}".replace(" ", "T"), row.job_type, int(row.failures)) for row in failures],
	}


def _accuracy(reply: dict[str, Any], exact: dict[str, Any]) -> dict[str, Any]:
	"""Counts must be identical; p95 is within one histogram bucket above the exact nearest rank."""
	from dartwing.dartwing_core.background_jobs import metrics_math

	by_status = {status: n for status, n in reply["by_status"].items() if n}
	counts = {}
	for row in reply["by_job_type"]:
		counts[row["job_type"]] = (row["total"], row["completed"], row["failed"], row["dead_letter"])
	exact_types: dict[str, list[int]] = {}
	for (job_type, status), n in exact["counts"].items():
		entry = exact_types.setdefault(job_type, [0, 0, 0, 0])
		entry[0] += n
		entry[1] += n if status == "Completed" else 0
		entry[2] += n if status in ("Dead Letter", "Failed", "Timed Out") else 0
		entry[3] += n if status == "Dead Letter" else 0
	failures = [(cell["hour"], cell["job_type"], cell["failures"]) for cell in reply["failures_per_hour"]]
	p95 = {}
	for row in reply["by_job_type"]:
		true = exact["p95"].get(row["job_type"])
		if true is None or row["p95_duration"] is None:
			continue
		estimate = row["p95_duration"]
		p95[row["job_type"]] = {
			"exact_s": round(true, 3),
			"rollup_s": estimate,
			"error_pct": round(100 * (estimate - true) / true, 2) if true else None,
			"same_bucket": metrics_math.duration_bucket(round(estimate * 1e6) - 1)
			== metrics_math.duration_bucket(round(true * 1e6)),
		}
	averages = {
		row["job_type"]: row["avg_duration"]
		for row in reply["by_job_type"]
		if row["avg_duration"] is not None
	}
	return {
		"counts_identical": by_status == exact["by_status"]
		and counts == {k: tuple(v) for k, v in exact_types.items()}
		and failures == exact["failures"],
		"averages_identical": averages == exact["avg"],
		"p95": p95,
		"p95_max_error_pct": max((v["error_pct"] for v in p95.values()), default=None),
	}


@contextmanager
def _recording_queries():
	import frappe

	recorded, original = [], frappe.db.sql

	def record(query, values=(), *args, **kwargs):
		recorded.append((query, values))
		return original(query, values, *args, **kwargs)

	frappe.db.sql = record
	try:
		yield recorded
	finally:
		frappe.db.sql = original


def _explain(recorded: list[tuple[str, Any]]) -> list[dict[str, Any]]:
	"""EXPLAIN of every SELECT on the job table a call ran: which index, how many rows, covering or not."""
	import frappe

	plans = []
	for query, values in recorded:
		if not query.lstrip().upper().startswith("SELECT") or TABLE not in query:
			continue
		rows = frappe.db.sql("EXPLAIN " + query, values, as_dict=True)
		plans.append(
			{
				"query": " ".join(query.split())[:160],
				"plan": [
					{key: row.get(key) for key in ("table", "type", "key", "rows", "Extra")} for row in rows
				],
			}
		)
	return plans


def _print(results: dict[str, Any], path: str) -> None:
	rows = [
		("rows loaded", results["load"]),
		("rollup backfill", results["backfill"]),
		("buffer pool", f"{results['table']['innodb_buffer_pool_mb']} MB"),
	]
	for label, figures in results.get("scenarios", {}).items():
		rollup, live = figures["rollup"], figures["all_live_baseline"]
		if "error" in live:
			rows.append((label, f"rollup p95 {rollup['p95_ms']} ms; all-live baseline: {live['error']}"))
			continue
		accuracy = figures["accuracy"]
		rows.append(
			(
				label,
				f"rollup p50 {rollup['p50_ms']} / p95 {rollup['p95_ms']} ms; all-live p50 {live['p50_ms']} /"
				f" p95 {live['p95_ms']} ms (ratio {figures['p95_ratio_rollup_to_all_live']}); {figures['jobs_in_window']}"
				f" jobs; counts identical {accuracy['counts_identical']}, averages {accuracy['averages_identical']},"
				f" p95 max error {accuracy['p95_max_error_pct']} %",
			)
		)
	rows.append(("results", path))
	report(
		f"get_job_metrics at {ROWS:,} jobs (target p95 < {TARGET_MS} ms for any window up to 90 days)", rows
	)
