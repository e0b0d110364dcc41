"""Batches over real HTTP and a real Socket.IO client: submit_jobs, get_batch, cancel_batch, list_batches as
every kind of caller, bad input refused with nothing written, and batch events only in the batch's
organization's rooms.

The module runs ``python -m benchless serve``, ``python -m benchless realtime`` and two RQ workers. Data is
committed (the servers and workers are other processes) under fresh organizations and users.
"""

from collections.abc import Iterator
from types import SimpleNamespace

import frappe
import pytest
from frappe.realtime import publish_realtime

from benchless import testing
from dartwing.install import create_demo_job_types
from dartwing.tests.engine_utils import make_job_type, unique
from dartwing.tests.utils import make_member, make_org, make_user
from dartwing_e2e.clients import ApiClient, RealtimeClient, server_messages, token_for

pytestmark = [pytest.mark.web, pytest.mark.workers]

SITE = "test_site"
BATCH = "Background Job Batch"
END_TIMEOUT = 60  # s for a small batch on real workers shared with other suites
CALLERS = ("owner", "member", "viewer", "outsider", "sysmgr")


@pytest.fixture(scope="module")
def world() -> SimpleNamespace:
	create_demo_job_types()
	org, other_org = make_org(unique("E2E Batch A")), make_org(unique("E2E Batch B"))
	users = {name: make_user(f"{unique('e2e-b-' + name).lower()}@example.test") for name in CALLERS}
	make_user(users["sysmgr"], roles=["System Manager"])
	make_member(users["owner"], org, role="Owner")
	make_member(users["member"], org, role="Member")
	make_member(users["viewer"], org, role="Viewer")
	make_member(users["outsider"], other_org, role="Owner")
	w = SimpleNamespace(
		org=org,
		other_org=other_org,
		users=users,
		echo=make_job_type("dartwing.demo.demo_echo", max_running_per_org=8),
		sleep=make_job_type("dartwing.demo.demo_sleep", max_running_per_org=1),
		capped=make_job_type("dartwing.demo.demo_echo", rate_limit_count=5, rate_limit_window_seconds=60),
	)
	frappe.db.commit()
	w.tokens = {name: token_for(user) for name, user in users.items()}
	return w


@pytest.fixture(scope="module")
def stack(world: SimpleNamespace) -> Iterator[SimpleNamespace]:
	with (
		testing.start_server(SITE) as web_url,
		testing.start_realtime(SITE, webserver_url=web_url) as rt_url,
		testing.start_workers(SITE, count=2),
	):
		yield SimpleNamespace(web=web_url, rt=rt_url)


@pytest.fixture
def api(world, stack):
	return lambda who: ApiClient(stack.web, world.tokens[who])


@pytest.fixture
def connect(world, stack) -> Iterator:
	opened: list[RealtimeClient] = []

	def open_client(who: str) -> RealtimeClient:
		client = RealtimeClient(stack.rt, SITE, origin=stack.web, authorization=world.tokens[who])
		opened.append(client)
		return client

	yield open_client
	for client in opened:
		client.close()


def written(org: str) -> tuple[int, int, int]:
	"""Jobs, submission log rows (workers keep logging other transitions meanwhile) and batches."""
	frappe.db.rollback()
	return (
		frappe.db.count("Background Job", {"organization": org}),
		frappe.db.sql(
			"""SELECT COUNT(*) FROM `tabJob Execution Log`
			WHERE organization = %s AND IFNULL(from_status, '') = ''""",
			(org,),
		)[0][0],
		frappe.db.count(BATCH, {"organization": org}),
	)


def assert_error(response, status: int, exc_type: str, message: str | None = None) -> None:
	assert response.status_code == status, f"{response.status_code}: {response.text[:1000]}"
	body = response.json()
	assert body["exc_type"] == exc_type, body
	assert "exc" not in body, "no traceback may reach the client"
	if message is not None:
		assert message in " ".join(server_messages(response)), body


def test_a_member_submits_a_batch_over_http_and_it_ends_with_its_on_complete_job(world, api):
	client = api("member")
	reply = client.message(
		client.post(
			"submit_jobs",
			job_type=world.echo,
			organization=world.org,
			items=[{"n": i, "run": unique("b")} for i in range(6)],
			on_complete=world.echo,
		)
	)
	assert set(reply) == {"batch", "job_ids", "deduplicated"}
	assert (len(reply["job_ids"]), reply["deduplicated"]) == (6, 0)
	done = testing.wait_for(
		lambda: (b := client.message(client.get("get_batch", batch=reply["batch"])))["status"] != "Running"
		and b,
		timeout=END_TIMEOUT,
	)
	assert (done["status"], done["counts"], done["progress"]) == ("Completed", {"Completed": 6}, 100.0)
	assert done["callback_job"] and done["created_by"] == world.users["member"]
	listed = client.message(client.get("list_batches", organization=world.org))
	assert reply["batch"] in [b["batch"] for b in listed["batches"]]


def test_a_form_body_carries_items_as_json_text(world, api):
	client = api("owner")
	reply = client.message(
		client.post_form(
			"submit_jobs", job_type=world.echo, organization=world.org, items=[{"form": unique("f")}]
		)
	)
	assert len(reply["job_ids"]) == 1


@pytest.mark.parametrize(
	"items, message",
	[
		([{"a": 1}, "text", {"b": 2}], "items[1] must be a JSON object"),
		([{"a": 1}] * 3 + [[1, 2]], "items[3] must be a JSON object"),
		([{"a": i} for i in range(10_001)], "between 1 and 10000"),
		([{"blob": "x" * (256 * 1024 + 10)}], "items[0] exceeds"),
		("not json", "items must be a JSON list"),
	],
)
def test_bad_items_are_refused_with_417_naming_the_problem_and_nothing_is_written(world, api, items, message):
	before = written(world.org)
	response = api("owner").post("submit_jobs", job_type=world.echo, organization=world.org, items=items)
	assert response.status_code == 417, response.text[:500]
	assert message in " ".join(server_messages(response)), response.text[:500]
	assert written(world.org) == before


@pytest.mark.parametrize("items", [{"a": 1}, 7, 1.5, True])
def test_items_of_the_wrong_type_are_refused_by_the_type_check_and_nothing_is_written(world, api, items):
	before = written(world.org)
	response = api("owner").post("submit_jobs", job_type=world.echo, organization=world.org, items=items)
	assert_error(response, 417, "FrappeTypeError")
	assert written(world.org) == before


def test_no_items_is_a_missing_argument_and_get_is_refused(world, api):
	assert_error(
		api("owner").post("submit_jobs", job_type=world.echo, organization=world.org, items=[]),
		417,
		"ValidationError",
		"items is required",
	)
	response = api("owner").get("submit_jobs", job_type=world.echo, organization=world.org, items="[{}]")
	assert response.status_code == 403


def test_a_call_over_the_rate_limit_is_refused_whole_with_429(world, api):
	before = written(world.org)
	response = api("owner").post(
		"submit_jobs", job_type=world.capped, organization=world.org, items=[{"n": i} for i in range(6)]
	)
	assert_error(response, 429, "TooManyJobs")
	assert written(world.org) == before


@pytest.mark.parametrize("who, status", [("viewer", 403), ("outsider", 403)])
def test_callers_without_submit_rights_in_the_organization_are_refused(world, api, who, status):
	before = written(world.org)
	response = api(who).post("submit_jobs", job_type=world.echo, organization=world.org, items=[{}])
	assert_error(response, status, "PermissionError")
	assert written(world.org) == before


def test_another_organizations_batch_is_answered_exactly_like_a_missing_one(world, api):
	owner = api("owner")
	batch = owner.message(
		owner.post("submit_jobs", job_type=world.echo, organization=world.org, items=[{"iso": unique("i")}])
	)["batch"]
	outsider = api("outsider")
	for method, verb in (("get_batch", outsider.get), ("cancel_batch", outsider.post)):
		theirs, missing = verb(method, batch=batch), verb(method, batch="nosuchbatch")
		assert theirs.status_code == missing.status_code == 404
		assert theirs.json()["exc_type"] == missing.json()["exc_type"] == "DoesNotExistError"
		assert server_messages(theirs)[0].replace(batch, "X") == server_messages(missing)[0].replace(
			"nosuchbatch", "X"
		)
	assert outsider.message(outsider.get("list_batches", organization=world.org)) == {
		"batches": [],
		"total": 0,
	}
	assert batch not in [b["batch"] for b in outsider.message(outsider.get("list_batches"))["batches"]]
	admin = api("sysmgr")
	assert admin.message(admin.get("get_batch", batch=batch))["organization"] == world.org


def test_cancel_batch_is_for_managers_and_cancels_what_has_not_ended(world, api):
	owner = api("owner")
	batch = owner.message(
		owner.post(
			"submit_jobs",
			job_type=world.sleep,
			organization=world.org,
			items=[{"seconds": 20, "steps": 200, "n": i, "c": unique("c")} for i in range(4)],
		)
	)["batch"]
	assert_error(api("viewer").post("cancel_batch", batch=batch), 403, "PermissionError")
	assert api("member").post("cancel_batch", batch=batch).status_code == 403  # not the creator
	reply = owner.message(owner.post("cancel_batch", batch=batch))
	assert reply["canceled"] + reply["cancel_requested"] == 4
	done = testing.wait_for(
		lambda: (b := owner.message(owner.get("get_batch", batch=batch)))["status"] != "Running" and b,
		timeout=END_TIMEOUT,
	)
	assert (done["status"], done["counts"]) == ("Canceled", {"Canceled": 4})
	assert_error(owner.post("cancel_batch", batch=batch), 417, "ValidationError", "cannot be canceled")


def test_batch_events_reach_only_the_batchs_organization(world, api, connect):
	member, outsider = connect("member"), connect("outsider")
	member.subscribe_doc("Organization", world.org)
	assert outsider.subscription_refused("Organization", world.org)
	outsider.subscribe_doc("Organization", world.other_org)
	owner = api("owner")
	batch = owner.message(
		owner.post(
			"submit_jobs",
			job_type=world.echo,
			organization=world.org,
			items=[{"ev": unique("e"), "n": i} for i in range(5)],
		)
	)["batch"]
	completed = member.wait(
		lambda c: next((e for e in c.events("batch_completed") if e.get("batch") == batch), None),
		timeout=END_TIMEOUT,
	)
	assert (completed["organization"], completed["status"], completed["total"]) == (world.org, "Completed", 5)
	assert outsider.subscription_refused("Background Job Batch", batch)
	marker = unique("marker")
	publish_realtime(marker, {}, user=world.users["outsider"])
	outsider.wait(lambda c: c.events(marker))
	leaked = [e for name in ("batch_progress", "batch_completed") for e in outsider.events(name)]
	assert [e for e in leaked if e.get("batch") == batch] == []
