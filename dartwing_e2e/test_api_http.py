"""The whitelisted job API (contracts/api.md) over real HTTP, as every kind of caller.

One web server (``python -m benchless serve``) and two RQ workers run for the module; every caller has
its own token. Data is committed (the server and workers are other processes) under fresh organizations
and users, so other suites' jobs cannot interfere. Each refusal is checked for its exact status and
``exc_type``, and for having written nothing (rows counted before and after).
"""

import json
from collections.abc import Iterator
from types import SimpleNamespace

import frappe
import pytest

from benchless import testing
from dartwing.install import DEMO_PASSWORD, create_demo_job_types, ensure_user
from dartwing.tests.engine_utils import make_job_type, submit_as, unique, wait_for_status
from dartwing.tests.utils import make_member, make_org, make_user
from dartwing_e2e.clients import API_LONG, ApiClient, server_messages, token_for

pytestmark = [pytest.mark.web, pytest.mark.workers]

SITE = "test_site"
JOB = "Background Job"
LOG = "Job Execution Log"
CALLERS = ("owner", "member", "viewer", "outsider", "loner", "inactive", "sysmgr", "guest")
END_TIMEOUT = 60  # s for a job to reach a state on real workers shared with other suites
# our jobs jump the queues other suites may have filled (Critical -> front of `short`)
FAST = {"priority": "Critical"}


@pytest.fixture(scope="module")
def world() -> SimpleNamespace:
	"""Organization A (owner, member, viewer, inactive member), organization B (outsider), a user with no
	membership, a System Manager, and the job types the tests submit."""
	create_demo_job_types()
	org, other_org = make_org(unique("E2E API A")), make_org(unique("E2E API B"))
	users = {name: make_user(f"{unique('e2e-' + name).lower()}@example.test") for name in CALLERS[:-1]}
	make_user(users["sysmgr"], roles=["System Manager"])
	make_member(users["owner"], org, role="Owner")
	make_member(users["member"], org, role="Member")
	make_member(users["viewer"], org, role="Viewer")
	make_member(users["inactive"], org, role="Member", status="Inactive")
	make_member(users["outsider"], other_org, role="Owner")
	w = SimpleNamespace(
		org=org,
		other_org=other_org,
		users=users,
		echo=make_job_type("dartwing.demo.demo_echo"),
		sleep=make_job_type("dartwing.demo.demo_sleep"),
		fail=make_job_type("dartwing.demo.demo_fail", max_retries=0),
	)
	frappe.db.commit()
	w.tokens = {name: token_for(user) for name, user in users.items()}
	return w


@pytest.fixture(scope="module")
def web(world: SimpleNamespace) -> Iterator[str]:
	with testing.start_server(SITE) as url, testing.start_workers(SITE, count=2):
		yield url


@pytest.fixture(scope="module")
def api(world: SimpleNamespace, web: str):
	"""``api("member")`` is that caller's client; ``api("guest")`` sends no credentials."""

	def client(who: str, prefix: str | None = None) -> ApiClient:
		kwargs = {"prefix": prefix} if prefix else {}
		return ApiClient(web, world.tokens.get(who), **kwargs)

	return client


@pytest.fixture(scope="module")
def done_job(world: SimpleNamespace, web: str) -> str:
	"""A Completed job of organization A, submitted by its owner."""
	job = submit_as(world.users["owner"], world.echo, world.org, {"n": unique("done")}, **FAST)
	wait_for_status(job, "Completed", timeout=END_TIMEOUT)
	return job


def dead_letter_job(world: SimpleNamespace, who: str = "owner") -> str:
	job = submit_as(world.users[who], world.fail, world.org, {"n": unique("dl")}, **FAST)
	wait_for_status(job, "Dead Letter", timeout=END_TIMEOUT)
	return job


def long_job(world: SimpleNamespace, who: str = "owner") -> str:
	"""A demo_sleep job that would run 20 s; it checks for cancellation every 0.1 s."""
	return submit_as(
		world.users[who], world.sleep, world.org, {"seconds": 20, "steps": 200, "n": unique("s")}, **FAST
	)


def count(doctype: str, **filters: str) -> int:
	frappe.db.rollback()  # read what the server and workers committed
	return frappe.db.count(doctype, filters)


def submission_logs(organization: str) -> int:
	"""Log rows written by submissions (workers keep logging other transitions meanwhile)."""
	frappe.db.rollback()
	return frappe.db.sql(
		"SELECT COUNT(*) FROM `tabJob Execution Log` WHERE organization = %s AND IFNULL(from_status, '') = ''",
		(organization,),
	)[0][0]


def job_state(job: str) -> tuple:
	frappe.db.rollback()
	row = frappe.db.get_value(JOB, job, ["status", "cancel_requested", "retry_count", "modified"])
	return (tuple(row) if row else None, count(LOG, job=job))


def submit(client: ApiClient, form: bool = False, **kwargs):
	"""POST submit_job as a JSON body (or a form)."""
	return (client.post_form if form else client.post)("submit_job", **kwargs)


def assert_error(response, status: int, exc_type: str, message: str | None = None) -> None:
	assert response.status_code == status, f"{response.status_code}: {response.text[:1000]}"
	body = response.json()
	assert body["exc_type"] == exc_type, body
	assert "exc" not in body and "exception" not in body, "no traceback may reach the client"
	if message is not None:
		assert message in " ".join(server_messages(response)), body


# ------------------------------------------------------------------------------------ 1. submission
def test_member_submits_with_a_json_body_and_gets_id_status_and_deduplicated(world, api):
	before = count(JOB, organization=world.org)
	reply = api("member").post(
		"submit_job", job_type=world.echo, organization=world.org, parameters={"n": unique("json")}
	)
	message = api("member").message(reply)
	assert set(message) == {"job_id", "status", "deduplicated"}
	assert message["status"] in ("Pending", "Queued") and message["deduplicated"] is False
	assert count(JOB, organization=world.org) == before + 1
	row = frappe.db.get_value(JOB, message["job_id"], ["organization", "submitted_by"], as_dict=True)
	assert (row.organization, row.submitted_by) == (world.org, world.users["member"])


def test_member_submits_with_a_form_body(world, api):
	tag = unique("form")
	reply = api("member").post_form(
		"submit_job", job_type=world.echo, organization=world.org, parameters={"n": tag}, priority="High"
	)
	job_id = api("member").message(reply)["job_id"]
	frappe.db.rollback()
	row = frappe.db.get_value(JOB, job_id, ["priority", "parameters"], as_dict=True)
	assert row.priority == "High" and json.loads(row.parameters) == {"n": tag}


def test_identical_resubmission_returns_the_same_job_marked_deduplicated(world, api):
	member = api("member")
	args = {"job_type": "demo_echo", "organization": world.org, "parameters": {"n": unique("dedup")}}
	first = member.message(member.post("submit_job", **args))
	before = count(JOB, organization=world.org)
	second = member.message(member.post("submit_job", **args))
	assert first["deduplicated"] is False and second["deduplicated"] is True
	assert second["job_id"] == first["job_id"]
	assert count(JOB, organization=world.org) == before


def test_the_module_path_serves_the_same_submit_job(world, api):
	client = api("owner", prefix=API_LONG)
	message = client.message(
		client.post("submit_job", job_type=world.echo, organization=world.org, parameters={"n": unique("l")})
	)
	frappe.db.rollback()
	assert frappe.db.get_value(JOB, message["job_id"], "organization") == world.org


def test_the_module_path_answers_reads_like_the_short_path(world, api, done_job):
	short = api("owner").get("get_job_status", job_id=done_job)
	long = api("owner", prefix=API_LONG).get("get_job_status", job_id=done_job)
	assert short.status_code == long.status_code == 200
	assert short.json() == long.json()


# ------------------------------------------------------------------------------------ 3. isolation
SUBMIT_EXPECTED = {
	"owner": 200,
	"member": 200,
	"sysmgr": 200,
	"viewer": (403, "PermissionError"),  # a Viewer reads only
	"outsider": (403, "PermissionError"),
	"loner": (403, "PermissionError"),
	"inactive": (403, "PermissionError"),
	"guest": (403, "PermissionError"),
}


@pytest.mark.parametrize("who", CALLERS)
def test_submit_job_is_allowed_exactly_to_members_with_submit_rights_and_admins(world, api, who):
	before = count(JOB, organization=world.org)
	reply = submit(api(who), job_type=world.echo, organization=world.org, parameters={"n": unique(who)})
	expected = SUBMIT_EXPECTED[who]
	if expected == 200:
		assert api(who).message(reply)["status"] in ("Pending", "Queued", "Running", "Completed")
		assert count(JOB, organization=world.org) == before + 1
	else:
		assert_error(reply, *expected)
		assert count(JOB, organization=world.org) == before


READ_EXPECTED = {
	"owner": 200,
	"member": 200,
	"viewer": 200,
	"sysmgr": 200,
	"outsider": (404, "DoesNotExistError"),
	"loner": (404, "DoesNotExistError"),
	"inactive": (404, "DoesNotExistError"),
	"guest": (403, "PermissionError"),
}


@pytest.mark.parametrize("who", CALLERS)
def test_get_job_status_shows_the_job_only_to_its_organization_and_admins(world, api, done_job, who):
	reply = api(who).get("get_job_status", job_id=done_job)
	if READ_EXPECTED[who] == 200:
		job = api(who).message(reply)
		assert (job["job_id"], job["organization"], job["status"]) == (done_job, world.org, "Completed")
		assert {"result", "parameters", "attempts"} <= set(job)
	else:
		assert_error(reply, *READ_EXPECTED[who])


@pytest.mark.parametrize("who", CALLERS)
def test_get_job_history_shows_the_history_only_to_its_organization_and_admins(world, api, done_job, who):
	reply = api(who).post("get_job_history", job_id=done_job)
	if READ_EXPECTED[who] == 200:
		history = api(who).message(reply)
		assert history["job_id"] == done_job
		assert [h["to_status"] for h in history["history"]][-1] == "Completed"
	else:
		assert_error(reply, *READ_EXPECTED[who])


@pytest.mark.parametrize("who", ["outsider", "loner", "inactive"])
def test_another_organizations_job_is_answered_exactly_like_a_missing_one(world, api, done_job, who):
	missing = frappe.generate_hash(length=10)
	for method in ("get_job_status", "get_job_history"):
		foreign, absent = api(who).get(method, job_id=done_job), api(who).get(method, job_id=missing)
		assert foreign.status_code == absent.status_code == 404
		assert set(foreign.json()) == set(absent.json())
		assert foreign.json()["exc_type"] == absent.json()["exc_type"] == "DoesNotExistError"
		assert server_messages(foreign) == [m.replace(missing, done_job) for m in server_messages(absent)]


def test_a_missing_job_carries_the_documented_not_found_message(world, api):
	missing = frappe.generate_hash(length=10)
	assert_error(
		api("owner").get("get_job_status", job_id=missing),
		404,
		"DoesNotExistError",
		f"Background Job {missing} not found",
	)


@pytest.mark.parametrize("who", CALLERS)
def test_list_jobs_never_shows_another_organizations_jobs(world, api, done_job, who):
	# an admin sees every organization: the unfiltered list holds other suites' jobs, so check the filtered one
	everything = api(who).get("list_jobs", limit=500) if who != "sysmgr" else None
	only_a = api(who).get("list_jobs", organization=world.org, limit=500)
	if who == "guest":
		assert_error(everything, 403, "PermissionError")
		assert_error(only_a, 403, "PermissionError")
		return
	listed = api(who).message(everything) if everything is not None else None
	filtered = api(who).message(only_a)
	if who in ("owner", "member", "viewer", "sysmgr"):
		assert done_job in [job["job_id"] for job in filtered["jobs"]]
		assert {job["organization"] for job in filtered["jobs"]} == {world.org}
		assert filtered["total"] >= len(filtered["jobs"]) >= 1
	else:
		assert filtered == {"jobs": [], "total": 0}
		assert world.org not in {job["organization"] for job in listed["jobs"]}
	if who in ("owner", "member", "viewer"):
		assert {job["organization"] for job in listed["jobs"]} == {world.org}


def test_list_jobs_of_an_outsider_shows_their_own_organization(world, api):
	job = submit_as(world.users["outsider"], world.echo, world.other_org, {"n": unique("b")})
	listed = api("outsider").message(api("outsider").get("list_jobs", limit=500))
	assert job in [j["job_id"] for j in listed["jobs"]]
	assert {j["organization"] for j in listed["jobs"]} == {world.other_org}


MANAGE_DENIED = {
	"member": (403, "PermissionError"),  # a Member manages only their own jobs
	"viewer": (403, "PermissionError"),
	"outsider": (404, "DoesNotExistError"),
	"loner": (404, "DoesNotExistError"),
	"inactive": (404, "DoesNotExistError"),
	"guest": (403, "PermissionError"),
}


@pytest.mark.parametrize("who", sorted(MANAGE_DENIED))
def test_cancel_job_of_the_owner_is_refused_to_callers_without_manage_rights(world, api, done_job, who):
	# done_job is Completed: a refusal must come from the permission check, before any status check
	before = job_state(done_job)
	assert_error(api(who).post("cancel_job", job_id=done_job), *MANAGE_DENIED[who])
	assert job_state(done_job) == before


@pytest.mark.parametrize("who", sorted(MANAGE_DENIED))
def test_retry_job_of_the_owner_is_refused_to_callers_without_manage_rights(world, api, who):
	job = dead_letter_job(world)
	before = job_state(job)
	assert_error(api(who).post("retry_job", job_id=job), *MANAGE_DENIED[who])
	assert job_state(job) == before


@pytest.mark.parametrize(
	("who", "submitter"), [("owner", "owner"), ("member", "member"), ("owner", "member"), ("sysmgr", "owner")]
)
def test_cancel_job_is_allowed_to_the_submitter_org_owners_and_admins(world, api, who, submitter):
	job = long_job(world, submitter)
	reply = api(who).message(api(who).post("cancel_job", job_id=job))
	assert reply["job"] == job
	assert reply["status"] == "Canceled" or (reply["status"] == "Running" and reply["cancel_requested"])
	wait_for_status(job, "Canceled", timeout=END_TIMEOUT)
	frappe.db.rollback()
	assert frappe.db.get_value(JOB, job, "canceled_by") == world.users[who]


@pytest.mark.parametrize(
	("who", "submitter"), [("owner", "owner"), ("member", "member"), ("owner", "member"), ("sysmgr", "owner")]
)
def test_retry_job_is_allowed_to_the_submitter_org_owners_and_admins(world, api, who, submitter):
	job = dead_letter_job(world, submitter)
	before_logs = count(LOG, job=job)
	assert api(who).message(api(who).post("retry_job", job_id=job)) == {"job": job, "status": "Pending"}
	frappe.db.rollback()
	retried = frappe.db.get_value(
		LOG, {"job": job, "from_status": "Dead Letter", "to_status": "Pending"}, ["actor"], as_dict=True
	)
	assert retried and retried.actor == world.users[who]
	assert count(LOG, job=job) > before_logs
	wait_for_status(job, "Dead Letter", timeout=END_TIMEOUT)  # demo_fail fails again


def test_completed_job_cannot_be_canceled_or_retried(world, api, done_job):
	before = job_state(done_job)
	assert_error(api("owner").post("cancel_job", job_id=done_job), 417, "ValidationError", "Completed")
	assert_error(api("owner").post("retry_job", job_id=done_job), 417, "ValidationError", "Completed")
	assert job_state(done_job) == before


@pytest.mark.parametrize("who", CALLERS)
def test_dead_letter_endpoints_are_for_admins_only(world, api, who):
	job = dead_letter_job(world)
	before = job_state(job)
	client = api(who)
	listed = client.get("get_dead_letter_jobs", organization=world.org, limit=500)
	retried = client.post("retry_dead_letter_jobs", job_ids=[job])
	if who == "sysmgr":
		jobs = {j["job_id"]: j for j in client.message(listed)["jobs"]}
		assert jobs[job]["status"] == "Dead Letter" and jobs[job]["error"]["type"] == "PermanentError"
		assert jobs[job]["attempts"] and jobs[job]["error"]["traceback"]
		assert client.message(retried) == {"retried": [job], "failed": {}}
		frappe.db.rollback()
		assert frappe.db.exists(
			LOG, {"job": job, "from_status": "Dead Letter", "to_status": "Pending", "actor": world.users[who]}
		)
		wait_for_status(job, "Dead Letter", timeout=END_TIMEOUT)  # demo_fail fails again
		assert client.message(client.post("delete_dead_letter_jobs", job_ids=[job]))["deleted"] == [job]
		assert count(JOB, name=job) == 0 and count(LOG, job=job) == 0
		return
	deleted = client.post("delete_dead_letter_jobs", job_ids=[job])
	for reply in (listed, retried, deleted):
		assert_error(reply, 403, "PermissionError")
	assert job_state(job) == before


def test_bulk_dead_letter_calls_report_ids_that_are_not_dead_letters(world, api, done_job):
	job = dead_letter_job(world)
	missing = frappe.generate_hash(length=10)
	client = api("sysmgr")
	reply = client.message(client.post("delete_dead_letter_jobs", job_ids=[job, done_job, missing]))
	assert reply["deleted"] == [job] and set(reply["failed"]) == {done_job, missing}
	assert count(JOB, name=done_job) == 1 and count(JOB, name=job) == 0


def test_an_admin_submitting_to_an_unknown_organization_gets_404_and_nothing_is_written(world, api):
	org = unique("No Such Org")
	reply = submit(api("sysmgr"), job_type=world.echo, organization=org)
	assert_error(reply, 404, "DoesNotExistError", org)
	assert count(JOB, organization=org) == 0


def test_the_job_types_rate_limit_is_429_too_many_jobs_and_writes_nothing(world, api):
	limited = make_job_type("dartwing.demo.demo_noop", rate_limit_count=2, rate_limit_window_seconds=3600)
	frappe.db.commit()
	for n in range(2):
		api("member").message(
			submit(api("member"), job_type=limited, organization=world.org, parameters={"n": n})
		)
	before = count(JOB, organization=world.org, job_type=limited)
	reply = submit(api("member"), job_type=limited, organization=world.org, parameters={"n": 3})
	assert_error(reply, 429, "TooManyJobs", "Too many jobs")
	assert count(JOB, organization=world.org, job_type=limited) == before == 2


def test_a_cookie_session_submits_with_its_csrf_token_and_is_refused_without(world, web):
	user = ensure_user(f"{unique('e2e-session').lower()}@example.test", "Session")
	make_member(user, world.org, role="Member")
	frappe.db.commit()
	client = ApiClient(web)
	client.login(user, DEMO_PASSWORD)
	assert client.csrf_token, "a logged-in page carries the session's CSRF token"
	token, client.csrf_token = client.csrf_token, None
	before = count(JOB, organization=world.org)
	refused = submit(client, job_type=world.echo, organization=world.org, parameters={"n": unique("csrf")})
	assert_error(refused, 400, "CSRFTokenError")
	assert count(JOB, organization=world.org) == before
	client.csrf_token = token
	reply = submit(client, job_type=world.echo, organization=world.org, parameters={"n": unique("csrf")})
	job_id = client.message(reply)["job_id"]
	frappe.db.rollback()
	assert frappe.db.get_value(JOB, job_id, "submitted_by") == user


# ------------------------------------------------------------------------------------ 4. malformed
@pytest.mark.parametrize(
	("args", "status", "exc_type", "message"),
	[
		({"parameters": [1, 2]}, 417, "FrappeTypeError", None),
		({"parameters": "not json"}, 417, "ValidationError", "parameters"),
		({"priority": "Urgent"}, 417, "ValidationError", "priority must be one of"),
		({"depends_on": "nope"}, 417, "ValidationError", "depends_on must be a JSON list"),
		({"depends_on": ["nope"]}, 404, "DoesNotExistError", "Dependency job nope not found"),
		({"job_type": "no_such_job_type"}, 404, "DoesNotExistError", "no_such_job_type"),
		({"parameters": {"blob": "x" * (256 * 1024 + 1)}}, 417, "ValidationError", "parameters exceed"),
	],
	ids=[
		"parameters-list",
		"parameters-text",
		"bad-priority",
		"depends-on-text",
		"unknown-dependency",
		"unknown-type",
		"oversize",
	],
)
def test_malformed_submissions_are_refused_and_write_nothing(world, api, args, status, exc_type, message):
	before = (count(JOB, organization=world.org), submission_logs(world.org))
	body = {"job_type": world.echo, "organization": world.org, "parameters": {"n": unique("bad")}, **args}
	reply = submit(api("member"), **body)
	assert_error(reply, status, exc_type, message)
	assert (count(JOB, organization=world.org), submission_logs(world.org)) == before


@pytest.mark.parametrize("missing", ["job_type", "organization"])
def test_submission_without_a_required_argument_is_417_naming_it_and_writes_nothing(world, api, missing):
	before = count(JOB, organization=world.org)
	body = {"job_type": world.echo, "organization": world.org}
	body.pop(missing)
	assert_error(submit(api("member"), **body), 417, "ValidationError", f"{missing} is required")
	assert count(JOB, organization=world.org) == before


@pytest.mark.parametrize("method", ["get_job_status", "get_job_history", "cancel_job", "retry_job"])
def test_a_call_without_job_id_is_417_naming_it(world, api, method):
	assert_error(api("owner").post(method), 417, "ValidationError", "job_id is required")


@pytest.mark.parametrize("method", ["retry_dead_letter_jobs", "delete_dead_letter_jobs"])
def test_a_bulk_call_without_job_ids_is_417_naming_it(world, api, method):
	assert_error(api("sysmgr").post(method), 417, "ValidationError", "job_ids is required")


def test_get_on_a_post_only_method_is_403_not_permitted_and_writes_nothing(world, api, done_job):
	before = count(JOB, organization=world.org)
	reply = api("owner").get("submit_job", job_type=world.echo, organization=world.org)
	assert_error(reply, 403, "PermissionError", "Not permitted")
	assert count(JOB, organization=world.org) == before
	state = job_state(done_job)
	for method in ("cancel_job", "retry_job"):
		assert_error(api("owner").get(method, job_id=done_job), 403, "PermissionError", "Not permitted")
	assert job_state(done_job) == state


def test_a_bad_token_is_401_and_writes_nothing(world, web):
	before = count(JOB, organization=world.org)
	bad = ApiClient(web, "token nope:nope")
	assert_error(bad.get("list_jobs"), 401, "AuthenticationError")
	assert_error(
		bad.post("submit_job", job_type=world.echo, organization=world.org), 401, "AuthenticationError"
	)
	assert count(JOB, organization=world.org) == before


@pytest.mark.parametrize(
	("params", "exc_type", "message"),
	[
		({"limit": "abc"}, "FrappeTypeError", None),
		({"limit": 501}, "ValidationError", "limit must be between 1 and 500"),
		({"limit": -1}, "ValidationError", "limit must be between 1 and 500"),
		({"start": "x"}, "FrappeTypeError", None),
		({"from_date": "not a date"}, "ValidationError", "from_date"),
	],
	ids=["limit-text", "limit-501", "limit-negative", "start-text", "bad-from-date"],
)
def test_list_jobs_refuses_bad_arguments_with_417(world, api, params, exc_type, message):
	assert_error(api("member").get("list_jobs", **params), 417, exc_type, message)


def test_list_jobs_limit_zero_is_417(world, api):
	assert_error(
		api("member").get("list_jobs", limit=0), 417, "ValidationError", "limit must be between 1 and 500"
	)


# ------------------------------------------------------------------------------------ 5. cancel
def test_cancel_of_a_running_job_is_acknowledged_at_once_and_the_job_ends_canceled(world, api):
	job = long_job(world, "member")
	wait_for_status(job, "Running", timeout=END_TIMEOUT)
	reply = api("member").message(api("member").post("cancel_job", job_id=job))
	assert reply == {"job": job, "status": "Running", "cancel_requested": True}
	wait_for_status(job, "Canceled", timeout=END_TIMEOUT)
	status = api("member").message(api("member").get("get_job_status", job_id=job))
	assert status["status"] == "Canceled" and status["canceled_by"] == world.users["member"]
	assert status["progress"] < 100
	history = api("member").message(api("member").get("get_job_history", job_id=job))["history"]
	assert (history[-1]["from_status"], history[-1]["to_status"]) == ("Running", "Canceled")


# ------------------------------------------------------------------------ tracebacks, per configuration
def test_error_bodies_carry_a_traceback_only_when_the_site_allows_error_tracebacks(world, api):
	"""contracts/api.md: off (a new site's default) no traceback; on, Frappe adds ``exception`` and ``exc``
	to every error but a 404."""
	refused = {"limit": 0}
	off = api("member").get("list_jobs", **refused)
	assert_error(off, 417, "ValidationError", "limit must be between 1 and 500")
	assert "Traceback" not in off.text
	with testing.site_config(SITE, system_settings={"allow_error_traceback": 1}):
		on = api("member").get("list_jobs", **refused)
		missing = api("member").get("get_job_status", job_id="no-such-job")
	assert on.status_code == 417
	body = on.json()
	assert body["exception"] == "frappe.exceptions.ValidationError: limit must be between 1 and 500"
	assert "Traceback" in json.loads(body["exc"])[0] and "list_jobs" in body["exc"]
	assert missing.status_code == 404 and not {"exc", "exception"} & set(missing.json())


def parameters_of(job: str) -> dict:
	frappe.db.rollback()
	return frappe.parse_json(frappe.db.get_value(JOB, job, "parameters"))


@pytest.mark.parametrize("who", CALLERS)
def test_edit_and_retry_of_a_dead_letter_is_for_admins_only_and_audited(world, api, who):
	job = dead_letter_job(world)
	before, params = job_state(job), parameters_of(job)
	edited = {"n": unique("edited"), "note": "fixed by ops"}
	reply = api(who).post("retry_dead_letter_jobs", job_ids=[job], parameters=edited)
	if who != "sysmgr":
		assert_error(reply, 403, "PermissionError")
		assert job_state(job) == before and parameters_of(job) == params
		return
	assert api(who).message(reply) == {"retried": [job], "failed": {}}
	assert parameters_of(job) == edited
	frappe.db.rollback()
	[row] = frappe.get_all(
		LOG, filters={"job": job, "from_status": "Dead Letter"}, fields=["actor", "message", "to_status"]
	)
	assert (row.actor, row.to_status) == (world.users[who], "Pending")
	assert f'"n":"{params["n"]}"' in row.message and f'"n":"{edited["n"]}"' in row.message
	wait_for_status(job, "Dead Letter", timeout=END_TIMEOUT)  # demo_fail fails again, with the new parameters


@pytest.mark.parametrize(
	"args, status, exc_type, message",
	[
		({"parameters": "not json"}, 417, "ValidationError", "parameters must be a JSON object"),
		({"parameters": [1, 2]}, 417, "FrappeTypeError", None),
		({"parameters": {"x": 2**64}}, 417, "ValidationError", "parameters"),
		({"parameters": {"blob": "z" * (300 * 1024)}}, 417, "ValidationError", "256 KB"),
		({"extra_id": "missing"}, 404, "DoesNotExistError", "not found"),
		({"extra_id": "done"}, 417, "ValidationError", "Not in the dead letter queue"),
	],
)
def test_edit_and_retry_with_bad_input_is_refused_whole_and_changes_nothing(
	world, api, done_job, args, status, exc_type, message
):
	jobs = [dead_letter_job(world), dead_letter_job(world)]
	extra = {"missing": frappe.generate_hash(length=10), "done": done_job}.get(args.get("extra_id"))
	before = [(job_state(job), parameters_of(job)) for job in jobs]
	reply = api("sysmgr").post(
		"retry_dead_letter_jobs",
		job_ids=[*jobs, *([extra] if extra else [])],
		parameters=args.get("parameters", {"n": "ok"}),
	)
	assert_error(reply, status, exc_type, message)
	assert [(job_state(job), parameters_of(job)) for job in jobs] == before
