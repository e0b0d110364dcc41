"""Benchmarks of the job engine (`make bench`); shared helpers for the `*_bench.py` modules.

Contract:
- Every benchmark is a module ``benchmarks/<name>_bench.py`` with ``main() -> dict``; ``benchmarks.run_all`` runs
  them all (or those named on its command line) against ``test_site``.
- A benchmark measures its own baseline in the same run and reports ratios beside the raw numbers,
  because the machine is shared and noisy. ``write_result`` stores the figures in
  ``benchmarks/results/<name>.json``.
- ``BENCH_QUICK=1`` shrinks every size (a smoke run, not a measurement).
- Speed is only measured here, never asserted in tests.
"""

import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
SITE = os.environ.get("BENCH_SITE", "test_site")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

try:  # on benchless, `import frappe` must resolve to the stand-in (a real bench needs nothing)
	import benchless

	benchless.activate()
except ImportError:
	pass


def size(full: int, quick: int) -> int:
	"""``full`` normally, ``quick`` under BENCH_QUICK=1."""
	return quick if QUICK else full


def connect(site: str = SITE) -> None:
	"""Give the calling thread its own site context and database connection, as a bench process has."""
	import benchless

	benchless.activate()
	os.makedirs(benchless.SITES_PATH, exist_ok=True)
	os.chdir(benchless.SITES_PATH)
	import frappe

	frappe.init(site, sites_path=".", force=True)
	frappe.connect()
	frappe.set_user("Administrator")


def disconnect() -> None:
	import frappe

	frappe.destroy()


def percentile(values: Sequence[float], pct: float) -> float:
	"""Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
	ordered = sorted(values)
	rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
	return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
	"""p50 / p90 / p99 / mean / max in milliseconds, and the sample count."""
	if not seconds:
		return {"n": 0}
	ms = [s * 1000 for s in seconds]
	return {
		"n": len(ms),
		"p50_ms": round(percentile(ms, 50), 2),
		"p90_ms": round(percentile(ms, 90), 2),
		"p99_ms": round(percentile(ms, 99), 2),
		"mean_ms": round(statistics.fmean(ms), 2),
		"max_ms": round(max(ms), 2),
	}


def write_result(name: str, data: dict[str, Any]) -> str:
	"""Store one benchmark's figures as benchmarks/results/<name>.json (with when and where); returns the path."""
	os.makedirs(RESULTS_DIR, exist_ok=True)
	path = os.path.join(RESULTS_DIR, f"{name}.json")
	payload = {
		"benchmark": name,
		"quick": QUICK,
		"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
		"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
		**data,
	}
	tmp = path + ".tmp"
	with open(tmp, "w") as f:
		json.dump(payload, f, indent=2, sort_keys=False, default=str)
		f.write("\n")
	os.replace(tmp, path)
	return path


def report(title: str, rows: Sequence[tuple[str, Any]]) -> None:
	"""Print a small aligned table of figures (benchmarks talk to a person, so print is right here)."""
	print(f"\n== {title}")
	width = max((len(label) for label, _ in rows), default=0)
	for label, value in rows:
		print(f"  {label.ljust(width)}  {value}")


# ---------------------------------------------------------------- engine fixtures (need connect() first)
def make_tenants(count: int, role: str = "Owner") -> list[tuple[str, str]]:
	"""``count`` fresh (user, organization) pairs, committed (workers are other processes)."""
	import frappe

	from dartwing.tests.engine_utils import make_tenant

	tenants = [make_tenant(role) for _ in range(count)]
	frappe.db.commit()
	return tenants


def make_job_type(handler: str, **fields: Any) -> str:
	"""A fresh Job Type for one benchmark run, committed."""
	import frappe

	from dartwing.tests.engine_utils import make_job_type as make

	name = make(handler, **fields)
	frappe.db.commit()
	return name


def job_names(job_type: str) -> list[str]:
	import frappe

	frappe.db.rollback()
	return frappe.db.sql("SELECT name FROM `tabBackground Job` WHERE job_type = %s", (job_type,), pluck=True)


def delete_job_type(job_type: str, batch: int = 500, *, keep_type: bool = False) -> int:
	"""Remove a run's jobs (their RQ jobs, logs and rows) and its Job Type; returns the jobs deleted."""
	import frappe

	from dartwing.dartwing_core.background_jobs import state

	names = job_names(job_type)
	_delete_rq_jobs(job_type)
	for start in range(0, len(names), batch):
		state.delete_jobs(names[start : start + batch])
		frappe.db.commit()
	if not keep_type:
		frappe.db.delete("Job Type", {"name": job_type})
	frappe.db.commit()
	return len(names)


def _delete_rq_jobs(job_type: str) -> None:
	"""Jobs still waiting in RQ would otherwise run (and find no row) in whoever's workers come next."""
	import frappe
	from frappe.utils.background_jobs import get_redis_conn
	from rq.job import Job

	ids = frappe.db.sql(
		"""SELECT rq_job_id FROM `tabBackground Job`
		WHERE job_type = %s AND status = 'Queued' AND rq_job_id IS NOT NULL""",
		(job_type,),
		pluck=True,
	)
	conn = get_redis_conn()
	for rq_job_id in ids:
		try:
			Job.fetch(rq_job_id, connection=conn).delete()
		except Exception:  # already run or expired: nothing left to remove
			continue


def status_counts(job_type: str) -> dict[str, int]:
	import frappe

	frappe.db.rollback()
	rows = frappe.db.sql(
		"SELECT status, COUNT(*) FROM `tabBackground Job` WHERE job_type = %s GROUP BY status", (job_type,)
	)
	return {status: int(count) for status, count in rows}
