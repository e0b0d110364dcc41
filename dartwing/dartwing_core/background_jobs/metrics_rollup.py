"""The metrics rollup: jobs counted by creation hour and day, organization, job type and status, kept
exact in the transaction of every status change, so `metrics` reads hours instead of jobs.

Contract:
- A row of Job Metrics Rollup (data-model.md) counts the jobs created in one period (an Hour, or a Day)
  of one organization and job type that are in one status *now*; a failure status row is also split by
  the hour of the job's last attempt (COALESCE(completed_at, started_at, creation), as `metrics` buckets
  failures). Completed rows carry the durations: how many, their sum, the longest, and the fixed-bucket
  histogram of `metrics_math.HISTOGRAM_BOUNDARIES_US`.
- `on_transitions` is `state.ON_TRANSITION`'s before_commit consequence: it is handed every change the
  transaction made (savepoint rollbacks already forgotten) just before COMMIT and writes one multi-row
  `INSERT … ON DUPLICATE KEY UPDATE n = n + delta` of their summed deltas (-1 in the old status, +1 in
  the new), rows in key order. Same transaction: a change and its count commit or roll back together, so
  counts are never lost or doubled; an error fails the commit instead of losing a count. The key is the
  primary key (`name`), so an existing row takes a record lock only, held for the commit alone.
- Jobs purged by retention keep their counts: nothing here follows a delete.
- `rebuild` recounts from `tabBackground Job` (the migrate patch's backfill; tests that write rows
  directly), one creation day per transaction: it first takes shared locks on that day's jobs, so a
  transition in flight commits (and its delta is then replaced by the recount) or waits for the recount.
  The recount sees the caller's own uncommitted changes, so those the transaction made before it are
  not counted again when it commits (``on_transitions`` skips them).
- `read` sums the rows of whole hours and days for a scope: one range scan of the primary key per range.

Mirrors nothing in Frappe; uses frappe.db.sql and frappe.db.commit as in v15.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe.utils import get_datetime, now_datetime

from dartwing.dartwing_core.background_jobs import metrics_math, state
from dartwing.dartwing_core.background_jobs.transitions import FAILURE, JobStatus, status_tuple

DOCTYPE = "Job Metrics Rollup"
TABLE = "`tabJob Metrics Rollup`"
JOB_TABLE = "`tabBackground Job`"
HOUR, DAY = "Hour", "Day"
PERIODS = {HOUR: (metrics_math.hour_bucket, "%Y-%m-%d %H:00:00"), DAY: (metrics_math.day_bucket, "%Y-%m-%d")}
HISTOGRAM_COLUMNS = tuple(f"h{k:02d}" for k in range(metrics_math.HISTOGRAM_BUCKETS))
FAILURE_STATUSES = status_tuple(FAILURE)
COMPLETED = JobStatus.COMPLETED.value
# Covering index of the counts query (the rows that are not Completed), created by the doctype's
# on_doctype_update: those rows are most of the table (failures split by hour) and need 5 of its 90 columns.
COUNTS_INDEX_NAME = "rollup_counts_index"
COUNTS_INDEX = ("name", "organization", "job_type", "status", "failed_hour", "jobs")
REBUILD_DAYS = 1  # creation days recounted per transaction: new jobs of that day wait for it
_KEY_HOUR = "%Y%m%d%H"


@dataclass(frozen=True, order=True)
class Key:
	name: str  # first: rows are written in primary-key order
	period: str
	period_start: datetime
	organization: str
	job_type: str
	status: str
	failed_hour: datetime


@dataclass
class Delta:
	jobs: int = 0
	durations: int = 0
	sum_us: int = 0
	max_us: int = 0
	buckets: dict[int, int] = field(default_factory=dict)

	def empty(self) -> bool:
		return not (self.jobs or self.durations or self.sum_us or any(self.buckets.values()))


def row_name(
	period: str, period_start: datetime, organization: str, job_type: str, status: str, failed_hour
) -> str:
	"""The row's primary key: period letter, kind (Completed or other), start hour (so a time range of one
	kind is a key range), then an MD5 of the rest, length-prefixed so no two keys meet (`rebuild` computes
	the same in SQL)."""
	text = "".join(f"{len(part)}:{part}" for part in (organization, job_type, status))
	digest = hashlib.md5(f"{text}{failed_hour.strftime(_KEY_HOUR)}".encode()).hexdigest()
	return f"{_prefix(period, status == COMPLETED)}{period_start.strftime(_KEY_HOUR)}{digest}"


def _prefix(period: str, completed: bool) -> str:
	# Completed rows (the only ones with durations) apart from the others: each query reads one kind.
	return f"{period[0]}{'c' if completed else 'o'}"


def _key_range(period: str, completed: bool, start: datetime, end: datetime) -> tuple[str, str]:
	prefix = _prefix(period, completed)
	return f"{prefix}{start.strftime(_KEY_HOUR)}", f"{prefix}{end.strftime(_KEY_HOUR)}"


def failed_hour(row: Mapping[str, Any], status: str, created: datetime) -> datetime | None:
	"""The hour a failure is counted in (its last attempt); None for a status that is not a failure."""
	if status not in FAILURE_STATUSES:
		return None
	moment = row.get("completed_at") or row.get("started_at") or created
	return metrics_math.hour_bucket(get_datetime(moment))


def keys_for(organization: str, job_type: str, status: str, created: datetime, failed: datetime | None):
	"""The Hour row and the Day row a job created at `created`, in `status`, is counted in."""
	for period, (floor, _format) in PERIODS.items():
		start = floor(created)
		hour = failed or start
		yield Key(
			row_name(period, start, organization, job_type, status, hour),
			period,
			start,
			organization,
			job_type,
			status,
			hour,
		)


# Keeping the counts: state.ON_TRANSITION's before_commit consequence


def on_transitions(changes: Sequence[Any]) -> None:
	"""Write the counts of the transaction's changes (``state.Change``), just before it commits; those
	a `rebuild` in the same transaction already recounted are skipped."""
	recounted = frappe.flags.pop(_RECOUNTED, None) or {}
	deltas: dict[Key, Delta] = {}
	keys: dict[tuple, tuple[Key, ...]] = {}  # a bulk submission's 10,000 jobs share two keys
	for change in changes:
		if id(change) not in recounted:
			_count(deltas, keys, change)
	upsert({key: delta for key, delta in deltas.items() if not delta.empty()})


def _keys(cache: dict, org: str, job_type: str, status: str, created: datetime, failed: datetime | None):
	hour = metrics_math.hour_bucket(created)
	found = cache.get((org, job_type, status, hour, failed))
	if found is None:
		found = cache[(org, job_type, status, hour, failed)] = tuple(
			keys_for(org, job_type, status, hour, failed)
		)
	return found


def _count(deltas: dict[Key, Delta], cache: dict, change: Any) -> None:
	new = change.to_status.value
	job = _complete_row(change.job, timed=new == COMPLETED or new in FAILURE_STATUSES)
	created = get_datetime(job["creation"])
	org, job_type = job["organization"], job["job_type"]
	if change.from_status is not None:
		before = change.before if change.before is not None else job
		old = change.from_status.value
		for key in _keys(cache, org, job_type, old, created, failed_hour(before, old, created)):
			deltas.setdefault(key, Delta()).jobs -= 1
	duration = _duration_us(job) if new == COMPLETED else None
	for key in _keys(cache, org, job_type, new, created, failed_hour(job, new, created)):
		delta = deltas.setdefault(key, Delta())
		delta.jobs += 1
		if duration is not None:
			delta.durations += 1
			delta.sum_us += duration
			delta.max_us = max(delta.max_us, duration)
			bucket = metrics_math.duration_bucket(duration)
			delta.buckets[bucket] = delta.buckets.get(bucket, 0) + 1


_NEEDED = ("creation", "organization", "job_type")
_TIMES = ("started_at", "completed_at")


def _complete_row(job: Mapping[str, Any], *, timed: bool) -> Mapping[str, Any]:
	"""The job's columns the counts need (its times only for a Completed or failure status); read from
	the table when a caller's mapping lacks one."""
	needed = _NEEDED + _TIMES if timed else _NEEDED
	if all(column in job for column in needed):
		return job
	rows = frappe.db.sql(
		f"SELECT {', '.join(_NEEDED + _TIMES)} FROM {JOB_TABLE} WHERE name = %(name)s",
		{"name": job["name"]},
		as_dict=True,
	)
	return {**rows[0], **job} if rows else job


def _duration_us(job: Mapping[str, Any]) -> int | None:
	started, completed = job.get("started_at"), job.get("completed_at")
	if not started or not completed:
		return None
	elapsed = get_datetime(completed) - get_datetime(started)
	return (elapsed.days * 86400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds


_COLUMNS = (
	"name",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"period",
	"period_start",
	"organization",
	"job_type",
	"status",
	"failed_hour",
	"jobs",
	"durations",
	"duration_sum_us",
	"duration_max_us",
)


def upsert(deltas: Mapping[Key, Delta]) -> None:
	"""Add the deltas to their rows (creating the missing ones) in one statement, in key order.

	Only the histogram buckets some delta uses are named (most changes use none, a completion one): the
	other buckets of a new row take their default 0 and those of an existing row are left as they are.
	"""
	if not deltas:
		return
	buckets = sorted({bucket for delta in deltas.values() for bucket, n in delta.buckets.items() if n})
	columns = (*_COLUMNS, *(HISTOGRAM_COLUMNS[bucket] for bucket in buckets))
	added = ("jobs", "durations", "duration_sum_us", *columns[len(_COLUMNS) :])
	updates = [
		*(f"`{c}` = `{c}` + VALUES(`{c}`)" for c in added),
		"`duration_max_us` = GREATEST(`duration_max_us`, VALUES(`duration_max_us`))",
		"`modified` = VALUES(`modified`)",
	]
	row = "(" + ", ".join(["%s"] * len(columns)) + ")"
	now, user = now_datetime(), frappe.session.user or "Administrator"
	values: list[Any] = []
	for key in sorted(deltas):
		delta = deltas[key]
		values.extend(
			(key.name, now, now, user, user, key.period, key.period_start, key.organization, key.job_type)
		)
		values.extend((key.status, key.failed_hour, delta.jobs, delta.durations, delta.sum_us, delta.max_us))
		values.extend(delta.buckets.get(bucket, 0) for bucket in buckets)
	frappe.db.sql(
		f"INSERT INTO {TABLE} ({', '.join(f'`{c}`' for c in columns)}) VALUES {', '.join([row] * len(deltas))}"
		f" ON DUPLICATE KEY UPDATE {', '.join(updates)}",
		values,
	)


# Reading


@dataclass
class Totals:
	"""Sums over rows (or live jobs): counts by (job type, status), durations of Completed jobs per job
	type, failures per (job type, hour)."""

	counts: dict[tuple[str, str], int] = field(default_factory=dict)
	durations: dict[str, list] = field(default_factory=dict)  # job type -> [count, sum_us, max_us, buckets]
	failures: dict[tuple[str, datetime], int] = field(default_factory=dict)

	def add(self, row: Mapping[str, Any], buckets: Iterable[tuple[int, int]]) -> None:
		jobs = int(row["jobs"] or 0)
		key = (row["job_type"], row["status"])
		self.counts[key] = self.counts.get(key, 0) + jobs
		if row["status"] in FAILURE_STATUSES and jobs:
			cell = (row["job_type"], get_datetime(row["failed_hour"]))
			self.failures[cell] = self.failures.get(cell, 0) + jobs
		if row["status"] == COMPLETED and int(row["durations"] or 0):
			entry = self.durations.setdefault(
				row["job_type"], [0, 0, None, [0] * metrics_math.HISTOGRAM_BUCKETS]
			)
			entry[0] += int(row["durations"])
			entry[1] += int(row["duration_sum_us"])
			top = int(row["duration_max_us"])
			entry[2] = top if entry[2] is None else max(entry[2], top)
			for bucket, n in buckets:
				entry[3][bucket] += int(n)


# Double-precision sums: exact for counts below 2^53, and measured 2-3x faster than MariaDB's DECIMAL
# SUM of integers over the 72 bucket columns.
_SUMS = ", ".join(f"SUM(`{c}` * 1e0) AS `{c}`" for c in HISTOGRAM_COLUMNS)


def read(totals: Totals, parts: metrics_math.WindowParts, scope: str, values: Mapping[str, Any]) -> None:
	"""Add the rows of the window's whole hours and days (``scope``: an SQL condition on `organization`,
	"" for all) to ``totals``: one query for the Completed rows (counts and durations), one for the others
	(counts by failure hour), each a range scan of the primary key per part of the window."""
	ranges = [(HOUR, start, end) for start, end in parts.hours] + [
		(DAY, start, end) for start, end in parts.days
	]
	if not ranges:
		return
	restrict = f" AND {scope}" if scope else ""
	where, params = _key_ranges(ranges, True, values)
	completed = frappe.db.sql(
		f"""SELECT job_type, %(completed)s AS status, NULL AS failed_hour, SUM(jobs) AS jobs,
			SUM(durations) AS durations, SUM(duration_sum_us) AS duration_sum_us,
			MAX(duration_max_us) AS duration_max_us, {_SUMS}
		FROM {TABLE} WHERE ({where}){restrict} GROUP BY job_type""",
		{**params, "completed": COMPLETED},
		as_dict=True,
	)
	for row in completed:
		totals.add(row, ((k, row[c]) for k, c in enumerate(HISTOGRAM_COLUMNS) if row[c]))
	where, params = _key_ranges(ranges, False, values)
	others = frappe.db.sql(
		f"""SELECT job_type, status, IF(status IN %(failure_statuses)s, failed_hour, NULL) AS failed_hour,
			SUM(jobs) AS jobs, 0 AS durations
		FROM {TABLE} FORCE INDEX ({COUNTS_INDEX_NAME}) WHERE ({where}){restrict} GROUP BY job_type, status, 3""",
		{**params, "failure_statuses": FAILURE_STATUSES},
		as_dict=True,
	)
	for row in others:
		totals.add(row, ())


def _key_ranges(ranges: list, completed: bool, values: Mapping[str, Any]) -> tuple[str, dict]:
	conditions, params = [], dict(values)
	for index, (period, start, end) in enumerate(ranges):
		conditions.append(f"(name >= %(from_{index})s AND name < %(to_{index})s)")
		params[f"from_{index}"], params[f"to_{index}"] = _key_range(period, completed, start, end)
	return " OR ".join(conditions), params


# Recounting from the job table


def rebuild(organizations: Sequence[str] | None = None, *, commit: bool = True) -> int:
	"""Recount the rollup from `tabBackground Job` (all organizations, or these), committing one
	creation day at a time (``commit=False``: the caller's transaction, for tests). Returns the rows
	written. The counts of purged jobs are lost in the days recounted, so this is for the upgrade's
	backfill (when the rollup is empty), not for retention-purged history; rows of days without any job
	left stay as they are."""
	scope, values = "", {}
	if organizations is not None:
		if not organizations:
			return 0
		scope, values = " AND organization IN %(organizations)s", {"organizations": tuple(organizations)}
	_mark_recounted(organizations)
	written = 0
	day = _first_day(scope, values, None)
	while day is not None:
		end = day + timedelta(days=REBUILD_DAYS)
		written += _rebuild_days(day, end, scope, values)
		if commit:
			frappe.db.commit()
		day = _first_day(scope, values, end)
	return written


# id -> change: the transaction's pending changes a rebuild already recounted (kept, so no id is reused)
_RECOUNTED = "dartwing_rollup_recounted"


def _mark_recounted(organizations: Sequence[str] | None) -> None:
	"""The recount sees this transaction's own changes so far: its commit must not count them again."""
	scope = None if organizations is None else set(organizations)
	recounted = [c for c in state.pending_changes() if scope is None or c.organization in scope]
	if not recounted:
		return
	marks = frappe.flags.get(_RECOUNTED)
	if marks is None:
		marks = frappe.flags[_RECOUNTED] = {}
		frappe.db.after_rollback.add(_forget_recounted)
	marks.update((id(change), change) for change in recounted)


def _forget_recounted() -> None:
	frappe.flags.pop(_RECOUNTED, None)


def _first_day(scope: str, values: dict, since: datetime | None) -> datetime | None:
	after = " AND creation >= %(since)s" if since else ""
	first = frappe.db.sql(
		f"SELECT MIN(creation) FROM {JOB_TABLE} WHERE 1=1{after}{scope}", {**values, "since": since}
	)
	return metrics_math.day_bucket(get_datetime(first[0][0])) if first and first[0][0] else None


_DURATION = "IF(status = %(completed)s, TIMESTAMPDIFF(MICROSECOND, started_at, completed_at), NULL)"
_BUCKET = (
	"INTERVAL(" + _DURATION + ", " + ", ".join(str(b) for b in metrics_math.HISTOGRAM_BOUNDARIES_US) + ")"
)


def _rebuild_days(start: datetime, end: datetime, scope: str, values: dict) -> int:
	params = {
		**values,
		"start": start,
		"end": end,
		"completed": COMPLETED,
		"failure_statuses": FAILURE_STATUSES,
	}
	window = f"creation >= %(start)s AND creation < %(end)s{scope}"
	# Shared locks first: transitions in flight on these jobs commit (their deltas are deleted below and
	# recounted), later ones wait for this transaction, and no job can be created in the range meanwhile.
	frappe.db.sql(f"SELECT COUNT(*) FROM {JOB_TABLE} WHERE {window} LOCK IN SHARE MODE", params)
	for period in PERIODS:
		for completed in (True, False):
			first, last = _key_range(period, completed, start, end)
			frappe.db.sql(
				f"DELETE FROM {TABLE} WHERE name >= %(from)s AND name < %(to)s{scope}",
				{**params, "from": first, "to": last},
			)
	written = 0
	for period, (_floor, text) in PERIODS.items():
		frappe.db.sql(_rebuild_statement(period, text, window), {**params, "now": now_datetime()})
		written += int(frappe.db.sql("SELECT ROW_COUNT()")[0][0])
	return written


def _rebuild_statement(period: str, start_format: str, window: str) -> str:
	start = f"DATE_FORMAT(creation, '{start_format.replace('%', '%%')}')"
	failed = (
		"IF(status IN %(failure_statuses)s, DATE_FORMAT(COALESCE(completed_at, started_at, creation), "
		f"'%%Y-%%m-%%d %%H:00:00'), {start})"
	)
	key = (
		f"CONCAT('{period[0]}', IF(status = %(completed)s, 'c', 'o'), DATE_FORMAT(period_start, '%%Y%%m%%d%%H'), MD5(CONCAT(CHAR_LENGTH(organization), ':',"
		" organization, CHAR_LENGTH(job_type), ':', job_type, CHAR_LENGTH(status), ':', status,"
		" DATE_FORMAT(failed_hour, '%%Y%%m%%d%%H'))))"
	)
	buckets = ", ".join(f"SUM(bucket <=> {k}) AS `{c}`" for k, c in enumerate(HISTOGRAM_COLUMNS))
	return f"""INSERT INTO {TABLE} ({", ".join(f"`{c}`" for c in (*_COLUMNS, *HISTOGRAM_COLUMNS))})
		SELECT {key}, %(now)s, %(now)s, 'Administrator', 'Administrator', '{period}', period_start, organization,
			job_type, status, failed_hour, COUNT(*), COUNT(duration), COALESCE(SUM(duration), 0),
			COALESCE(MAX(duration), 0), {buckets}
		FROM (
			SELECT organization, job_type, status, CAST({start} AS DATETIME) AS period_start,
				CAST({failed} AS DATETIME) AS failed_hour, {_DURATION} AS duration,
				IF(status = %(completed)s AND started_at IS NOT NULL AND completed_at IS NOT NULL, {_BUCKET}, NULL) AS bucket
			FROM {JOB_TABLE} WHERE {window}
		) jobs
		GROUP BY period_start, organization, job_type, status, failed_hour"""
