"""Time arithmetic of jobs for later and recurring schedules. Pure: imports no frappe.

Contract:
- ``parse_run_at(value, now, site_tz)`` turns a ``run_at`` argument (a datetime, or ISO 8601 text) into
  a naive datetime in the site's time zone (the form ``frappe.utils.now_datetime`` returns), or None
  when it is due now (now or in the past). Aware values are converted to the site's zone; naive ones
  are taken as the site's. Anything else raises ``ValueError`` with a message for the caller.
- ``validate_cron(expression)`` accepts what croniter accepts (as Frappe's Scheduled Job Type does),
  limited to the five minute-resolution fields; ``validate_time_zone(name)`` accepts IANA names.
- ``occurrences_after(expression, tz, after, site_tz, count)``: the next occurrences strictly after
  ``after`` (site-naive), evaluated in the schedule's zone ``tz``, returned site-naive.
- ``decide_due(...)``: for a schedule whose ``next_run_at`` has come, whether to submit the occurrence
  or skip it as missed (the catch-up policy), and the schedule's next ``next_run_at`` — always after
  ``now``, so missed occurrences collapse into at most one job.
"""

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_RUN_AT_AHEAD_DAYS = 3660  # a run_at more than ~10 years ahead is refused as a mistake
MAX_RUN_AT_BEHIND_DAYS = 3660  # ... and so is one more than ~10 years ago (year typos such as 0202)
CRON_FIELDS = 5  # minute, hour, day of month, month, day of week (no seconds, no years)
MISSED_GRACE_SECONDS = 300  # s, an occurrence found later than this (or overtaken by the next) was missed

RUN_ONCE = "Run once"
SKIP_MISSED = "Skip missed"
CATCH_UP_POLICIES = (RUN_ONCE, SKIP_MISSED)


def parse_run_at(value: object, now: datetime.datetime, site_tz: str) -> datetime.datetime | None:
	"""The start time of a job for later (site-naive), or None when it may start now."""
	if value is None or value == "":
		return None
	if isinstance(value, str):
		try:
			value = datetime.datetime.fromisoformat(value.strip())
		except ValueError:
			raise ValueError(f"run_at {value!r} is not an ISO 8601 date and time") from None
	elif isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
		value = datetime.datetime.combine(value, datetime.time())
	if not isinstance(value, datetime.datetime):
		raise ValueError(f"run_at must be an ISO 8601 date and time, not {type(value).__name__}")
	if value.tzinfo is not None:
		value = value.astimezone(ZoneInfo(site_tz)).replace(tzinfo=None)
	if not (
		now - datetime.timedelta(days=MAX_RUN_AT_BEHIND_DAYS)
		<= value
		<= now + datetime.timedelta(days=MAX_RUN_AT_AHEAD_DAYS)
	):
		raise ValueError(f"run_at {value.isoformat()} is more than {MAX_RUN_AT_AHEAD_DAYS} days from now")
	return value if value > now else None


def validate_cron(expression: object) -> str:
	if not isinstance(expression, str) or not expression.strip():
		raise ValueError("A cron expression is required")
	expression = " ".join(expression.split())
	if len(expression.split(" ")) != CRON_FIELDS or not croniter.is_valid(expression):
		raise ValueError(
			f"{expression!r} is not a valid cron expression (five fields: minute hour day month weekday)"
		)
	return expression


def validate_time_zone(name: object) -> str:
	if not isinstance(name, str) or not name:
		raise ValueError("A time zone is required")
	try:
		ZoneInfo(name)
	except (ZoneInfoNotFoundError, ValueError):
		raise ValueError(f"{name!r} is not a known time zone") from None
	return name


def occurrences_after(
	expression: str, tz: str, after: datetime.datetime, site_tz: str, count: int = 1
) -> list[datetime.datetime]:
	"""The next ``count`` occurrences strictly after ``after``; both sides site-naive."""
	zone, site = ZoneInfo(tz), ZoneInfo(site_tz)
	start = after.replace(tzinfo=site).astimezone(zone)
	iterator = croniter(expression, start)
	return [iterator.get_next(datetime.datetime).astimezone(site).replace(tzinfo=None) for _ in range(count)]


@dataclass(frozen=True)
class DueDecision:
	submit: bool  # False: the occurrence was missed and the policy says skip it
	next_run_at: datetime.datetime  # the first occurrence after now


def decide_due(
	expression: str,
	tz: str,
	occurrence: datetime.datetime,
	now: datetime.datetime,
	site_tz: str,
	policy: str,
) -> DueDecision:
	"""What to do with a due occurrence (``occurrence`` <= ``now``) of a schedule."""
	following = occurrences_after(expression, tz, occurrence, site_tz)[0]
	missed = following <= now or (now - occurrence).total_seconds() > MISSED_GRACE_SECONDS
	next_run_at = following if following > now else occurrences_after(expression, tz, now, site_tz)[0]
	return DueDecision(submit=not (missed and policy == SKIP_MISSED), next_run_at=next_run_at)
