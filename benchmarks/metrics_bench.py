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
- Times >= 20 calls per scenario (System Manager over all organizations; one organization; a 7-day
  window) and records p50 / p95 / max, the EXPLAIN of every query a call runs, and which indexes exist.
- Measures the table as migrate leaves it, with the covering index `metrics.METRICS_INDEX_NAME` that
  Background Job's on_doctype_update creates (README: why that index matters).
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
SLOW_STATEMENT_SECONDS = 120  # s, cut-off per statement so a bad plan cannot stall `make bench`
ORGS = tuple(f"bench-org-{i:02d}" for i in range(1, 11))
ONE_ORG = "bench-org-03"
TABLE = "tabBackground Job"
TARGET_MS = 250
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
	results["table"] = _table_facts()
	if not frappe.db.has_index(TABLE, metrics.METRICS_INDEX_NAME):
		raise RuntimeError(
			f"{metrics.METRICS_INDEX_NAME} is missing: run `python -m benchless migrate --site test_site`"
		)
	results["index"] = {"name": metrics.METRICS_INDEX_NAME, "fields": list(metrics.METRICS_INDEX)}
	try:
		results["with_recommended_index"] = _measure(CALLS)
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
	scenarios = [("system_manager_all_orgs_24h", {}), (f"one_org_24h ({ONE_ORG})", {"organization": ONE_ORG})]
	return [*scenarios, ("system_manager_all_orgs_7d", {"hours": 7 * 24})]


def _measure(calls: int) -> dict[str, Any]:
	"""Per scenario: one recorded call (warm-up; its queries are EXPLAINed), then `calls` timed calls.

	Statements are cut at SLOW_STATEMENT_SECONDS so a bad plan cannot stall `make bench`.
	"""
	import frappe

	from dartwing.dartwing_core.background_jobs import metrics

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

	from dartwing.dartwing_core.background_jobs import metrics

	started = time.perf_counter()
	try:
		with _recording_queries() as recorded:
			reply = metrics.get_job_metrics(**kwargs)
	except Exception as exc:  # max_statement_time exceeded
		frappe.db.rollback()
		return {
			"error": f"{type(exc).__name__}: {exc}"[:300],
			"after_seconds": round(time.perf_counter() - started, 1),
		}
	seconds = [time.perf_counter() - started]
	if calls:
		seconds = []
		for _ in range(calls):
			started = time.perf_counter()
			reply = metrics.get_job_metrics(**kwargs)
			seconds.append(time.perf_counter() - started)
	summary = latency_summary(seconds)
	summary["p95_ms"] = round(percentile([s * 1000 for s in seconds], 95), 2)
	return {"latency": summary, "jobs_in_window": reply["total"], "explain": _explain(recorded)}


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
		("buffer pool", f"{results['table']['innodb_buffer_pool_mb']} MB"),
	]
	for state in ("without_recommended_index", "with_recommended_index"):
		for label, figures in results.get(state, {}).items():
			if "error" in figures:
				rows.append((f"{state}: {label}", f"{figures['error']} after {figures['after_seconds']} s"))
				continue
			latency = figures["latency"]
			rows.append(
				(
					f"{state}: {label}",
					f"p50 {latency['p50_ms']} ms  p95 {latency['p95_ms']} ms  max {latency['max_ms']} ms"
					f"  ({figures['jobs_in_window']} jobs in window)",
				)
			)
	rows.append(("results", path))
	report(f"get_job_metrics at {ROWS:,} jobs (target < {TARGET_MS} ms)", rows)
