"""The desk's dead-letter repair and pause controls, clicked in Chromium on a real Frappe 15 bench.

benchless has no desk (Frappe's desk JavaScript is Frappe's own), so these run only against a running
bench with dartwing installed: set DARTWING_BENCH_URL (for example http://127.0.0.1:8000) and
DARTWING_BENCH_PASSWORD (Administrator's); the bench's workers must run (`bench start`). Skipped
otherwise, with that reason. Everything is made over the bench's REST API with unique names: a Job Type
whose handler always fails permanently, an Organization, jobs that end in Dead Letter.

What is proven: on a dead-lettered job's form, "Edit and Retry" opens the shared dialog
(dartwing_desk.bundle.js, app_include_js) with the job's parameters as JSON; text that is not a JSON
object is refused in the browser and nothing changes; a valid edit, confirmed, retries the job with the
new parameters and its history records the change. From the list, the Actions menu's "Edit and Retry
Dead Letter Jobs" does the same for every checked dead letter. A Job Type's Pause and Resume buttons
pause it (the headline names who) and resume it, each audited on its timeline. The app's desk pages and
the job monitor render with no console error and no failed request of the app's.
"""

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

BENCH_URL = os.environ.get("DARTWING_BENCH_URL", "").rstrip("/")
PASSWORD = os.environ.get("DARTWING_BENCH_PASSWORD", "")
CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 60  # s for a job to reach Dead Letter on the bench's workers, or the desk to render

pytestmark = [
	pytest.mark.browser,
	pytest.mark.skipif(
		not (BENCH_URL and PASSWORD),
		reason="needs a real Frappe bench: set DARTWING_BENCH_URL and DARTWING_BENCH_PASSWORD",
	),
]


def until(predicate: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
	deadline = time.monotonic() + timeout
	while True:
		value = predicate()
		if value:
			return value
		if time.monotonic() > deadline:
			raise AssertionError(f"timed out waiting for {what}")
		time.sleep(0.3)


class Bench:
	def __init__(self) -> None:
		self.http = requests.Session()
		reply = self.http.post(
			f"{BENCH_URL}/api/method/login", data={"usr": "Administrator", "pwd": PASSWORD}, timeout=30
		)
		reply.raise_for_status()

	def call(self, method: str, **args: Any) -> Any:
		data = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in args.items()}
		reply = self.http.post(f"{BENCH_URL}/api/method/{method}", data=data, timeout=30)
		assert reply.status_code == 200, f"{method}: {reply.status_code} {reply.text[:500]}"
		return reply.json()["message"]

	def insert(self, doctype: str, **fields: Any) -> dict:
		reply = self.http.post(f"{BENCH_URL}/api/resource/{doctype}", json=fields, timeout=30)
		assert reply.status_code == 200, f"{doctype}: {reply.status_code} {reply.text[:500]}"
		return reply.json()["data"]

	def get(self, doctype: str, name: str) -> dict:
		reply = self.http.get(f"{BENCH_URL}/api/resource/{doctype}/{name}", timeout=30)
		reply.raise_for_status()
		return reply.json()["data"]

	def dead_letter(self, job_type: str, org: str, parameters: dict) -> str:
		job = self.call(
			"dartwing.jobs.submit_job", job_type=job_type, organization=org, parameters=parameters
		)
		name = job["job_id"]
		until(lambda: self.status(name) == "Dead Letter", what=f"{name} in Dead Letter")
		return name

	def status(self, job: str) -> str:
		return self.call("dartwing.jobs.get_job_status", job_id=job)["status"]

	def parameters(self, job: str) -> dict:
		return json.loads(self.get("Background Job", job)["parameters"])

	def history(self, job: str) -> list[dict]:
		return self.call("dartwing.jobs.get_job_history", job_id=job)["history"]


@pytest.fixture(scope="module")
def bench() -> Bench:
	return Bench()


@pytest.fixture(scope="module")
def world(bench: Bench) -> dict[str, str]:
	tag = uuid.uuid4().hex[:8]
	job_type = bench.insert(
		"Job Type", job_type_name=f"desk_fail_{tag}", handler="dartwing.demo.demo_fail", max_retries=0
	)["name"]
	org = bench.insert("Organization", org_name=f"Desk Org {tag}")["name"]
	return {"job_type": job_type, "org": org}


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
	if not os.path.exists(CHROMIUM):
		pytest.skip("Chromium is not installed: run scripts/ensure-chromium.sh")
	from playwright.sync_api import sync_playwright

	with sync_playwright() as playwright:
		browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
		context = browser.new_context(base_url=BENCH_URL)
		# a session of its own: once the desk has loaded in it, Frappe wants the desk's CSRF token on every
		# POST made with that session, which the REST client (bench.http) does not send
		desk = Bench().http.cookies
		context.add_cookies([{"name": c.name, "value": c.value, "url": BENCH_URL} for c in desk if c.value])
		page = context.new_page()
		page.set_default_timeout(TIMEOUT * 1000)
		yield page
		browser.close()


def open_desk(page: Any, path: str, ready: str) -> None:
	"""Open a desk route and wait until ``ready`` (a JavaScript expression) holds."""
	page.goto(path)
	page.wait_for_function(f"() => {{ try {{ return Boolean({ready}); }} catch (e) {{ return false; }} }}")


def dialog(page: Any) -> Any:
	return page.locator(".modal.show").last


def wait_dialog(page: Any, title: str) -> None:
	"""Until the front dialog (Frappe's cur_dialog) is shown and its title holds ``title``."""
	page.wait_for_function(
		"(title) => window.cur_dialog && cur_dialog.display && cur_dialog.title.includes(title)", arg=title
	)


def type_parameters(page: Any, text: str) -> None:
	# the Code control is Frappe's Ace editor: set its value as the control does on input
	page.evaluate("(text) => cur_dialog.set_value('parameters', text)", text)


def confirm(page: Any) -> None:
	page.wait_for_selector(".modal.show >> button:has-text('Yes')")
	dialog(page).get_by_role("button", name="Yes").click()


def test_the_form_retries_a_dead_letter_with_edited_parameters(bench: Bench, world: dict, page: Any):
	job = bench.dead_letter(world["job_type"], world["org"], {"invoice": 1, "note": "before"})
	open_desk(page, f"/app/background-job/{job}", f"cur_frm.doc.name === '{job}' && !cur_frm.is_dirty()")
	page.get_by_role("button", name="Edit and Retry").click()
	wait_dialog(page, "Edit and Retry")
	shown = page.evaluate("() => JSON.parse(cur_dialog.get_value('parameters'))")
	assert shown == {"invoice": 1, "note": "before"}
	type_parameters(page, "[1, 2]")
	dialog(page).get_by_role("button", name="Retry with these parameters").click()
	page.wait_for_selector(".modal.show >> text=must be a JSON object")
	dialog(page).locator(".btn-modal-close").click()
	wait_dialog(page, "Edit and Retry")  # the message closed, the edit is still open
	assert bench.status(job) == "Dead Letter" and bench.parameters(job)["note"] == "before"
	type_parameters(page, '{"invoice": 1, "note": "after"}')
	dialog(page).get_by_role("button", name="Retry with these parameters").click()
	confirm(page)
	until(lambda: bench.parameters(job) == {"invoice": 1, "note": "after"}, what="the edited parameters")
	changes = [row for row in bench.history(job) if "parameters changed" in (row.get("message") or "")]
	assert len(changes) == 1 and '"after"' in changes[0]["message"] and '"before"' in changes[0]["message"]
	assert changes[0]["actor"] == "Administrator"


def test_the_list_retries_every_checked_dead_letter_with_edited_parameters(
	bench: Bench, world: dict, page: Any
):
	jobs = [bench.dead_letter(world["job_type"], world["org"], {"row": i}) for i in range(2)]
	open_desk(
		page,
		f"/app/background-job?organization={world['org']}&status=Dead%20Letter",
		f"{json.dumps(jobs)}.every((job) => cur_list.data.some((row) => row.name === job))",
	)
	for job in jobs:
		row = page.locator(f".list-row-container:has([data-name='{job}'])")
		row.locator(".list-row-checkbox").check()
	page.get_by_role("button", name="Actions").click()
	page.get_by_text("Edit and Retry Dead Letter Jobs").click()
	wait_dialog(page, "dead-lettered job(s)")
	assert page.evaluate("() => JSON.parse(cur_dialog.get_value('parameters'))") in ({"row": 0}, {"row": 1})
	type_parameters(page, '{"row": "edited"}')
	dialog(page).get_by_role("button", name="Retry with these parameters").click()
	confirm(page)
	for job in jobs:
		until(lambda job=job: bench.parameters(job) == {"row": "edited"}, what=f"{job}'s edited parameters")


def test_pause_and_resume_from_the_job_type_form(bench: Bench, world: dict, page: Any):
	job_type = world["job_type"]
	open_desk(page, f"/app/job-type/{job_type}", f"cur_frm.doc.name === '{job_type}'")
	page.get_by_role("button", name="Pause").click()
	confirm(page)
	until(lambda: bench.get("Job Type", job_type)["paused"] == 1, what="the pause")
	assert bench.get("Job Type", job_type)["paused_by"] == "Administrator"
	page.wait_for_selector("text=Paused by Administrator")
	page.get_by_role("button", name="Resume").click()
	confirm(page)
	until(lambda: bench.get("Job Type", job_type)["paused"] == 0, what="the resume")
	comments = bench.http.get(
		f"{BENCH_URL}/api/resource/Comment",
		params={
			"filters": json.dumps({"reference_doctype": "Job Type", "reference_name": job_type}),
			"fields": json.dumps(["content"]),
		},
		timeout=30,
	).json()["data"]
	texts = " | ".join(c["content"] for c in comments)
	assert "Paused by Administrator" in texts and "Resumed by Administrator" in texts


DESK_PAGES = (
	("/app/background-jobs", "cur_page && document.querySelector('.workspace-main-section, .layout-main')"),
	("/app/background-job", "cur_list && cur_list.data"),
	("/app/background-job/view/report", "cur_list && cur_list.data"),
	("/app/query-report/Dead Letter Jobs", "frappe.query_report && frappe.query_report.data"),
	("/app/job-type", "cur_list && cur_list.data"),
	("/app/job-schedule", "cur_list && cur_list.data"),
	("/app/job-schedule/new", "cur_frm && cur_frm.doc"),
	("/app/background-job-batch", "cur_list && cur_list.data"),
	("/job-monitor", "document.querySelector(\"#job-monitor[data-metrics='loaded']\")"),
)


@pytest.fixture(scope="module")
def shown_job(bench: Bench, world: dict) -> str:
	"""A dead-lettered job, so the pages have something to show."""
	return bench.dead_letter(world["job_type"], world["org"], {"shown": 1})


@pytest.mark.parametrize(("path", "ready"), DESK_PAGES, ids=[path for path, _ in DESK_PAGES])
def test_the_desk_pages_render_without_errors(shown_job: str, page: Any, path: str, ready: str):
	job, errors = shown_job, []

	def on_console(message: Any) -> None:
		if message.type == "error":
			errors.append(message.text)

	def on_response(response: Any) -> None:
		if response.status >= 400 and ("/api/" in response.url or "/assets/dartwing/" in response.url):
			errors.append(f"{response.status} {response.url}")

	def on_page_error(exc: Any) -> None:
		errors.append(str(exc))

	page.on("console", on_console)
	page.on("pageerror", on_page_error)
	page.on("response", on_response)
	try:
		open_desk(page, path, ready)
		if path == "/app/background-job":  # the job's own form too, from the list
			open_desk(page, f"/app/background-job/{job}", f"cur_frm.doc.name === '{job}'")
		page.wait_for_load_state("networkidle")
	finally:
		page.remove_listener("console", on_console)
		page.remove_listener("pageerror", on_page_error)
		page.remove_listener("response", on_response)
	assert errors == []
