"""Property: no value of any argument of any whitelisted endpoint makes the server fail or leak.

Drives the real web server (``python -m benchless serve``) with hypothesis: for every whitelisted method in
dartwing/ and each of its parameters, arbitrary JSON values (None, booleans, huge and negative integers,
floats up to 1e308, NaN and Infinity, strings such as "Infinity" or absurd dates, lists, nested objects and
JSON text nested thousands deep) sent as a JSON body, as form fields or as a query string, by a member of
organization A, by an outsider (member of B only) and by a System Manager. For every call:
- the status is below 500 and the body carries no traceback (no ``exc`` / ``exception``, no "Traceback");
- a member's or outsider's answer never holds the other organization's job (its id, unless the caller sent
  it, or the secret in its parameters);
- a refused call (status >= 400) writes nothing: the Background Job, Job Execution Log and Background Job
  Batch rows of both organizations are as many before as after, and the jobs' parameters and statuses are
  unchanged (a dead-lettered job of A is there for ``retry_dead_letter_jobs`` with edited parameters).
No workers run (submitted jobs stay waiting), so every row change comes from the request itself. Runs are
reproducible (derandomized, no example database) and bounded to about a minute on two cores.
"""

import contextlib
import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import frappe
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq.exceptions import NoSuchJobError
from rq.job import Job

from benchless import testing
from dartwing.install import create_demo_job_types
from dartwing.tests.engine_utils import make_job_type, submit_as, unique
from dartwing.tests.utils import make_member, make_org, make_user
from dartwing_e2e.clients import server_messages, token_for

pytestmark = [pytest.mark.web]

SITE = "test_site"
HTTP_TIMEOUT = 30  # s for one call
EXAMPLES = 40  # per endpoint: 19 endpoints x 40 calls take well under a minute here (two cores)
JOBS = "dartwing.jobs"
DESK = "dartwing.dartwing_core.desk_widgets"
CHART = "dartwing.dartwing_core.dashboard_chart_source.jobs_per_hour.jobs_per_hour"
CALLERS = ("member", "outsider", "sysmgr")

# method -> (HTTP methods it accepts, its parameters)
ENDPOINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
	f"{JOBS}.submit_job": (("POST",), ("job_type", "organization", "parameters", "priority", "depends_on")),
	f"{JOBS}.submit_jobs": (("POST",), ("job_type", "organization", "items", "priority", "on_complete")),
	f"{JOBS}.get_batch": (("GET", "POST"), ("batch",)),
	f"{JOBS}.cancel_batch": (("POST",), ("batch",)),
	f"{JOBS}.list_batches": (("GET", "POST"), ("organization", "status", "limit", "start")),
	f"{JOBS}.get_job_status": (("GET", "POST"), ("job_id",)),
	f"{JOBS}.list_jobs": (
		("GET", "POST"),
		("organization", "status", "job_type", "from_date", "to_date", "limit", "start"),
	),
	f"{JOBS}.get_job_history": (("GET", "POST"), ("job_id",)),
	f"{JOBS}.cancel_job": (("POST",), ("job_id",)),
	f"{JOBS}.retry_job": (("POST",), ("job_id",)),
	f"{JOBS}.get_dead_letter_jobs": (
		("GET", "POST"),
		("organization", "job_type", "error_type", "from_date", "to_date", "limit", "start"),
	),
	f"{JOBS}.retry_dead_letter_jobs": (("POST",), ("job_ids", "parameters")),
	f"{JOBS}.delete_dead_letter_jobs": (("POST",), ("job_ids",)),
	f"{JOBS}.get_job_metrics": (("GET", "POST"), ("organization", "hours", "from_date", "to_date")),
	f"{JOBS}.pause_job_type": (("POST",), ("job_type",)),
	f"{JOBS}.resume_job_type": (("POST",), ("job_type",)),
	f"{JOBS}.prometheus_metrics": (("GET",), ("format",)),
	f"{DESK}.get_failure_rate": (("GET", "POST"), ("filters",)),
	f"{CHART}.get": (
		("GET", "POST"),
		("chart_name", "chart", "no_cache", "filters", "from_date", "to_date", "timespan", "time_interval"),
	),
}


@pytest.fixture(scope="module")
def world() -> SimpleNamespace:
	"""Organization A (a member and a job), organization B (an outsider and a job with a secret), a System
	Manager, and a job type with no de-duplication."""
	create_demo_job_types()
	org_a, org_b = make_org(unique("Prop A")), make_org(unique("Prop B"))
	users = {name: make_user(f"{unique('prop-' + name).lower()}@example.test") for name in CALLERS}
	make_user(users["sysmgr"], roles=["System Manager"])
	make_member(users["member"], org_a, role="Member")
	make_member(users["outsider"], org_b, role="Owner")
	job_type = make_job_type("dartwing.demo.demo_echo")
	secret = f"secret-{uuid.uuid4().hex}"
	job_a = submit_as(users["member"], job_type, org_a, {"n": unique("a")})
	job_b = submit_as(users["outsider"], job_type, org_b, {"secret": secret})
	batch_a = submit_batch_as(users["member"], job_type, org_a, [{"n": unique("ba")}])
	batch_b = submit_batch_as(users["outsider"], job_type, org_b, [{"secret": secret, "batch": True}])
	dead_a = dead_letter_as(users["member"], job_type, org_a)
	frappe.db.commit()
	tokens = {name: token_for(user) for name, user in users.items()}
	return SimpleNamespace(
		org_a=org_a,
		org_b=org_b,
		job_type=job_type,
		job_a=job_a,
		job_b=job_b,
		batch_a=batch_a,
		batch_b=batch_b,
		dead_a=dead_a,
		secret=secret,
		tokens=tokens,
	)


def dead_letter_as(user: str, job_type: str, org: str) -> str:
	"""A job of ``org`` in the dead letter queue (no worker runs here: moved there by the one door)."""
	from dartwing.dartwing_core.background_jobs import state

	job = submit_as(user, job_type, org, {"n": unique("dead")})
	state.transition(state.load(job, for_update=True), "Dead Letter", message="property test: dead letter")
	frappe.db.commit()
	return job


def submit_batch_as(user: str, job_type: str, org: str, items: list[dict]) -> str:
	from dartwing.dartwing_core.background_jobs import engine

	frappe.set_user(user)
	try:
		return engine.submit_jobs(job_type, org, items).batch
	finally:
		frappe.set_user("Administrator")


@pytest.fixture(scope="module")
def web(world: SimpleNamespace) -> Iterator[str]:
	with testing.start_server(SITE) as url:
		yield url
	forget_jobs(world)


def forget_jobs(world: SimpleNamespace) -> None:
	"""No worker ran: remove this module's jobs from RQ and the database, so no later suite meets them."""
	frappe.db.rollback()
	orgs = (world.org_a, world.org_b)
	rows = frappe.db.sql(
		"SELECT name, rq_job_id FROM `tabBackground Job` WHERE organization IN %(orgs)s", {"orgs": orgs}
	)
	connection = testing.redis_queue_conn(SITE)
	for _name, rq_job_id in rows:
		if rq_job_id:
			with contextlib.suppress(NoSuchJobError):
				Job.fetch(rq_job_id, connection=connection).delete()
	names = {"names": tuple(name for name, _rq in rows) or ("",)}
	frappe.db.sql("DELETE FROM `tabJob Execution Log` WHERE job IN %(names)s", names)
	frappe.db.sql("DELETE FROM `tabBackground Job Dependency` WHERE parent IN %(names)s", names)
	frappe.db.sql("DELETE FROM `tabBackground Job` WHERE name IN %(names)s", names)
	frappe.db.sql("DELETE FROM `tabBackground Job Batch` WHERE organization IN %(orgs)s", {"orgs": orgs})
	frappe.db.commit()


@pytest.fixture(scope="module")
def sessions(world: SimpleNamespace) -> dict[str, requests.Session]:
	made = {}
	for who, token in world.tokens.items():
		session = requests.Session()
		session.headers["Authorization"] = token
		made[who] = session
	return made


# ------------------------------------------------------------------------------------------ values
HUGE_INTS = st.sampled_from([2**31, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 10**99])
NUMBERS = st.one_of(
	st.integers(min_value=-(10**6), max_value=10**6),
	HUGE_INTS,
	st.floats(allow_nan=True, allow_infinity=True),
	st.sampled_from([1e308, -1e308, 0.5, 5.0, -0.0, 9.3e18]),
)
NASTY_TEXT = st.sampled_from(
	[
		"Infinity",
		"-Infinity",
		"NaN",
		"inf",
		"1e308",
		"1e3",
		"-1",
		"0",
		"5.0",
		"99999999999999999999999999",
		"0001-01-01",
		"0001-01-02",
		"0100-01-01",
		"9999-12-31 23:59:59",
		"10000-01-01",
		"2026-13-45",
		"9999-99-99",
		"yesterday",
		"2026-03-01T10:00:00+05:00",
		"'; DROP TABLE `tabBackground Job`; --",
		"%(start)s",
		"\x00",
		"a\ud800b",  # a lone surrogate: valid JSON escape, not valid UTF-8
		"x" * 300,
		"[]",
		"{}",
		'{"hours": 1e308}',
		'{"hours": "Infinity"}',
		'{"hours": [1]}',
		"[" * 3000 + "]" * 3000,  # JSON text nested deeper than json can read
		'{"a":' * 3000 + "1" + "}" * 3000,
		"Low",
		"Critical",
		"Dead Letter",
	]
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=30), NASTY_TEXT)
HOSTILE = st.one_of(
	NASTY_TEXT,
	HUGE_INTS,
	st.sampled_from(
		[float("inf"), float("-inf"), float("nan"), 1e308, -1e308, True, [], {}, [[1]], [{"a": 1}]]
	),
)


def deep(depth: int, leaf: Any = 1) -> Any:
	value = leaf
	for level in range(depth):
		value = [value] if level % 2 else {"k": value}
	return value


JSON_VALUES = st.one_of(
	SCALARS,
	st.recursive(
		SCALARS,
		lambda children: st.one_of(
			st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
		),
		max_leaves=12,
	),
	st.builds(deep, st.integers(min_value=1, max_value=200), SCALARS),  # a JSON body parses up to ~900
)


def values_for(world: SimpleNamespace, param: str) -> st.SearchStrategy:
	"""Arbitrary JSON, mixed with the real names that get a call past its first checks."""
	real = {
		"job_id": [world.job_a, world.job_b],
		"job_ids": [
			[world.job_a],
			[world.job_b],
			[world.job_a, world.job_b],
			[world.job_a, {"x": 1}],
			[world.dead_a],
			[world.dead_a, world.job_a],
			[world.dead_a, "no-such-job"],
		],
		"depends_on": [[world.job_a], [world.job_b], [[world.job_a]], [{"a": 1}], ["x"] * 60],
		"batch": [world.batch_a, world.batch_b],
		"items": [[{"n": 1}], [{"n": 1}, "x"], [], [deep(40)], [{"x": float("nan")}], [1, 2], [{"x": 2**64}]],
		"on_complete": [world.job_type, "no_such_type"],
		"organization": [world.org_a, world.org_b],
		"job_type": [world.job_type],
		"parameters": [
			{"n": 1},
			{"x": float("nan")},
			{"x": 2**64},
			deep(40),
			deep(200),
			{"d": "2026-01-01"},
		],
		"priority": ["Low", "Normal", "High", "Critical", "Urgent"],
		"status": ["Pending", "Queued", "Dead Letter", "Running", "Completed with failures"],
		"limit": [1, 500, 501, 0, -1, 2**63],
		"start": [0, 10**6, 10**6 + 1, -(2**63), 2**63],
		"hours": [1, 24, 2160, 2161, 0],
		"filters": [
			{"hours": 2},
			{"hours": 10**30},
			{"hours": "abc"},
			{"hours": float("inf")},
			'{"hours": 3}',
		],
	}.get(param)
	# a third each: the values that broke endpoints before, real names, anything at all
	if not real:
		return st.one_of(HOSTILE, JSON_VALUES)
	return st.one_of(HOSTILE, st.sampled_from(real), JSON_VALUES)


def arguments_for(world: SimpleNamespace, params: tuple[str, ...]) -> st.SearchStrategy:
	return st.fixed_dictionaries({}, optional={param: values_for(world, param) for param in params})


# ------------------------------------------------------------------------------------------ calls
def form_value(value: Any) -> str:
	"""A form field as frappe.call sends it: text as is, anything else JSON-encoded."""
	return value if isinstance(value, str) else json.dumps(value)


def utf8(value: str) -> bool:
	try:
		value.encode("utf-8")
	except UnicodeEncodeError:
		return False
	return True


def call(web: str, session: requests.Session, method: str, http: str, transport: str, args: dict):
	url = f"{web}/api/method/{method}"
	if transport == "json":
		# json.dumps writes NaN / Infinity as literals and escapes lone surrogates; Frappe's json.loads reads both
		body = json.dumps(args)
		headers = {"Content-Type": "application/json"}
		return session.request(http, url, data=body, headers=headers, timeout=HTTP_TIMEOUT)
	fields = {name: form_value(value) for name, value in args.items() if value is not None}
	fields = {name: value for name, value in fields.items() if utf8(value)}  # a form cannot carry them
	if http == "GET":
		return session.get(url, params=fields, timeout=HTTP_TIMEOUT)
	return session.post(url, data=fields, timeout=HTTP_TIMEOUT)


def row_counts(world: SimpleNamespace) -> tuple[Any, ...]:
	"""Rows of organizations A and B: a call can only write for an organization it names, and these are
	the only real ones it knows (other suites' leftovers elsewhere cannot disturb the count); a digest of
	their jobs' statuses and parameters (an edit-and-retry changes rows without adding any); and the job
	type's pause with its audit comments (pause_job_type / resume_job_type)."""
	frappe.db.rollback()  # read what the server committed
	orgs = {"orgs": (world.org_a, world.org_b)}
	digest = frappe.db.sql(
		"""SELECT SUM(CRC32(CONCAT(name, status, IFNULL(parameters, ''))))
		FROM `tabBackground Job` WHERE organization IN %(orgs)s""",
		orgs,
	)
	jobs = frappe.db.sql("SELECT COUNT(*) FROM `tabBackground Job` WHERE organization IN %(orgs)s", orgs)
	logs = frappe.db.sql("SELECT COUNT(*) FROM `tabJob Execution Log` WHERE organization IN %(orgs)s", orgs)
	batches = frappe.db.sql(
		"SELECT COUNT(*) FROM `tabBackground Job Batch` WHERE organization IN %(orgs)s", orgs
	)
	paused = frappe.db.get_value("Job Type", world.job_type, ["paused", "paused_by", "modified"])
	comments = frappe.db.count("Comment", {"reference_doctype": "Job Type", "reference_name": world.job_type})
	return (
		int(jobs[0][0]),
		int(logs[0][0]),
		int(batches[0][0]),
		int(digest[0][0] or 0),
		tuple(paused),
		comments,
	)


def check_reply(
	world: SimpleNamespace, who: str, args: dict, reply: requests.Response, before, after
) -> None:
	text = reply.text
	assert reply.status_code < 500, f"{reply.status_code} for {args!r:.500}: {text[:1500]}"
	if reply.status_code >= 400:  # a job's own error traceback is data a reader may see; a server's is not
		assert "Traceback" not in text, text[:1500]
		assert not reply.headers.get("Content-Type", "").startswith("application/json") or not (
			{"exc", "exception"} & set(reply.json())
		), text[:1500]
	if who != "sysmgr":
		foreign = world.job_b if who == "member" else world.job_a
		assert world.secret not in text or who == "outsider", text[:1500]
		assert foreign not in text or foreign in json.dumps(args), text[:1500]
		foreign_batch = world.batch_b if who == "member" else world.batch_a
		assert foreign_batch not in text or foreign_batch in json.dumps(args), text[:1500]
	if reply.status_code >= 400:
		assert (
			after == before
		), f"refused call {reply.status_code} wrote rows: {before} -> {after}: {args!r:.500}"


def baseline(world: SimpleNamespace, method: str) -> dict:
	"""Valid arguments the drawn ones are laid over, so a hostile value reaches the checks behind the first."""
	name = method.rsplit(".", 1)[1]
	if name == "submit_job":
		return {"job_type": world.job_type, "organization": world.org_a, "parameters": {"n": 1}}
	if name == "submit_jobs":
		return {"job_type": world.job_type, "organization": world.org_a, "items": [{"n": 1}]}
	if name in ("get_batch", "cancel_batch"):
		return {"batch": world.batch_a}
	if name in ("get_job_status", "get_job_history", "cancel_job", "retry_job"):
		return {"job_id": world.job_a}
	if name == "retry_dead_letter_jobs":
		return {"job_ids": [world.dead_a]}  # with drawn parameters: an edit-and-retry
	if name == "delete_dead_letter_jobs":
		return {"job_ids": [world.job_a]}
	if name in ("pause_job_type", "resume_job_type"):
		return {"job_type": world.job_type}
	return {}


def endpoint_strategy(world: SimpleNamespace, method: str) -> st.SearchStrategy:
	https, params = ENDPOINTS[method]
	transports = ("json", "form") if "POST" in https else ("query",)
	base = baseline(world, method)
	return st.tuples(
		st.sampled_from(CALLERS),
		st.sampled_from(https),
		st.sampled_from(transports),
		arguments_for(world, params).map(lambda drawn: {**base, **drawn}),
	)


PROPERTY_SETTINGS = settings(
	max_examples=EXAMPLES,
	deadline=None,
	derandomize=True,
	database=None,
	suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("method", sorted(ENDPOINTS))
def test_no_argument_value_makes_an_endpoint_fail_leak_or_write_when_refused(world, web, sessions, method):
	@PROPERTY_SETTINGS
	@given(case=endpoint_strategy(world, method))
	def run(case):
		who, http, transport, args = case
		if transport == "json" and http == "GET":
			http = "POST"  # a JSON body goes with POST (these methods accept both)
		if transport == "query":
			http = "GET"
		before = row_counts(world)
		reply = call(web, sessions[who], method, http, transport, args)
		check_reply(world, who, args, reply, before, row_counts(world))

	run()


# ------------------------------------------------------------------------- regressions (each was a 500)
DEEP_TEXT = "[" * 3000 + "]" * 3000


def regression_cases(world: SimpleNamespace) -> list[tuple[str, str, dict, str, str | None]]:
	"""(method, transport, arguments, exc_type, message fragment): each answered 500 before the fix.

	A FrappeTypeError is Frappe's own argument check (typing_validations, pydantic): it raises without a
	message, so its body is ``{"exc_type": "FrappeTypeError"}`` alone (fragment None)."""
	submit = {"job_type": world.job_type, "organization": world.org_a}
	return [
		("list_jobs", "form", {"start": "Infinity"}, "FrappeTypeError", None),
		("list_jobs", "json", {"limit": float("inf")}, "FrappeTypeError", None),
		("list_jobs", "json", {"limit": 1e308}, "FrappeTypeError", None),
		("list_jobs", "json", {"start": 2**63}, "ValidationError", "start must be between 0 and 1000000"),
		("list_jobs", "json", {"from_date": "0001-01-02"}, "ValidationError", "between the years 1900"),
		("get_job_metrics", "json", {"to_date": "0001-01-02"}, "ValidationError", "between the years 1900"),
		("get_job_metrics", "json", {"hours": float("inf")}, "FrappeTypeError", None),
		("get_job_status", "json", {"job_id": "a\ud800b"}, "ValidationError", "job_id must be valid Unicode"),
		("submit_job", "json", {**submit, "depends_on": [{"a": 1}]}, "ValidationError", "depends_on must be"),
		(
			"submit_job",
			"json",
			{**submit, "parameters": {"k": deep(200)}},
			"ValidationError",
			"may nest at most",
		),
		("submit_job", "form", {**submit, "parameters": DEEP_TEXT}, "ValidationError", "parameters must be"),
		("submit_job", "json", {**submit, "parameters": {"x": 2**64}}, "ValidationError", "integers between"),
		(f"{CHART}.get", "form", {"filters": "Infinity"}, "ValidationError", "filters must be a JSON object"),
		(f"{CHART}.get", "json", {"filters": {"hours": 10**30}}, "ValidationError", "hours must be between"),
		(f"{CHART}.get", "form", {"filters": '{"hours": "abc"}'}, "ValidationError", "hours must be"),
	]


@pytest.mark.parametrize("case", range(15))
def test_a_value_that_was_a_server_error_is_refused_with_417_and_writes_nothing(world, web, sessions, case):
	method, transport, args, exc_type, fragment = regression_cases(world)[case]
	method = method if "." in method else f"{JOBS}.{method}"
	before = row_counts(world)
	reply = call(web, sessions["member"], method, "POST", transport, args)
	assert reply.status_code == 417, f"{reply.status_code}: {reply.text[:1000]}"
	body = reply.json()
	assert body["exc_type"] == exc_type, body
	assert fragment is None or fragment in " ".join(server_messages(reply)), body
	assert row_counts(world) == before


# ------------------------------------------------------------------------- pause / resume, maintenance
@pytest.mark.parametrize(
	"who, args, status",
	[
		("member", {"job_type": "__world__"}, 403),
		("outsider", {"job_type": "__world__"}, 403),
		("sysmgr", {}, 417),
		("sysmgr", {"job_type": ""}, 417),
		("sysmgr", {"job_type": ["a"]}, 417),
		("sysmgr", {"job_type": "no such job type"}, 404),
	],
)
@pytest.mark.parametrize("endpoint", ["pause_job_type", "resume_job_type"])
def test_pause_and_resume_refuse_with_a_clear_4xx_and_write_nothing(
	world, web, sessions, endpoint, who, args, status
):
	args = {key: world.job_type if value == "__world__" else value for key, value in args.items()}
	before = row_counts(world)
	reply = call(web, sessions[who], f"{JOBS}.{endpoint}", "POST", "json", args)
	assert reply.status_code == status, f"{reply.status_code}: {reply.text[:800]}"
	assert "Traceback" not in reply.text
	assert row_counts(world) == before


def test_a_submission_during_maintenance_is_refused_by_frappe_with_503_and_writes_nothing(
	world, web, sessions
):
	"""Frappe answers every request with 503 (SessionStopped) while maintenance_mode is set, before any
	app code runs; the engine writes nothing. Python submissions are accepted and wait (decisions.md)."""
	args = {"job_type": world.job_type, "organization": world.org_a, "parameters": {"n": unique("m")}}
	before = row_counts(world)
	with testing.site_config(SITE, maintenance_mode=1):
		reply = call(web, sessions["member"], f"{JOBS}.submit_job", "POST", "json", args)
	assert reply.status_code == 503, f"{reply.status_code}: {reply.text[:800]}"
	assert row_counts(world) == before
	after = call(web, sessions["member"], f"{JOBS}.submit_job", "POST", "json", args)
	assert after.status_code == 200, after.text[:800]
