"""Checks that span the whole pytest session (benchless; Frappe's own runner never loads this file)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def metrics_rollup_never_goes_negative():
	"""No rollup row written during the session counts fewer than zero jobs.

	A negative row means a transition took a job's count from a status the rollup never counted: a test
	that wrote job rows past the engine without `engine_utils.update_jobs_directly`, or an engine path
	that changes a status without a transition. Metrics windows holding that hour would then report
	negative counts, but only once the hour is whole (the current hour is read from the jobs), so without
	this check the defect shows only in a session that crosses an hour boundary."""
	import frappe
	from frappe.utils import now_datetime

	connected = getattr(frappe.local, "db", None) is not None
	started = now_datetime() if connected else None
	yield
	if not connected:
		return
	frappe.db.rollback()
	rows = frappe.db.sql(
		"""SELECT period, period_start, organization, job_type, status, jobs FROM `tabJob Metrics Rollup`
		WHERE jobs < 0 AND modified >= %(started)s ORDER BY period_start LIMIT 20""",
		{"started": started},
		as_dict=True,
	)
	if rows:
		listed = "\n".join(
			f"  {r.period} {r.period_start} {r.organization} {r.job_type} {r.status}: {r.jobs}" for r in rows
		)
		pytest.fail(f"metrics rollup rows with negative counts:\n{listed}", pytrace=False)
