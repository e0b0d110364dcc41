app_name = "dartwing"
app_title = "Dartwing"
app_publisher = "Dartwing"
app_description = "Dartwing: guaranteed background job engine for Frappe sites"
app_email = "dev@dartwing.example"
app_license = "mit"
required_apps = []

# Whitelisted methods must declare argument types (validated by Frappe on every call).
require_type_annotated_api_methods = True

# Installation
# ------------

after_install = "dartwing.install.after_install"
after_migrate = "dartwing.install.after_migrate"

# Desk
# ----
# The engine's status sets reach the desk scripts as frappe.boot.dartwing (one source: transitions.py).

extend_bootinfo = "dartwing.dartwing_core.boot.extend_bootinfo"

# Desk code the Background Job form and list share (the Edit and Retry dialog), on every desk page;
# `bench build` bundles it (public/js/dartwing_desk.bundle.js).
app_include_js = ["dartwing_desk.bundle.js"]

# Permissions
# -----------
# One resolver (background_jobs/permissions.py) answers "where may this user act" for every tenant doctype.

_PERMISSIONS = "dartwing.dartwing_core.background_jobs.permissions"

permission_query_conditions = {
	"Organization": f"{_PERMISSIONS}.organization_query",
	"Person": f"{_PERMISSIONS}.person_query",
	"Org Member": f"{_PERMISSIONS}.org_member_query",
	"Background Job": f"{_PERMISSIONS}.background_job_query",
	"Background Job Batch": f"{_PERMISSIONS}.background_job_batch_query",
	"Job Execution Log": f"{_PERMISSIONS}.job_execution_log_query",
	"Job Schedule": f"{_PERMISSIONS}.job_schedule_query",
	"Job Metrics Rollup": f"{_PERMISSIONS}.job_metrics_rollup_query",
}

has_permission = {
	"Organization": f"{_PERMISSIONS}.has_organization_permission",
	"Person": f"{_PERMISSIONS}.has_person_permission",
	"Org Member": f"{_PERMISSIONS}.has_org_member_permission",
	"Background Job": f"{_PERMISSIONS}.has_background_job_permission",
	"Background Job Batch": f"{_PERMISSIONS}.has_background_job_batch_permission",
	"Job Execution Log": f"{_PERMISSIONS}.has_job_execution_log_permission",
	"Job Schedule": f"{_PERMISSIONS}.has_job_schedule_permission",
	"Job Metrics Rollup": f"{_PERMISSIONS}.has_job_metrics_rollup_permission",
}

# Document Events
# ---------------

doc_events = {
	"Organization": {
		"on_update": "dartwing.dartwing_core.background_jobs.dispatcher.on_organization_update",
	},
}

# Scheduled Tasks
# ---------------

scheduler_events = {
	"cron": {
		"* * * * *": [
			"dartwing.dartwing_core.background_jobs.scheduler.run_sweeps",
			"dartwing.dartwing_core.background_jobs.batches.sweep_running",
		],
		# Seconds field (croniter's sixth): due on every scheduler tick, so jobs for later and recurring
		# schedules start within one `scheduler_tick_interval` (spec.md, "Jobs for later"), and due
		# retries, stale heartbeats and lost dispatches are recovered as fast (a job of its own, D30).
		"* * * * * *": [
			"dartwing.dartwing_core.background_jobs.scheduler.run_due_work",
			"dartwing.dartwing_core.background_jobs.scheduler.run_recovery",
		],
	},
	"daily": ["dartwing.dartwing_core.background_jobs.scheduler.purge_old_jobs"],
}
