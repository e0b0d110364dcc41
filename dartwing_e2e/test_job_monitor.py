"""Browser tests of the job monitor page (/job-monitor), end to end on real processes.

Chromium (Debian's, at /usr/bin/chromium; `scripts/ensure-chromium.sh` installs it) is driven by
Playwright against `python -m benchless serve` + `realtime` + 2 RQ workers for test_site. Every run makes
its own organizations and users (unique names), so jobs left by other tests cannot interfere.

What is proven: a member submits a demo_sleep and sees its bar reach 100 % and "Completed" with no page
reload (Socket.IO events); a running job is canceled from the page; a System Manager sees a dead-lettered
job with its error and attempts and retries it (after its handler was fixed) to completion; a user of
another organization sees none of those jobs; Guests are sent to the login page and back; the page loads
its script and style as the bundles of assets.json; every string the script shows comes from the
server's translations; a status event that arrives once per room is applied, and read back, once; times
are shown on the user's clock (their time zone, not the browser's); the Workers figure is a number.

benchless ships no translation files, so the translation test replaces the page's server-translated
messages with a marked pseudo-translation and looks for the marks.
"""

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import frappe
import pytest
import requests

from benchless import REPO_ROOT, testing
from dartwing.dartwing_core.background_jobs import engine
from dartwing.install import DEMO_PASSWORD, ensure_user
from dartwing.tests.engine_utils import history, make_job_type, wait_for_status
from dartwing.tests.utils import make_member, make_org

pytestmark = [pytest.mark.browser, pytest.mark.web, pytest.mark.workers]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	# Chromium's Local Network Access check asks the user before a page on one loopback port may call
	# another (here: the Socket.IO port); headless Chromium cannot be asked, so the check is off.
	"--disable-features=LocalNetworkAccessChecks",
]
SITE = "test_site"
UI_TIMEOUT_MS = 30_000  # generous: jobs run on real workers
# The committed screenshots in docs/screenshots are refreshed only on request
# (DARTWING_SCREENSHOTS=1); ordinary runs write them beside the test site, outside git.
SCREENSHOTS = os.path.join(
	REPO_ROOT, "docs" if os.environ.get("DARTWING_SCREENSHOTS") else "sites", "screenshots"
)


@pytest.fixture(scope="module")
def tenants() -> dict[str, str]:
	"""Two fresh organizations: a member in one, an admin in the other, and a System Manager."""
	suffix = frappe.generate_hash(length=6)
	org, other_org = make_org(f"E2E Org {suffix}"), make_org(f"E2E Other {suffix}")
	member = ensure_user(f"e2e-member-{suffix}@example.test", "Member")
	outsider = ensure_user(f"e2e-outsider-{suffix}@example.test", "Outsider")
	admin = ensure_user(f"e2e-ops-{suffix}@example.test", "Ops", ("System Manager",))
	make_member(member, org, role="Member")
	make_member(outsider, other_org, role="Admin")
	frappe.db.commit()
	return {"org": org, "other_org": other_org, "member": member, "outsider": outsider, "admin": admin}


@pytest.fixture(scope="module")
def stack(tenants: dict[str, str]) -> Iterator[tuple[str, int]]:
	"""Web server, Socket.IO server and two workers; yields (web base URL, Socket.IO port)."""
	if not os.path.exists(CHROMIUM):
		pytest.skip("Chromium is not installed: run scripts/ensure-chromium.sh")
	socketio_port = testing.free_port()  # the configured port may be taken by a running bench
	with _repo_on_pythonpath(), testing.start_server(SITE) as web_url, _realtime(web_url, socketio_port):
		with testing.start_workers(SITE, count=2):
			yield web_url, socketio_port


@contextlib.contextmanager
def _repo_on_pythonpath() -> Iterator[None]:
	# children run `python -m benchless` from sites/; benchless is not an installed distribution
	previous = os.environ.get("PYTHONPATH")
	os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, previous]))
	try:
		yield
	finally:
		if previous is None:
			os.environ.pop("PYTHONPATH", None)
		else:
			os.environ["PYTHONPATH"] = previous


@contextlib.contextmanager
def _realtime(web_url: str, port: int) -> Iterator[None]:
	web_port = web_url.rsplit(":", 1)[1]
	proc = testing.spawn("realtime", "--site", SITE, "--port", str(port), "--webserver-port", web_port)
	probe = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
	try:

		def ready() -> bool:
			if proc.poll() is not None:
				raise RuntimeError(f"realtime exited with code {proc.returncode} (port {port} in use?)")
			try:
				return requests.get(probe, timeout=2).status_code == 200
			except requests.ConnectionError:
				return False

		testing.wait_for(ready, timeout=testing.START_TIMEOUT, interval=0.2)
		yield
	finally:
		testing.stop_process(proc)


@pytest.fixture(scope="module")
def browser(stack: tuple[str, int]):
	from playwright.sync_api import sync_playwright

	with sync_playwright() as playwright:
		browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
		yield browser
		browser.close()


CONFIG_SCRIPT = re.compile(
	r'(<script type="application/json" id="job-monitor-config">)(.*?)(</script>)', re.S
)


def new_context(
	browser,
	stack: tuple[str, int],
	edit_config: Callable[[dict], None] | None = None,
	**context_options,
):
	"""A browser context on the test server. The page announces the site's configured Socket.IO port;
	the test's server listens on a free one, so that one number is rewritten in the page's config
	(``edit_config`` may change more of it)."""
	base_url, socketio_port = stack
	context = browser.new_context(
		base_url=base_url, viewport={"width": 1280, "height": 900}, **context_options
	)
	context.set_default_timeout(UI_TIMEOUT_MS)

	def rewrite(match: re.Match) -> str:
		config = json.loads(match.group(2))
		config["socketio_port"] = socketio_port
		if edit_config:
			edit_config(config)
		return match.group(1) + json.dumps(config).replace("<", "\\u003c") + match.group(3)

	def point_to_test_socketio(route) -> None:
		response = route.fetch(max_redirects=0)  # a Guest's redirect must reach the browser as is
		if response.status != 200:
			route.fulfill(response=response)
			return
		route.fulfill(response=response, body=CONFIG_SCRIPT.sub(rewrite, response.text()))

	context.route(re.compile(r".*/job-monitor$"), point_to_test_socketio)
	return context


def open_monitor(browser, stack: tuple[str, int], user: str, **context_options):
	"""A fresh browser context logged in as ``user``, showing /job-monitor with live updates on."""
	context = new_context(browser, stack, **context_options)
	response = context.request.post("/api/method/login", data={"usr": user, "pwd": DEMO_PASSWORD})
	assert response.ok, response.text()
	page = context.new_page()
	# shown by pytest when a test fails
	page.on("console", lambda message: print(f"console {message.type}: {message.text}"))
	page.on("requestfailed", lambda request: print(f"request failed: {request.url} {request.failure}"))
	page.goto("/job-monitor")
	page.wait_for_selector("#job-monitor[data-ready='1']")
	page.wait_for_selector("#jm-live[data-state='live']")
	return context, page


def job_row(page, job_id: str):
	return page.locator(f"tr.jm-job[data-job-id='{job_id}']")


def submit_from_page(page, organization: str, job_type: str, parameters: str) -> str:
	"""Fill and send the submit form; the new job's id, or a test failure quoting the page's error."""
	previous = page.get_attribute("#job-monitor", "data-last-submitted") or ""
	page.select_option("#jm-submit-job-type", job_type)
	page.select_option("#jm-submit-organization", organization)
	page.fill("#jm-submit-parameters", parameters)
	page.evaluate("document.getElementById('jm-submit-message').dataset.kind = ''")
	page.click("#jm-submit-button")
	page.wait_for_function(
		"""prev => {
			const id = document.getElementById('job-monitor').dataset.lastSubmitted || '';
			return (id && id !== prev) || document.getElementById('jm-submit-message').dataset.kind === 'error';
		}""",
		arg=previous,
	)
	job_id = page.get_attribute("#job-monitor", "data-last-submitted") or ""
	if not job_id or job_id == previous:
		pytest.fail(f"the page's submit was refused: {page.inner_text('#jm-submit-message')}")
	return job_id


def test_guest_is_sent_to_login_and_back_to_the_monitor(browser, stack, tenants):
	context = new_context(browser, stack)
	page = context.new_page()
	page.goto("/job-monitor")
	assert "/login?redirect-to=" in page.url and "job-monitor" in page.url
	page.fill("#login_email", tenants["member"])
	page.fill("#login_password", DEMO_PASSWORD)
	page.click("#login-button")
	page.wait_for_url("**/job-monitor")
	page.wait_for_selector("#job-monitor[data-ready='1']")
	assert page.inner_text("#jm-user") == tenants["member"]
	# a member gets no dead letter queue and no metrics
	assert page.locator("#jm-dead-letter").count() == 0
	assert page.locator("#jm-metrics").count() == 0
	context.close()


def test_member_sees_a_submitted_job_progress_live_to_completion(browser, stack, tenants):
	context, page = open_monitor(browser, stack, tenants["member"])
	page.evaluate("window.__notReloaded = true")

	job_id = submit_from_page(page, tenants["org"], "demo_sleep", '{"seconds": 3, "steps": 6}')

	row = job_row(page, job_id)
	row.locator(".jm-status[data-status='Running']").wait_for()
	# a value strictly between 0 and 100 shows the bar moved while the job ran
	page.wait_for_function(
		"""id => {
			const bar = document.querySelector(`tr[data-job-id="${id}"] .jm-progress`);
			const v = bar && Number(bar.getAttribute('aria-valuenow'));
			return v > 0 && v < 100;
		}""",
		arg=job_id,
	)
	row.locator(".jm-status[data-status='Completed']").wait_for()
	assert row.locator(".jm-progress").get_attribute("aria-valuenow") == "100"
	assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"

	row.locator(".jm-history-btn").click()
	history = page.locator("#jm-history-list .jm-history-item")
	history.filter(has_text="Running → Completed").wait_for()
	assert history.first.get_attribute("data-to-status") == "Pending"

	page.screenshot(path=_screenshot("job-monitor.png"), full_page=True)
	context.close()


def test_member_cancels_a_running_job_from_the_page(browser, stack, tenants):
	context, page = open_monitor(browser, stack, tenants["member"])
	job_id = submit_from_page(page, tenants["org"], "demo_sleep", '{"seconds": 60, "steps": 60}')
	row = job_row(page, job_id)
	row.locator(".jm-status[data-status='Running']").wait_for()

	row.locator(".jm-cancel").click()

	row.locator(".jm-status[data-status='Canceled']").wait_for()
	assert row.locator(".jm-cancel").count() == 0
	assert wait_for_status(job_id, "Canceled", timeout=5).status == "Canceled"
	context.close()


def test_system_manager_retries_a_dead_lettered_job_to_completion(browser, stack, tenants):
	job_type = make_job_type("dartwing.demo.demo_fail", max_retries=0)
	frappe.db.commit()
	job_id = _submit_as(tenants["member"], job_type, tenants["org"])
	wait_for_status(job_id, "Dead Letter")
	# the operator ships a fix for the handler, then retries from the dead letter queue
	frappe.db.set_value("Job Type", job_type, "handler", "dartwing.demo.demo_noop")
	frappe.db.commit()

	context, page = open_monitor(browser, stack, tenants["admin"])
	dead = page.locator(f"tr.jm-dl-row[data-job-id='{job_id}']")
	dead.wait_for()
	assert dead.locator(".jm-error-type").inner_text() == "PermanentError"
	assert "demo_fail always fails" in dead.locator(".jm-error-message").inner_text()
	assert dead.locator(".jm-attempt-count").inner_text() == "1"
	page.wait_for_selector("#job-monitor[data-metrics]", state="attached")
	if page.get_attribute("#job-monitor", "data-metrics") == "loaded":
		# the failure just recorded is in the last 24 hours, so the chart has at least one bar
		page.locator("#jm-failures-chart svg rect.jm-bar").first.wait_for()
	dead.locator(".jm-dl-error summary").click()  # open the traceback for the picture
	page.locator("#jm-dead-letter").screenshot(path=_screenshot("dead-letter.png"))

	page.select_option("#jm-filter-organization", tenants["org"])
	dialogs: list[str] = []
	page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
	dead.locator(".jm-dl-retry-one").click()

	job_row(page, job_id).locator(".jm-status[data-status='Completed']").wait_for()
	assert dialogs and "Retry 1 dead-lettered job" in dialogs[0]
	page.locator(f"tr.jm-dl-row[data-job-id='{job_id}']").wait_for(state="detached")
	assert wait_for_status(job_id, "Completed", timeout=5).status == "Completed"
	context.close()


def test_a_member_of_another_organization_sees_none_of_these_jobs(browser, stack, tenants):
	own_job = _submit_as(tenants["member"], "demo_noop", tenants["org"])
	context, page = open_monitor(browser, stack, tenants["outsider"])

	page.locator("#jm-jobs-body .jm-empty", has_text="No jobs yet").wait_for()
	assert job_row(page, own_job).count() == 0
	assert page.locator("tr.jm-job").count() == 0  # the outsider's organization has no jobs
	options = page.locator("#jm-filter-organization option").all_inner_texts()
	assert tenants["org"] not in options and tenants["other_org"] in options
	assert page.locator("#jm-dead-letter").count() == 0
	context.close()


def test_the_page_loads_its_script_and_style_as_built_bundles(browser, stack, tenants):
	with open(os.path.join(REPO_ROOT, "sites", "assets", "assets.json")) as f:
		manifest = json.load(f)
	context, page = open_monitor(browser, stack, tenants["member"])
	scripts = page.eval_on_selector_all("script[src]", "nodes => nodes.map(n => n.getAttribute('src'))")
	styles = page.eval_on_selector_all(
		"link[rel=stylesheet]", "nodes => nodes.map(n => n.getAttribute('href'))"
	)
	# one script (socket.io-client inside it) and one style, both the hashed files of the last build
	assert scripts == [manifest["job_monitor.bundle.js"]]
	assert styles == [manifest["job_monitor.bundle.css"]]
	assert re.fullmatch(r"/assets/dartwing/dist/js/job_monitor\.bundle\.\w+\.js", scripts[0])
	context.close()


def test_every_string_the_script_shows_comes_from_the_servers_translations(browser, stack, tenants):
	from dartwing.www.job_monitor import script_messages

	assert {"No jobs yet.", "Cancel", "Workers", "live"} <= set(script_messages())
	seen: dict[str, list[str]] = {}

	def pseudo_translate(config: dict) -> None:
		seen["untranslated"] = sorted(set(script_messages()) - set(config["messages"]))
		config["messages"] = {source: f"⟦{text}⟧" for source, text in config["messages"].items()}

	own_job = _submit_as(tenants["member"], "demo_noop", tenants["org"])
	wait_for_status(own_job, "Completed")
	context, page = open_monitor(browser, stack, tenants["member"], edit_config=pseudo_translate)
	assert seen["untranslated"] == []
	assert page.inner_text("#jm-live") == "⟦live⟧"
	row = job_row(page, own_job)
	assert row.locator(".jm-status").inner_text() == "⟦Completed⟧"
	assert row.locator(".jm-history-btn").inner_text() == "⟦History⟧"
	row.locator(".jm-history-btn").click()
	page.locator("#jm-history-list .jm-history-item", has_text="⟦attempt 1⟧").first.wait_for()
	context.close()

	context, page = open_monitor(browser, stack, tenants["outsider"], edit_config=pseudo_translate)
	page.locator("#jm-jobs-body .jm-empty", has_text="⟦No jobs yet.⟧").wait_for()
	context.close()


def test_a_status_event_arriving_in_several_rooms_is_applied_and_read_back_once(browser, stack, tenants):
	context, page = open_monitor(browser, stack, tenants["member"])
	status_reads: list[str] = []
	page.on(
		"request",
		lambda request: status_reads.append(request.url)
		if "dartwing.jobs.get_job_status" in request.url
		else None,
	)
	job_id = submit_from_page(page, tenants["org"], "demo_sleep", '{"seconds": 1, "steps": 2}')
	job_row(page, job_id).locator(".jm-status[data-status='Completed']").wait_for()
	# every change after the submission is announced (Queued, Running, Completed)
	announced = sum(1 for from_status, _to, _attempt in history(job_id) if from_status)
	page.wait_for_function(
		"n => Number(document.getElementById('job-monitor').dataset.statusEventsApplied) >= n", arg=announced
	)
	page.wait_for_selector("#job-monitor[data-job-reads-pending='0']", state="attached")

	received = int(page.get_attribute("#job-monitor", "data-status-events-received"))
	applied = int(page.get_attribute("#job-monitor", "data-status-events-applied"))
	reads = [url for url in status_reads if job_id in url]
	# the member shares the job's, the organization's and their own room with the job: copies arrive
	assert received > applied, (received, applied)
	assert applied == announced
	assert 1 <= len(reads) <= applied, (reads, applied)
	context.close()


def test_times_are_shown_in_the_users_time_zone_not_the_browsers(browser, stack, tenants):
	user = ensure_user(f"e2e-tz-{frappe.generate_hash(length=6)}@example.test", "Kolkata")
	make_member(user, tenants["org"], role="Member")
	frappe.db.set_value("User", user, "time_zone", "Asia/Kolkata")
	job_id = _submit_as(user, "demo_noop", tenants["org"])
	frappe.db.commit()
	created = frappe.db.get_value("Background Job", job_id, "creation")
	site_zone = ZoneInfo(frappe.utils.get_system_timezone())
	expected = (
		datetime.fromisoformat(str(created))
		.replace(tzinfo=site_zone)
		.astimezone(ZoneInfo("Asia/Kolkata"))
		.strftime("%Y-%m-%d %H:%M:%S")
	)

	context, page = open_monitor(browser, stack, user, timezone_id="America/New_York")
	assert job_row(page, job_id).locator(".jm-col-created").inner_text() == expected
	context.close()


def test_the_workers_figure_is_the_number_of_live_workers(browser, stack, tenants):
	context, page = open_monitor(browser, stack, tenants["admin"])
	page.wait_for_selector("#job-monitor[data-metrics='loaded']", state="attached")
	figure = page.locator(".jm-number[data-metric='workers']")
	value = figure.locator(".jm-number-value").inner_text()
	assert re.fullmatch(r"\d+", value), value
	assert int(value) >= 2  # the two workers this module started
	assert re.fullmatch(r"Workers \(\d+ busy\)", figure.locator(".jm-number-label").inner_text())
	context.close()


def test_member_sees_a_batch_of_their_organization_end_live_and_an_outsider_sees_none(
	browser, stack, tenants
):
	context, page = open_monitor(browser, stack, tenants["member"])
	page.evaluate("window.__notReloaded = true")
	frappe.set_user(tenants["member"])
	try:
		items = [{"seconds": 1, "steps": 2, "n": n, "run": frappe.generate_hash(length=6)} for n in range(3)]
		batch = engine.submit_jobs("demo_sleep", tenants["org"], items).batch
		frappe.db.commit()
	finally:
		frappe.set_user("Administrator")
	row = page.locator(f"tr.jm-batch[data-batch='{batch}']")
	row.wait_for()  # the first job's end reloads the panel (batch_progress), or the batch's end does
	row.locator(".jm-status[data-status='Completed']").wait_for(timeout=60_000)
	assert row.locator(".jm-progress").get_attribute("aria-valuenow") == "100"
	assert "3 of 3 ended" in row.locator(".jm-progress-message").inner_text()
	assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"
	context.close()

	context, page = open_monitor(browser, stack, tenants["outsider"])
	page.locator("#jm-batches-body .jm-empty", has_text="No batches yet").wait_for()
	assert page.locator("tr.jm-batch").count() == 0
	context.close()


def _submit_as(user: str, job_type: str, organization: str) -> str:
	frappe.set_user(user)
	try:
		job = engine.submit_job(job_type, organization, {})
		frappe.db.commit()
	finally:
		frappe.set_user("Administrator")
	return job.name


def _screenshot(name: str) -> str:
	os.makedirs(SCREENSHOTS, exist_ok=True)
	return os.path.abspath(os.path.join(SCREENSHOTS, name))


def test_upcoming_runs_show_the_members_schedules_only(browser, stack, tenants):
	frappe.set_user(tenants["member"])
	schedule = frappe.get_doc(
		{
			"doctype": "Job Schedule",
			"organization": tenants["org"],
			"job_type": "demo_noop",
			"cron_expression": "0 7 * * *",
		}
	).insert()
	frappe.set_user("Administrator")
	frappe.db.commit()
	context, page = open_monitor(browser, stack, tenants["member"])
	row = page.locator(f"tr.jm-schedule[data-schedule='{schedule.name}']")
	row.wait_for()
	assert "0 7 * * *" in row.inner_text() and "Active" in row.inner_text()
	assert "07:00:00" in row.locator("td").first.inner_text()
	context.close()
	context, page = open_monitor(browser, stack, tenants["outsider"])
	page.wait_for_selector("#job-monitor[data-schedules='loaded']", state="attached")
	assert page.locator(f"tr.jm-schedule[data-schedule='{schedule.name}']").count() == 0
	context.close()


def test_a_paused_job_type_and_why_its_job_waits_are_shown(browser, stack, tenants):
	from dartwing.dartwing_core.background_jobs import pauses

	job_type = make_job_type()
	pauses.pause_job_type(job_type)
	frappe.db.commit()
	job = _submit_as(tenants["member"], job_type, tenants["org"])
	try:
		context, page = open_monitor(browser, stack, tenants["member"])
		banner = page.locator(f"#jm-paused li[data-job-type='{job_type}']")
		assert "Administrator" in banner.inner_text(), banner.inner_text()
		job_row(page, job).wait_for()
		job_row(page, job).locator("td").first.click()
		waiting = page.locator("#jm-history-waiting[data-gate='job_type_paused']")
		waiting.wait_for()
		assert "paused by Administrator" in waiting.inner_text(), waiting.inner_text()
		context.close()
	finally:
		pauses.resume_job_type(job_type)
		frappe.db.commit()
