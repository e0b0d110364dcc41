"""The scheduler: due scheduler_events hooks are enqueued once, with Frappe's job ids and queues."""

import signal
import subprocess
import sys
import time
from datetime import timedelta

import frappe
import pytest
from frappe.tests.utils import patch_hooks
from frappe.utils import now_datetime
from frappe.utils.background_jobs import get_job, get_queue
from frappe.utils.scheduler import (
	ScheduledEvent,
	enqueue_events,
	get_last_execution,
	get_redis_conn,
	get_scheduled_events,
	set_last_execution,
)
from frappe.utils.scheduler import _last_execution_key as last_execution_key

import benchless
from benchless.testing import benchless_env, spawn

TICK_METHOD = "benchless.tests.test_jobs_scheduler.tick"
LONG_METHOD = "benchless.tests.test_jobs_scheduler.nightly"


def tick() -> None:
	"""Target of the test cron hook; slow so that it stays queued or started during the test."""
	time.sleep(5)


def nightly() -> None:
	"""Target of the test daily_long hook."""


HOOKS = {"cron": {"* * * * *": [TICK_METHOD]}, "daily_long": [LONG_METHOD]}


@pytest.fixture(autouse=True)
def clean_state():
	"""Fresh last-run times; scheduled jobs we queued are deleted (other suites may share the queues)."""
	get_redis_conn().delete(last_execution_key())
	yield
	get_redis_conn().delete(last_execution_key())
	for event in [*get_scheduled_events(HOOKS), *get_scheduled_events()]:
		job = get_job(event.job_id)
		if job:
			job.delete()


def _enqueue_test_events() -> list[str]:
	with patch_hooks({"scheduler_events": HOOKS}):
		return enqueue_events("test_site")


def test_hooks_are_read_with_frappe_frequencies():
	events = {e.method: e for e in get_scheduled_events(HOOKS)}
	assert events[TICK_METHOD] == ScheduledEvent(TICK_METHOD, "Cron", "* * * * *")
	assert events[LONG_METHOD].frequency == "Daily Long"
	assert events[LONG_METHOD].queue == "long"
	assert events[TICK_METHOD].queue == "default"
	assert ScheduledEvent("x", "All").get_cron() == "*/4 * * * *"


def test_first_sight_records_the_time_and_enqueues_nothing():
	assert _enqueue_test_events() == []
	assert get_last_execution(TICK_METHOD) is not None
	assert get_job(f"scheduled_job::{TICK_METHOD}") is None


def test_due_cron_event_is_enqueued_once_with_scheduled_job_id():
	set_last_execution(TICK_METHOD, now_datetime() - timedelta(minutes=2))
	set_last_execution(LONG_METHOD, now_datetime())  # not due before tomorrow midnight

	assert _enqueue_test_events() == [TICK_METHOD]
	job = get_job(f"scheduled_job::{TICK_METHOD}")
	assert job.origin == f"{frappe.conf.bench_id}:default"
	assert job.kwargs["method"] == TICK_METHOD
	assert get_last_execution(TICK_METHOD) > now_datetime() - timedelta(minutes=1)

	# due again a minute later, but the first one is still queued: deduplicated
	set_last_execution(TICK_METHOD, now_datetime() - timedelta(minutes=2))
	assert _enqueue_test_events() == []
	assert get_job(f"scheduled_job::{TICK_METHOD}").id == job.id


def test_cli_once_enqueues_the_apps_cron_hooks():
	cron_events = [e for e in get_scheduled_events() if e.frequency == "Cron"]
	if not cron_events:
		pytest.skip("no installed app declares a cron scheduler event")
	for event in cron_events:
		set_last_execution(event.method, now_datetime() - timedelta(days=2))

	out = subprocess.run(
		[sys.executable, "-m", "benchless", "scheduler", "--site", "test_site", "--once"],
		cwd=benchless.SITES_PATH,
		env=benchless_env(),
		capture_output=True,
		text=True,
		timeout=60,
	)
	assert out.returncode == 0, out.stderr
	for event in cron_events:
		assert event.method in out.stdout
		assert get_job(event.job_id) is not None, f"{event.method} was not enqueued"


def test_cli_loop_stops_cleanly_on_sigterm():
	proc = spawn("scheduler", "--site", "test_site", "--tick", "0.2", stdout=subprocess.PIPE, text=True)
	try:
		assert proc.stdout.readline().startswith("scheduler: test_site every 0.2 s")
		proc.send_signal(signal.SIGTERM)
		assert proc.wait(timeout=30) == 0
		assert "stopped" in proc.stdout.read()
	finally:
		proc.kill()
