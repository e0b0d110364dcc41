"""Live job progress over a real Socket.IO client, and realtime tenant isolation.

The module runs ``python -m benchless serve``, ``python -m benchless realtime`` (Frappe's realtime protocol)
and two RQ workers. Clients are python-socketio clients on namespace ``/test_site`` with a Cookie header,
an Origin matching the Host, and a token ``Authorization`` header or a ``sid`` cookie from
``/api/method/login``, as Frappe's Socket.IO server requires. Rooms are only Frappe's own: the submitter's
``user:`` room (joined at connect), ``doc:Background Job/<job>`` and ``doc:Organization/<org>`` (joined by
``doc_subscribe`` after the web server's permission check).
"""

from collections.abc import Iterator
from types import SimpleNamespace

import frappe
import pytest
from frappe.realtime import publish_realtime

from benchless import testing
from dartwing.install import DEMO_PASSWORD, create_demo_job_types, ensure_user
from dartwing.tests.engine_utils import submit_as, unique, wait_for_status
from dartwing.tests.utils import make_member, make_org
from dartwing_e2e.clients import ApiClient, RealtimeClient, token_for

pytestmark = [pytest.mark.web, pytest.mark.workers]

SITE = "test_site"
END_TIMEOUT = 60  # s for a demo job to finish on real workers shared with other suites
FAST = {"priority": "Critical"}  # our jobs jump the queues other suites may have filled
SLEEP = {"seconds": 1.5, "steps": 6}  # six progress updates, 0.25 s apart


@pytest.fixture(scope="module")
def world() -> SimpleNamespace:
	"""Organization A: an Owner, the submitting Member and a watching Member (logs in with a password);
	organization B: its Owner, the outsider."""
	create_demo_job_types()
	org, other_org = make_org(unique("E2E RT A")), make_org(unique("E2E RT B"))
	users = {
		name: ensure_user(f"{unique('e2e-rt-' + name).lower()}@example.test", name.title())
		for name in ("owner", "submitter", "watcher", "outsider")
	}
	make_member(users["owner"], org, role="Owner")
	make_member(users["submitter"], org, role="Member")
	make_member(users["watcher"], org, role="Member")
	make_member(users["outsider"], other_org, role="Owner")
	frappe.db.commit()
	tokens = {name: token_for(user) for name, user in users.items()}
	return SimpleNamespace(org=org, other_org=other_org, users=users, tokens=tokens)


@pytest.fixture(scope="module")
def stack(world: SimpleNamespace) -> Iterator[SimpleNamespace]:
	with (
		testing.start_server(SITE) as web_url,
		testing.start_realtime(SITE, webserver_url=web_url) as rt_url,
		testing.start_workers(SITE, count=2),
	):
		yield SimpleNamespace(web=web_url, rt=rt_url)


@pytest.fixture
def connect(stack: SimpleNamespace, world: SimpleNamespace) -> Iterator:
	"""``connect("owner")`` opens a token-authenticated client; ``connect("watcher", sid=...)`` a cookie
	one. Every client is closed after the test."""
	opened: list[RealtimeClient] = []

	def open_client(who: str, sid: str | None = None) -> RealtimeClient:
		auth = None if sid else world.tokens[who]
		client = RealtimeClient(stack.rt, SITE, origin=stack.web, authorization=auth, sid=sid)
		opened.append(client)
		return client

	yield open_client
	for client in opened:
		client.close()


def percents(events: list) -> list[float]:
	return [float(e["percent"]) for e in events]


def assert_progress_to_completion(client: RealtimeClient, job: str, org: str) -> None:
	"""The client saw ``job`` progress in increasing steps to 100 and its change to Completed."""
	done = client.wait_status(job, "Completed", timeout=END_TIMEOUT)
	progress = client.events("job_progress", job)
	values = percents(progress)
	assert values and values[-1] == 100, values
	assert values == sorted(values) and len(set(values)) >= 2, values
	assert all(e["organization"] == org and "message" in e and e["time"] for e in progress)
	assert (done["from"], done["organization"]) == ("Running", org)
	# progress is published before the job ends, and relayed in order
	kinds = [event for event, _ in client.job_events(job)]
	assert kinds.index("job_status_changed", kinds.index("job_progress")) > 0


def test_a_demo_sleep_job_is_followed_live_to_completion_on_every_room(world, stack, connect):
	# the watcher authenticates with a sid cookie from /api/method/login, the others with tokens
	watcher_sid = ApiClient(stack.web).login(world.users["watcher"], DEMO_PASSWORD)
	submitter = connect("submitter")  # user room: joined at connect
	org_feed = connect("watcher", sid=watcher_sid)
	org_feed.subscribe_doc("Organization", world.org)
	doc_watcher = connect("owner")

	job = submit_as(world.users["submitter"], "demo_sleep", world.org, {**SLEEP, "n": unique("rt")}, **FAST)
	doc_watcher.subscribe_doc("Background Job", job)

	for client in (submitter, org_feed):
		assert_progress_to_completion(client, job, world.org)
		# every transition the job made after submission reached these rooms
		changes = [(e["from"], e["to"]) for e in client.events("job_status_changed", job)]
		assert changes == [("Pending", "Queued"), ("Queued", "Running"), ("Running", "Completed")]
	# the doc room was joined just after the job was committed: it may miss the very first update only
	doc_watcher.wait_status(job, "Completed", timeout=END_TIMEOUT)
	values = percents(doc_watcher.events("job_progress", job))
	assert values and values[-1] == 100 and values == sorted(values)

	api = ApiClient(stack.web, world.tokens["submitter"])
	status = api.message(api.get("get_job_status", job_id=job))
	assert (status["status"], status["progress"]) == ("Completed", 100)
	assert status["result"] == {"slept": SLEEP["seconds"]}
	history = api.message(api.get("get_job_history", job_id=job))["history"]
	assert [(h["from_status"], h["to_status"]) for h in history] == [
		(None, "Pending"),
		("Pending", "Queued"),
		("Queued", "Running"),
		("Running", "Completed"),
	]
	assert all(h["actor"] and h["message"] and h["attempt"] == 1 and h["timestamp"] for h in history)
	assert history[0]["actor"] == world.users["submitter"]
	running = history[2]
	assert running["worker"], "the claiming worker is recorded"


def test_another_organizations_rooms_are_refused_and_deliver_nothing(world, stack, connect):
	outsider = connect("outsider")
	control = connect("owner")
	job_a = submit_as(
		world.users["submitter"],
		"demo_sleep",
		world.org,
		{"seconds": 3, "steps": 12, "n": unique("a")},
		**FAST,
	)
	control.subscribe_doc("Background Job", job_a)
	control.subscribe_doc("Organization", world.org)
	# the outsider tries every room of organization A, and joins its own organization's room
	assert outsider.subscription_refused("Background Job", job_a)
	assert outsider.subscription_refused("Organization", world.org)
	outsider.subscribe_doc("Organization", world.other_org)
	job_b = submit_as(
		world.users["outsider"], "demo_sleep", world.other_org, {**SLEEP, "n": unique("b")}, **FAST
	)

	control.wait_status(job_a, "Completed", timeout=END_TIMEOUT)
	assert control.events("job_progress", job_a), "the own-organization control must receive progress"
	outsider.wait_status(job_b, "Completed", timeout=END_TIMEOUT)
	# a marker sent to the outsider after job A ended arrives after anything job A could have sent it
	marker = unique("marker")
	publish_realtime(marker, {"after": job_a}, user=world.users["outsider"])
	outsider.wait(lambda c: c.events(marker))
	assert outsider.job_events(job_a) == []
	assert not control.job_events(job_b), "organization B's events must not reach organization A"


def test_a_job_id_that_does_not_exist_cannot_be_subscribed(world, connect):
	client = connect("owner")
	assert client.subscription_refused("Background Job", frappe.generate_hash(length=10))
	assert client.subscription_refused("Organization", unique("No Such Org"))


def test_cancel_is_seen_live_as_a_change_to_canceled(world, stack, connect):
	submitter = connect("submitter")
	job = submit_as(
		world.users["submitter"],
		"demo_sleep",
		world.org,
		{"seconds": 20, "steps": 200, "n": unique("c")},
		**FAST,
	)
	submitter.wait(lambda c: c.events("job_progress", job))  # it is running
	api = ApiClient(stack.web, world.tokens["submitter"])
	assert api.message(api.post("cancel_job", job_id=job))["cancel_requested"] is True
	changed = submitter.wait_status(job, "Canceled", timeout=END_TIMEOUT)
	assert changed["from"] == "Running"
	wait_for_status(job, "Canceled", timeout=5)
