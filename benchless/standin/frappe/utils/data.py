"""Date, number and string helpers: mirrors ``frappe/utils/data.py`` (Frappe 15).

Contract: the same names, signatures and return types as Frappe for the helpers dartwing uses.
Datetimes are NAIVE and expressed in the system timezone; here the system timezone is the machine's
(there is no System Settings doctype in benchless), so ``now_datetime()`` equals local wall-clock time.
"""

import datetime
import os
from decimal import Decimal
from typing import Any, TypeAlias

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

DATE_FORMAT = "%Y-%m-%d"
TIME_FORMAT = "%H:%M:%S.%f"
DATETIME_FORMAT = f"{DATE_FORMAT} {TIME_FORMAT}"

DateTimeLikeObject: TypeAlias = str | datetime.date | datetime.datetime
NumericType: TypeAlias = int | float | Decimal

_ZERO_DATES = ("0001-01-01", "0000-00-00")


class _dict(dict):
	"""dict with attribute access; missing attributes read as None (as frappe._dict)."""

	__slots__ = ()
	__setattr__ = dict.__setitem__
	__delattr__ = dict.__delitem__

	__getattr__ = dict.get

	def __getstate__(self) -> dict:
		return dict(self)

	def __setstate__(self, state: dict) -> None:
		self.update(state)

	def update(self, *args, **kwargs) -> "_dict":
		"""Update in place and return self (Frappe's _dict.update is chainable)."""
		super().update(*args, **kwargs)
		return self

	def copy(self) -> "_dict":
		return _dict(self)


def get_system_timezone() -> str:
	"""The machine's IANA timezone name (benchless has no System Settings)."""
	tz = os.environ.get("TZ")
	if tz:
		return tz.lstrip(":")
	try:
		with open("/etc/timezone") as f:
			name = f.read().strip()
		if name:
			return name
	except OSError:
		pass
	try:
		target = os.path.realpath("/etc/localtime")
		if "zoneinfo/" in target:
			return target.split("zoneinfo/", 1)[1]
	except OSError:
		pass
	return "UTC"


def now_datetime() -> datetime.datetime:
	"""Naive current datetime in the system timezone (the machine's local time)."""
	return datetime.datetime.now()


def now() -> str:
	"""Current datetime as 'YYYY-MM-DD HH:MM:SS.ffffff'."""
	from frappe import local

	current = now_datetime()
	flags = getattr(local, "flags", None)
	current_date = flags.current_date if flags else None
	if current_date:
		return getdate(current_date).strftime(DATE_FORMAT) + " " + current.strftime(TIME_FORMAT)
	return current.strftime(DATETIME_FORMAT)


def nowdate() -> str:
	return now_datetime().strftime(DATE_FORMAT)


def today() -> str:
	return nowdate()


def nowtime() -> str:
	return now_datetime().strftime(TIME_FORMAT)


def _is_zero_date(value: str) -> bool:
	return value.startswith(_ZERO_DATES)


def getdate(
	string_date: DateTimeLikeObject | None = None, parse_day_first: bool = False
) -> datetime.date | None:
	"""Coerce to a date; falsy -> today; zero dates -> None; unparsable str -> ValidationError."""
	if not string_date:
		return now_datetime().date()
	if isinstance(string_date, datetime.datetime):
		return string_date.date()
	if isinstance(string_date, datetime.date):
		return string_date
	if isinstance(string_date, str) and _is_zero_date(string_date):
		return None
	try:
		return date_parser.parse(str(string_date), dayfirst=parse_day_first).date()
	except (ValueError, OverflowError):
		import frappe

		frappe.throw(
			frappe._("{} is not a valid date string.").format(frappe.bold(string_date)),
			title=frappe._("Invalid Date"),
		)


def get_datetime(
	datetime_str: DateTimeLikeObject | datetime.timedelta | None = None,
) -> datetime.datetime | datetime.timedelta | None:
	"""Coerce to a datetime; None -> now; date -> midnight; zero/empty -> None."""
	if datetime_str is None:
		return now_datetime()
	if isinstance(datetime_str, datetime.datetime | datetime.timedelta):
		return datetime_str
	if isinstance(datetime_str, datetime.date):
		return datetime.datetime.combine(datetime_str, datetime.time())
	if not datetime_str or (isinstance(datetime_str, str) and _is_zero_date(datetime_str)):
		return None
	try:
		return datetime.datetime.strptime(datetime_str, DATETIME_FORMAT)
	except ValueError:
		return date_parser.parse(datetime_str)


def get_time(time_str: str | datetime.time | datetime.timedelta) -> datetime.time:
	if isinstance(time_str, datetime.datetime):
		return time_str.time()
	if isinstance(time_str, datetime.time):
		return time_str
	if isinstance(time_str, datetime.timedelta):
		return (datetime.datetime.min + time_str).time()
	return date_parser.parse(time_str).time()


def add_to_date(
	date: DateTimeLikeObject | None,
	years: int = 0,
	months: int = 0,
	weeks: int = 0,
	days: int = 0,
	hours: int = 0,
	minutes: int = 0,
	seconds: int = 0,
	as_string: bool = False,
	as_datetime: bool = False,
) -> DateTimeLikeObject:
	"""Add a relativedelta; str input gives str output, hours force a datetime (as Frappe)."""
	if date is None:
		date = now_datetime()
	if hours:
		as_datetime = True
	if isinstance(date, str):
		as_string = True
		if " " in date:
			as_datetime = True
		try:
			date = date_parser.parse(date)
		except ValueError:
			pass
	date = date + relativedelta(
		years=years, months=months, weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds
	)
	if as_string:
		return date.strftime(DATETIME_FORMAT if as_datetime else DATE_FORMAT)
	return date


def add_days(date: DateTimeLikeObject, days: int) -> DateTimeLikeObject:
	return add_to_date(date, days=days)


def time_diff(string_ed_date: DateTimeLikeObject, string_st_date: DateTimeLikeObject) -> datetime.timedelta:
	return get_datetime(string_ed_date) - get_datetime(string_st_date)


def time_diff_in_seconds(string_ed_date: DateTimeLikeObject, string_st_date: DateTimeLikeObject) -> float:
	return time_diff(string_ed_date, string_st_date).total_seconds()


def cint(s: NumericType | str | None, default: int = 0) -> int:
	"""int(s), else int(float(s)), else default; never raises."""
	try:
		return int(s)
	except Exception:
		try:
			return int(float(s))
		except Exception:
			return default


def flt(
	s: NumericType | str | None, precision: int | None = None, rounding_method: str | None = None
) -> float:
	"""float(s) with ',' stripped; rounded to precision; 0.0 on conversion error."""
	if isinstance(s, str):
		s = s.replace(",", "")
	try:
		num = float(s)
	except Exception:
		return 0.0
	if precision is not None:
		num = round(num, cint(precision))
	return num


def cstr(s: Any, encoding: str = "utf-8") -> str:
	"""None -> '', bytes decoded, others str()."""
	if s is None:
		return ""
	if isinstance(s, bytes):
		return s.decode(encoding)
	return str(s)


def sbool(x: str) -> bool | Any:
	"""'true'/'1' -> True, 'false'/'0' -> False, anything else unchanged."""
	if isinstance(x, str):
		lowered = x.lower()
		if lowered in ("true", "1"):
			return True
		if lowered in ("false", "0"):
			return False
	return x


def cast(fieldtype: str, value: Any = None) -> Any:
	"""Cast a value to a fieldtype's python type (subset of Frappe's cast)."""
	if fieldtype in ("Int", "Check"):
		return cint(value)
	if fieldtype in ("Float", "Currency", "Percent"):
		return flt(value)
	if fieldtype == "Date":
		return getdate(value) if value else None
	if fieldtype == "Datetime":
		return get_datetime(value) if value else None
	if fieldtype == "Time":
		return get_time(value) if value else None
	return cstr(value) if value is not None else value


def is_html(text: str) -> bool:
	return isinstance(text, str) and "<" in text and ">" in text


def escape_html(text: str) -> str:
	import html

	return html.escape(cstr(text), quote=True)


def _comma_join(some_list: list | tuple | str, word: str, add_quotes: bool) -> str:
	if isinstance(some_list, list | tuple):
		items = [f"'{s}'" if add_quotes else str(s) for s in some_list]
		if len(items) <= 1:
			return "".join(items)
		return ", ".join(items[:-1]) + f" {word} " + items[-1]
	return some_list


def validate_email_address(email_str: str, throw: bool = False) -> str:
	import re

	email = cstr(email_str).strip()
	if re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
		return email
	if throw:
		import frappe

		frappe.throw(
			frappe._("{0} is not a valid Email Address").format(email), frappe.InvalidEmailAddressError
		)
	return ""
