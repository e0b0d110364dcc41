"""Jobs for later and Job Schedules over real HTTP: ``submit_job`` with ``run_at``, ``list_schedules``
and ``get_schedule``, as members, outsiders and System Managers. Refusals are checked for their status,
``exc_type`` and for having written nothing."""

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import frappe
import pytest
from frappe.utils import now_datetime

from benchless import testing
from dartwing.tests.engine_utils import make_job_type, unique
from dartwing.tests.utils import make_member, make_org, make_user
from dartwing_e2e.clients import ApiClient, token_for

pytestmark = [pytest.mark.web]

SITE = "test_site"
JOB = "Background Job"


@pytest.fixture(scope="module")
def world() -> SimpleNamespace:
	org, other_org = make_org(unique("E2E Sched A")), make_org(unique("E2E Sched B"))
	users = {
		name: make_user(f"{unique('e2e-s-' + name).lower()}@example.test") for name in ("owner", "outsider")
	}
	make_member(users["owner"], org, role="Owner")
	make_member(users["outsider"], other_org, role="Owner")
	w = SimpleNamespace(
		org=org, other_org=other_org, users=users, echo=make_job_type("dartwing.demo.demo_echo")
	)
	frappe.set_user(users["owner"])
	w.schedule = (
		frappe.get_doc(
			{
				"doctype": "Job Schedule",
				"organization": org,
				"job_type": w.echo,
				"cron_expression": "0 7 * * *",
			}
		)
		.insert()
		.name
	)
	frappe.set_user("Administrator")
	frappe.db.commit()
	w.tokens = {name: token_for(user) for name, user in users.items()}
	return w


@pytest.fixture(scope="module")
def api(world: SimpleNamespace) -> Iterator:
	with testing.start_server(SITE) as url:
		yield lambda who: ApiClient(url, world.tokens[who])


def jobs(org: str) -> int:
	frappe.db.rollback()
	return frappe.db.count(JOB, {"organization": org})


def test_run_at_in_iso_text_makes_a_scheduled_job_visible_in_lists(world, api):
	run_at = (now_datetime() + timedelta(hours=1)).replace(microsecond=0)
	reply = api("owner").post(
		"submit_job",
		job_type=world.echo,
		organization=world.org,
		parameters={"n": unique("later")},
		run_at=run_at.isoformat(),
	)
	message = api("owner").message(reply)
	assert message["status"] == "Scheduled"
	listed = api("owner").message(api("owner").get("list_jobs", organization=world.org, status="Scheduled"))
	assert [j["run_at"] for j in listed["jobs"] if j["job_id"] == message["job_id"]] == [run_at.isoformat()]
	canceled = api("owner").message(api("owner").post("cancel_job", job_id=message["job_id"]))
	assert canceled["status"] == "Canceled"


@pytest.mark.parametrize(
	"run_at", ["next tuesday", "99999-01-01", "2026-02-30T10:00:00", 12345, ["2030-01-01"]]
)
def test_a_bad_run_at_is_a_417_and_writes_nothing(world, api, run_at):
	before = jobs(world.org)
	reply = api("owner").post("submit_job", job_type=world.echo, organization=world.org, run_at=run_at)
	assert reply.status_code == 417, reply.text[:500]
	assert reply.json()["exc_type"] in ("ValidationError", "FrappeTypeError")
	assert jobs(world.org) == before


def test_list_schedules_shows_only_the_callers_organizations(world, api):
	mine = api("owner").message(api("owner").get("list_schedules"))
	assert world.schedule in [s["schedule"] for s in mine["schedules"]]
	entry = next(s for s in mine["schedules"] if s["schedule"] == world.schedule)
	assert entry["next_run_at"] and entry["status"] == "Active" and entry["organization"] == world.org
	theirs = api("outsider").message(api("outsider").get("list_schedules"))
	assert world.schedule not in [s["schedule"] for s in theirs["schedules"]]
	named = api("outsider").message(api("outsider").get("list_schedules", organization=world.org))
	assert named == {"schedules": [], "total": 0}


def test_get_schedule_gives_five_occurrences_and_another_tenant_gets_404(world, api):
	detail = api("owner").message(api("owner").get("get_schedule", schedule=world.schedule))
	assert len(detail["upcoming"]) == 5 and detail["recent_jobs"] == []
	for name in (world.schedule, "no-such-schedule"):
		reply = api("outsider").get("get_schedule", schedule=name)
		assert reply.status_code == 404 and reply.json()["exc_type"] == "DoesNotExistError"


def test_bad_list_arguments_are_refused(world, api):
	assert api("owner").get("list_schedules", limit=0).status_code == 417
	assert api("owner").get("list_schedules", limit="many").status_code == 417
