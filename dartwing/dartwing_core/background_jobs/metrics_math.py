"""Pure arithmetic behind the job metrics: windows, rates, hour buckets and failure clusters.

Contract: imports no frappe and touches no database; every function is deterministic in its arguments.
Invalid input raises ValueError (the caller turns it into frappe.ValidationError, HTTP 417).
"""

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dartwing.dartwing_core.background_jobs import validation

DEFAULT_WINDOW_HOURS = 24  # h, the window when the caller gives no dates
MAX_WINDOW_HOURS = 90 * 24  # h, longest window a caller may ask for (90 days)
CLUSTER_FACTOR = 2.0  # a cell is a cluster when it holds this many times its even share of failures
CLUSTER_MIN_FAILURES = 3  # ...and at least this many failures (a single failure is never a cluster)
CLUSTER_LIMIT = 10  # cells reported, worst first


@dataclass(frozen=True)
class FailureCell:
	"""Failures of one job type in one hour (hour = the start of the hour)."""

	job_type: str
	hour: datetime
	failures: int


def window_bounds(
	now: datetime,
	*,
	hours: int | None = DEFAULT_WINDOW_HOURS,
	start: datetime | None = None,
	end: datetime | None = None,
	max_hours: int = MAX_WINDOW_HOURS,
) -> tuple[datetime, datetime]:
	"""The half-open window [start, end): explicit dates win; a missing start is `end - hours`."""
	end = end or now
	if start is None:
		hours = validation.bounded_int("hours", hours, lo=1, hi=max_hours, default=DEFAULT_WINDOW_HOURS)
		if end - datetime.min < timedelta(hours=hours):
			raise ValueError("to_date is too early for that many hours")
		start = end - timedelta(hours=hours)
	if start >= end:
		raise ValueError("from_date must be before to_date")
	if end - start > timedelta(hours=max_hours):
		raise ValueError(f"the window may span at most {max_hours} hours")
	return start, end


def failure_rate(failed: int, succeeded: int) -> float | None:
	"""Share of jobs with an outcome that failed; None when no job had an outcome yet."""
	if failed < 0 or succeeded < 0:
		raise ValueError("counts cannot be negative")
	outcomes = failed + succeeded
	return round(failed / outcomes, 4) if outcomes else None


def hour_bucket(moment: datetime) -> datetime:
	"""The start of the hour `moment` falls in (the SQL buckets with the same rule)."""
	return moment.replace(minute=0, second=0, microsecond=0)


def hours_in_window(start: datetime, end: datetime) -> int:
	"""Number of hour buckets the window touches (a partial hour counts)."""
	first, last = hour_bucket(start), hour_bucket(end - timedelta(microseconds=1))
	return int((last - first).total_seconds() // 3600) + 1


def failure_clusters(
	cells: Iterable[FailureCell],
	*,
	hours: int,
	factor: float = CLUSTER_FACTOR,
	min_failures: int = CLUSTER_MIN_FAILURES,
	limit: int = CLUSTER_LIMIT,
) -> list[dict]:
	"""(job type, hour) cells where failures pile up, worst first.

	A cell's even share is total failures / (hours * failing job types): what each cell would hold if
	failures were spread evenly. A cell is a cluster when it holds at least `factor` times that share
	and at least `min_failures`.
	"""
	cells = [cell for cell in cells if cell.failures > 0]
	if hours < 1 or not cells:
		return []
	total = sum(cell.failures for cell in cells)
	job_types = {cell.job_type for cell in cells}
	even_share = total / (hours * len(job_types))
	threshold = max(min_failures, factor * even_share)
	clusters = [cell for cell in cells if cell.failures >= threshold]
	clusters.sort(key=lambda cell: (-cell.failures, cell.hour, cell.job_type))
	return [
		{
			"job_type": cell.job_type,
			"hour": cell.hour.isoformat(),
			"failures": cell.failures,
			"share": round(cell.failures / total, 4),
			"times_even_share": round(cell.failures / even_share, 2),
		}
		for cell in clusters[:limit]
	]


def job_type_rows(
	counts: Mapping[tuple[str, str], int],
	*,
	success_status: str,
	failure_statuses: Iterable[str],
	dead_letter_status: str,
) -> list[dict]:
	"""Per job type: total, completed, failed, dead-lettered and failure rate, from (job type, status) counts."""
	failure_statuses = frozenset(failure_statuses)
	by_type: dict[str, dict] = {}
	for (job_type, status), jobs in counts.items():
		row = by_type.setdefault(
			job_type, {"job_type": job_type, "total": 0, "completed": 0, "failed": 0, "dead_letter": 0}
		)
		row["total"] += jobs
		row["completed"] += jobs if status == success_status else 0
		row["failed"] += jobs if status in failure_statuses else 0
		row["dead_letter"] += jobs if status == dead_letter_status else 0
	for row in by_type.values():
		row["failure_rate"] = failure_rate(row["failed"], row["completed"])
	return sorted(by_type.values(), key=lambda row: row["job_type"])


# The duration histogram of the hourly rollup (data-model.md "Job Metrics Rollup"). Fixed bucket boundaries,
# so histograms of any hours, organizations and job types merge by adding their buckets. Boundary k is
# 10 ms * 2^(k/3) in microseconds: each bucket is 26 % wider than the one before, and the last boundary
# (~29 h) lies beyond the longest timeout a Job Type accepts (24 h). Bucket 0 holds [0, 10 ms), bucket k
# holds [boundary k-1, boundary k), the last bucket everything from the last boundary on.
HISTOGRAM_BOUNDARIES_US = tuple(round(10_000 * 2 ** (k / 3)) for k in range(71))
HISTOGRAM_BUCKETS = len(HISTOGRAM_BOUNDARIES_US) + 1
P95_PERMILLE = 950  # nearest rank: the value at position ceil(0.95 n) of the sorted durations


def duration_bucket(duration_us: int) -> int:
	"""The histogram bucket of a duration in microseconds (SQL computes the same with INTERVAL(); a
	negative duration, which only a clock step gives, falls in bucket 0 there and here)."""
	return bisect_right(HISTOGRAM_BOUNDARIES_US, duration_us)


def nearest_rank(count: int, permille: int = P95_PERMILLE) -> int:
	"""Position (1-based) of the nearest-rank percentile among `count` sorted values, in integers."""
	return -(-count * permille // 1000)


def histogram_percentile(buckets: Sequence[int], max_us: int, permille: int = P95_PERMILLE) -> int | None:
	"""The nearest-rank percentile of the durations a histogram counts, in microseconds; None if empty.

	Answers the upper boundary of the bucket holding the rank, or the largest duration when that is
	smaller: never below the exact value and less than one bucket above it (the exact value lies in the
	same bucket). Exact when the rank falls in the bucket of the largest duration, for example with
	fewer than 20 durations.
	"""
	if any(n < 0 for n in buckets):
		raise ValueError("bucket counts cannot be negative")
	rank = nearest_rank(sum(buckets), permille)
	if rank == 0:
		return None
	seen = 0
	for bucket, n in enumerate(buckets):
		seen += n
		if seen >= rank:
			upper = HISTOGRAM_BOUNDARIES_US[bucket] if bucket < len(HISTOGRAM_BOUNDARIES_US) else max_us
			return min(upper, max_us)
	raise AssertionError("unreachable: the rank is at most the count")


_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class WindowParts:
	"""A window cut for the rollup: whole days and whole hours read from it, the partial hours at its
	edges read live from the job table. Each is a tuple of half-open [start, end) ranges."""

	live: tuple[tuple[datetime, datetime], ...]
	hours: tuple[tuple[datetime, datetime], ...]
	days: tuple[tuple[datetime, datetime], ...]


def split_window(start: datetime, end: datetime) -> WindowParts:
	"""[start, end) as whole days, whole hours and the partial hours at both edges (see WindowParts)."""
	first_hour, last_hour = _ceil(start, hour_bucket, _HOUR), hour_bucket(end)
	if first_hour >= last_hour:
		return WindowParts(live=((start, end),), hours=(), days=())
	live = tuple(part for part in ((start, first_hour), (last_hour, end)) if part[0] < part[1])
	first_day, last_day = _ceil(first_hour, day_bucket, _DAY), day_bucket(last_hour)
	if first_day >= last_day:
		return WindowParts(live=live, hours=((first_hour, last_hour),), days=())
	hours = tuple(part for part in ((first_hour, first_day), (last_day, last_hour)) if part[0] < part[1])
	return WindowParts(live=live, hours=hours, days=((first_day, last_day),))


def day_bucket(moment: datetime) -> datetime:
	"""The start of the day `moment` falls in."""
	return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(moment: datetime, floor: Callable[[datetime], datetime], step: timedelta) -> datetime:
	start = floor(moment)
	return moment if start == moment else start + step
