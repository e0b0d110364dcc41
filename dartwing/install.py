"""Install-time setup: the demo Job Types (after_install / after_migrate) and the demo tenants.

Contract: everything here is idempotent. Demo Job Types are inserted when missing and left alone when
present (an operator may have tuned them in desk). `create_demo_data` is what
`python -m benchless setup --demo` runs on the run site; it commits.
"""

import frappe

DEMO_PASSWORD = "demo-password"

DEMO_JOB_TYPES = (
	{"job_type_name": "demo_noop", "description": "Does nothing; engine overhead"},
	{"job_type_name": "demo_echo", "description": "Returns its parameters"},
	{"job_type_name": "demo_sleep", "description": "Sleeps with progress; parameters: seconds, steps"},
	{
		"job_type_name": "demo_sleep_uncooperative",
		"description": "Sleeps without checkpoints; for force-stop and timeout",
		"timeout_seconds": 60,
	},
	{
		"job_type_name": "demo_flaky",
		"description": "Fails transiently fail_times times, then succeeds",
		"backoff_base_seconds": 1,
		"backoff_max_seconds": 10,
	},
	{"job_type_name": "demo_fail", "description": "Always fails permanently", "max_retries": 0},
	{
		"job_type_name": "demo_snooze",
		"description": "Snoozes `times` times for `seconds` (no retry spent), then completes",
		"max_snoozes": 5,
	},
	{
		"job_type_name": "demo_retry_after",
		"description": "Fails fail_times times asking to retry after retry_after seconds (a vendor's Retry-After)",
		"backoff_base_seconds": 600,  # so the history shows the retry came at retry_after, not the backoff
		"backoff_max_seconds": 3600,
	},
	{
		"job_type_name": "demo_batch_item",
		"description": "One item of the demo batch: sleeps with progress, fails permanently when fail is set",
		"max_retries": 0,
	},
)

DEMO_ORGANIZATIONS = (("Acme Corp", "Active"), ("Globex", "Active"), ("Initech", "Suspended"))

# (email, first name, organization, org role, site roles)
DEMO_USERS = (
	("alice@acme.test", "Alice", "Acme Corp", "Owner", ()),
	("bob@acme.test", "Bob", "Acme Corp", "Member", ()),
	("carol@globex.test", "Carol", "Globex", "Admin", ()),
	("ops@dartwing.test", "Ops", None, None, ("System Manager",)),
)


def after_install() -> None:
	create_demo_job_types()


def after_migrate() -> None:
	create_demo_job_types()


def create_demo_job_types() -> None:
	for spec in DEMO_JOB_TYPES:
		name = spec["job_type_name"]
		if frappe.db.exists("Job Type", name):
			continue
		doc = frappe.get_doc(
			{"doctype": "Job Type", "handler": f"dartwing.demo.{name}", "enabled": 1, **spec}
		)
		doc.insert(ignore_permissions=True)


def create_demo_data() -> None:
	"""Demo organizations, users (password "demo-password"), their Persons and memberships; commits."""
	create_demo_job_types()
	for org_name, status in DEMO_ORGANIZATIONS:
		ensure_organization(org_name, status)
	for email, first_name, organization, org_role, roles in DEMO_USERS:
		ensure_user(email, first_name, roles)
		person = ensure_person(email, first_name)
		if organization:
			ensure_membership(person, organization, org_role)
	ensure_demo_schedule()
	frappe.db.commit()


# A recurring job a newcomer sees in the monitor: Acme's echo every minute, owned (and so submitted) by Alice.
DEMO_SCHEDULE = {
	"organization": "Acme Corp",
	"job_type": "demo_echo",
	"cron_expression": "* * * * *",
	"description": "Demo: echo every minute",
	"parameters": {"report": "heartbeat"},
}
DEMO_SCHEDULE_OWNER = "alice@acme.test"


def ensure_demo_schedule() -> str:
	existing = frappe.db.get_value("Job Schedule", {"description": DEMO_SCHEDULE["description"]}, "name")
	if existing:
		return existing
	previous = frappe.session.user
	frappe.set_user(DEMO_SCHEDULE_OWNER)  # the owner is whom its jobs are submitted as
	try:
		return frappe.get_doc({"doctype": "Job Schedule", **DEMO_SCHEDULE}).insert().name
	finally:
		frappe.set_user(previous)


def ensure_organization(org_name: str, status: str = "Active") -> str:
	if not frappe.db.exists("Organization", org_name):
		frappe.get_doc({"doctype": "Organization", "org_name": org_name, "status": status}).insert(
			ignore_permissions=True
		)
	return org_name


def ensure_user(email: str, first_name: str, roles: tuple[str, ...] = ()) -> str:
	if frappe.db.exists("User", email):
		return email
	user = frappe.get_doc(
		{
			"doctype": "User",
			"email": email,
			"first_name": first_name,
			"enabled": 1,
			"send_welcome_email": 0,
			"new_password": DEMO_PASSWORD,
			"roles": [{"role": role} for role in roles],
		}
	)
	user.insert(ignore_permissions=True)
	return user.name


def ensure_person(user: str, full_name: str | None = None) -> str:
	existing = frappe.db.get_value("Person", {"user": user}, "name")
	if existing:
		return existing
	person = frappe.get_doc({"doctype": "Person", "user": user, "full_name": full_name})
	return person.insert(ignore_permissions=True).name


def ensure_membership(person: str, organization: str, role: str = "Member", status: str = "Active") -> str:
	existing = frappe.db.get_value("Org Member", {"person": person, "organization": organization}, "name")
	if existing:
		return existing
	member = frappe.get_doc(
		{
			"doctype": "Org Member",
			"person": person,
			"organization": organization,
			"role": role,
			"status": status,
		}
	)
	return member.insert(ignore_permissions=True).name


def submit_demo_jobs() -> list[str]:
	"""A few demo jobs as the demo users, so a newcomer sees the engine work (`make run`); commits.

	Shows a job with progress, a result, a retried transient failure, a dead-lettered one, a job that
	snoozes twice (no retry spent), one retried when its vendor's Retry-After said, and a batch
	of twelve jobs (one dead-lettered, so it ends "Completed with failures") whose on_complete job echoes
	the batch's summary.
	"""
	from dartwing.dartwing_core.background_jobs.engine import submit_job, submit_jobs

	demo = (
		("alice@acme.test", "demo_sleep", "Acme Corp", {"seconds": 8, "steps": 16}),
		("alice@acme.test", "demo_echo", "Acme Corp", {"hello": "world"}),
		("bob@acme.test", "demo_flaky", "Acme Corp", {"fail_times": 1}),
		("carol@globex.test", "demo_sleep", "Globex", {"seconds": 5, "steps": 5}),
		("carol@globex.test", "demo_fail", "Globex", {}),
		("alice@acme.test", "demo_snooze", "Acme Corp", {"times": 2, "seconds": 5}),
		("carol@globex.test", "demo_retry_after", "Globex", {"fail_times": 1, "retry_after": 20}),
	)
	submitted = []
	for user, job_type, organization, parameters in demo:
		frappe.set_user(user)
		submitted.append(submit_job(job_type, organization, {**parameters, "demo": frappe.utils.now()}).name)
	frappe.set_user("bob@acme.test")
	stamp = frappe.utils.now()
	items = [{"seconds": 2 + n % 4, "fail": n == 7, "n": n, "demo": stamp} for n in range(12)]
	submitted.extend(submit_jobs("demo_batch_item", "Acme Corp", items, on_complete="demo_echo").job_ids)
	frappe.set_user("Administrator")
	frappe.db.commit()
	return submitted
