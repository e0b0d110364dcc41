"""The scheduler: enqueue due ``scheduler_events`` hooks, mirroring Frappe 15's ``frappe/utils/scheduler.py``
together with ``frappe/core/doctype/scheduled_job_type/scheduled_job_type.py``.

Contract:
- Events come from ``frappe.get_hooks("scheduler_events")`` of the installed apps: ``all``, ``hourly``,
  ``daily``, ``weekly``, ``monthly``, ``yearly``/``annual``, their ``*_long`` variants, and ``cron``
  (``{expression: [methods]}``), with Frappe's frequency names and cron map.
- An event is due when ``croniter(cron, last_execution).get_next() <= now``; a due event is enqueued with
  ``frappe.enqueue(method, queue="long" if "Long" in frequency else "default",
  job_id="scheduled_job::<method>", deduplicate=True)``, so an event still queued or running is never
  queued twice.
- Deviation: Frappe keeps ``last_execution`` in ``tabScheduled Job Type`` rows; benchless keeps it in a
  Redis hash on the site's ``redis_queue`` connection, key ``{bench_id}:scheduler:{site}:last_execution``
  (method -> ISO datetime). An event seen for the first time is recorded with the current time, as a new
  Scheduled Job Type row's ``creation`` would be, so it first runs at its next cron occurrence. The time is
  written when the event is enqueued (Frappe writes it when the job starts).
- Times are naive datetimes in the system timezone, as ``frappe.utils.now_datetime`` returns.
"""

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import CroniterBadCronError, croniter

import frappe
from frappe.utils.background_jobs import enqueue, get_redis_conn

DEFAULT_SCHEDULER_TICK = 60  # seconds between two scheduler passes (conf.scheduler_tick_interval)
DEFAULT_SCHEDULER_INTERVAL = 240  # seconds: "all" events run every 4 minutes (conf.scheduler_interval)
LONG_JITTER_SECONDS = (1, 600)  # Frappe spreads "* Long" events over up to 10 minutes

CRON_MAP = {
	"Yearly": "0 0 1 1 *",
	"Annual": "0 0 1 1 *",
	"Monthly": "0 0 1 * *",
	"Monthly Long": "0 0 1 * *",
	"Weekly": "0 0 * * 0",
	"Weekly Long": "0 0 * * 0",
	"Daily": "0 0 * * *",
	"Daily Long": "0 0 * * *",
	"Hourly": "0 * * * *",
	"Hourly Long": "0 * * * *",
}


@dataclass(frozen=True)
class ScheduledEvent:
	"""What a Scheduled Job Type row holds: the method, its frequency and, for Cron, the expression."""

	method: str
	frequency: str
	cron_format: str | None = None

	@property
	def job_id(self) -> str:
		return f"scheduled_job::{self.method}"

	@property
	def queue(self) -> str:
		return "long" if "Long" in self.frequency else "default"

	def get_cron(self) -> str:
		if self.cron_format:
			return self.cron_format
		if self.frequency == "All":
			interval = int(frappe.get_conf().get("scheduler_interval") or DEFAULT_SCHEDULER_INTERVAL)
			return f"*/{max(interval // 60, 1)} * * * *"
		return CRON_MAP[self.frequency]

	def get_next_execution(self, last_execution: datetime) -> datetime:
		next_execution = croniter(self.get_cron(), last_execution).get_next(datetime)
		if self.frequency.endswith("Long"):
			next_execution += timedelta(seconds=random.randint(*LONG_JITTER_SECONDS))
		return next_execution


def get_scheduled_events(hooks: dict | None = None) -> list[ScheduledEvent]:
	"""The events declared in ``scheduler_events`` hooks, as Frappe's ``insert_events`` reads them."""
	if hooks is None:
		hooks = frappe.get_hooks("scheduler_events") or {}
	events: list[ScheduledEvent] = []
	for key, value in hooks.items():
		if isinstance(value, dict):
			for cron_format, methods in value.items():
				events.extend(ScheduledEvent(m, "Cron", cron_format) for m in _as_list(methods))
		else:
			frequency = key.replace("_", " ").title()
			events.extend(ScheduledEvent(m, frequency) for m in _as_list(value))
	return events


def _as_list(methods) -> list[str]:
	return [methods] if isinstance(methods, str) else list(methods or [])


def _last_execution_key() -> str:
	from frappe.utils import get_bench_id

	return f"{get_bench_id()}:scheduler:{frappe.local.site}:last_execution"


def get_last_execution(method: str) -> datetime | None:
	value = get_redis_conn().hget(_last_execution_key(), method)
	return datetime.fromisoformat(value.decode()) if value else None


def set_last_execution(method: str, when: datetime) -> None:
	"""Record when ``method`` last ran (also how tests and operators make an event due)."""
	get_redis_conn().hset(_last_execution_key(), method, when.isoformat())


def is_event_due(event: ScheduledEvent, now: datetime) -> bool:
	last_execution = get_last_execution(event.method)
	if last_execution is None:
		set_last_execution(event.method, now)  # first sight plays the role of the row's creation
		return False
	return event.get_next_execution(last_execution) <= now


def enqueue_events(site: str) -> list[str]:
	"""One scheduler pass for the connected ``site``: enqueue every due event; returns their methods."""
	now = _now()
	enqueued = []
	events = get_scheduled_events()
	random.shuffle(events)  # as Frappe: no event always goes first
	for event in events:
		try:
			if not is_event_due(event, now):
				continue
		except (CroniterBadCronError, KeyError, ValueError):
			frappe.logger("scheduler").error(f"Invalid Job on {site} - {event.method}", exc_info=True)
			continue
		if enqueue(event.method, queue=event.queue, job_id=event.job_id, deduplicate=True):
			set_last_execution(event.method, now)
			enqueued.append(event.method)
	return enqueued


def _now() -> datetime:
	from frappe.utils import now_datetime

	return now_datetime()


def is_scheduler_inactive() -> bool:
	conf = frappe.local.conf
	return bool(conf.get("maintenance_mode") or conf.get("pause_scheduler") or conf.get("disable_scheduler"))


def enqueue_events_for_site(site: str) -> list[str]:
	"""Init and connect ``site``, enqueue its due events, and always drop the context afterwards."""
	try:
		frappe.init(site=site)
		frappe.connect()
		if is_scheduler_inactive():
			return []
		return enqueue_events(site=site)
	except Exception:
		frappe.logger("scheduler").error(f"Exception in Enqueue Events for Site {site}", exc_info=True)
		return []
	finally:
		frappe.destroy()


def start_scheduler(sites: list[str], tick: float, stop: threading.Event | None = None) -> None:
	"""Every ``tick`` seconds enqueue due events of each site, until ``stop`` is set (sleep first, as
	Frappe does, so a restarted scheduler does not burst)."""
	stop = stop or threading.Event()
	while not stop.wait(tick):
		for site in random.sample(sites, len(sites)):
			enqueue_events_for_site(site)
