"""Checks that turn any value a caller can send (any JSON value, form text, a Python object) into the one
the engine needs, or refuse it. Pure: imports no frappe.

Contract: every function returns the accepted value or raises ``InvalidInput`` (a ValueError) with a
short English reason naming the argument; callers turn it into ``frappe.ValidationError`` (HTTP 417).
Nothing here raises anything else (no OverflowError, RecursionError, TypeError), whatever it is given,
so no argument can reach MariaDB or ``int()`` in a shape that would end in a server error.
"""

import datetime
import decimal
import math
import re
from collections.abc import Mapping
from typing import Any

MIN_YEAR = (
	1900  # earliest date a caller may name (MariaDB DATETIME starts at 1000; none of our data is older)
)
MAX_YEAR = 9999  # MariaDB DATETIME and Python's datetime both end here
MAX_TEXT_LENGTH = 140  # characters in a name argument: Frappe's names are varchar(140)
MAX_JSON_DEPTH = 32  # nesting levels of a parameters object (deeper is a mistake, and json would recurse)
INT64_MIN, INT64_MAX = (
	-(2**63),
	2**63 - 1,
)  # integers inside parameters: what MariaDB and clients keep exactly
_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d{1,30}(\.0*)?\s*$")  # "12", " -3 ", "5.0"; never "1e3" or "inf"
_DATE_TEXT_LENGTH = 64  # characters: longer is not a date, and dateutil should not be fed it


class InvalidInput(ValueError):
	"""The argument cannot be accepted. ``template`` and ``values`` let the caller translate the reason."""

	def __init__(self, template: str, *values: Any) -> None:
		super().__init__(template.format(*values))
		self.template, self.values = template, values


def bounded_int(name: str, value: Any, *, lo: int, hi: int, default: int | None = None) -> int:
	"""An integer in [lo, hi] from an int, an integral float, or integer text; None/"" give ``default``.

	Booleans, non-finite or fractional numbers, other text and containers are refused.
	"""
	if value is None or value == "":
		if default is None:
			raise InvalidInput("{0} is required", name)
		return default
	number = _integer(value)
	if number is None:
		raise InvalidInput("{0} must be an integer between {1} and {2}", name, lo, hi)
	if not lo <= number <= hi:
		raise InvalidInput("{0} must be between {1} and {2}", name, lo, hi)
	return number


def _integer(value: Any) -> int | None:
	if isinstance(value, bool):
		return None  # true is not a page size
	if isinstance(value, int):
		return value
	if isinstance(value, float | decimal.Decimal):
		# finite, integral and within 64 bits before int(): int(1e308) would build a 309-digit number
		if not math.isfinite(value) or abs(value) > INT64_MAX or value != int(value):
			return None
		return int(value)
	if isinstance(value, str) and _INTEGER_TEXT.match(value):
		return int(value.strip().split(".", 1)[0])
	return None


def bounded_datetime(name: str, value: Any, *, parse: Any = None) -> datetime.datetime | None:
	"""A datetime between years MIN_YEAR and MAX_YEAR from a datetime, a date or date text; None/"" give None.

	``parse`` turns text into a datetime (the caller passes frappe.utils.get_datetime, so the formats are
	Frappe's); without it ISO 8601 is read. Any failure of ``parse`` is a refusal.
	"""
	if value is None or value == "":
		return None
	if isinstance(value, datetime.datetime):
		moment = value
	elif isinstance(value, datetime.date):
		moment = datetime.datetime.combine(value, datetime.time())
	elif isinstance(value, str) and 0 < len(value) <= _DATE_TEXT_LENGTH and value.isprintable():
		moment = _parse_text(value, parse)
	else:
		moment = None
	if not isinstance(moment, datetime.datetime):
		raise InvalidInput("{0} is not a valid date or datetime", name)
	if not MIN_YEAR <= moment.year <= MAX_YEAR:
		raise InvalidInput("{0} must be between the years {1} and {2}", name, MIN_YEAR, MAX_YEAR)
	# aware datetimes cannot be compared with the naive ones the database holds
	return moment.replace(tzinfo=None) if moment.tzinfo else moment


def _parse_text(text: str, parse: Any) -> Any:
	try:
		return parse(text) if parse else datetime.datetime.fromisoformat(text.strip())
	except Exception:  # dateutil raises ParserError, OverflowError, TypeError, ...: all mean "not a date"
		return None


def text(name: str, value: Any, *, required: bool = False, max_length: int = MAX_TEXT_LENGTH) -> str | None:
	"""A name-like string (a job id, an organization, a status) the database can be asked about.

	None/"" give None (or "{name} is required"); non-strings, over-long strings and strings that are not
	valid Unicode (a lone surrogate from a JSON escape would fail in the database driver) are refused.
	"""
	if value is None or value == "":
		if required:
			raise InvalidInput("{0} is required", name)
		return None
	if not isinstance(value, str):
		raise InvalidInput("{0} must be a string", name)
	if len(value) > max_length:
		raise InvalidInput("{0} must be at most {1} characters", name, max_length)
	if not _encodable(value):
		raise InvalidInput("{0} must be valid Unicode text", name)
	return value


def text_list(name: str, value: Any, *, max_items: int, max_length: int = MAX_TEXT_LENGTH) -> list[str]:
	"""A list of distinct non-empty name-like strings (order kept), at most ``max_items`` of them."""
	if not isinstance(value, list | tuple):
		raise InvalidInput("{0} must be a list of job IDs", name)
	for item in value:
		if not isinstance(item, str) or not item:
			raise InvalidInput("{0} must be a list of job IDs", name)
		text(name, item, max_length=max_length)
	distinct = list(dict.fromkeys(value))
	if len(distinct) > max_items:
		raise InvalidInput("{0} may hold at most {1} job IDs", name, max_items)
	return distinct


def _encodable(value: str) -> bool:
	try:
		value.encode("utf-8")
	except UnicodeEncodeError:
		return False
	return True


def json_object(name: str, value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
	"""Refuse a parameters value that cannot be stored and read back exactly.

	Walks without recursion, so any depth is answered: nesting deeper than ``max_depth``, non-finite
	floats, integers outside signed 64 bits and keys that are not strings are refused; strings must be
	valid Unicode. Dates, datetimes, times, Decimals (finite) and other leaves are left to the hasher.
	"""
	if not isinstance(value, Mapping):
		raise InvalidInput("{0} must be a JSON object", name)
	pending: list[tuple[Any, int]] = [(value, 1)]
	while pending:
		item, depth = pending.pop()
		if isinstance(item, Mapping | list | tuple):
			if depth > max_depth:
				raise InvalidInput("{0} may nest at most {1} levels", name, max_depth)
			if isinstance(item, Mapping):
				for key in item:
					if not isinstance(key, str) or not _encodable(key):
						raise InvalidInput("{0} keys must be strings", name)
				children = item.values()
			else:
				children = item
			pending.extend((child, depth + 1) for child in children)
		else:
			_check_leaf(name, item)


def _check_leaf(name: str, item: Any) -> None:
	if isinstance(item, bool) or item is None:
		return
	if isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
		raise InvalidInput("{0} may hold integers between {1} and {2} only", name, INT64_MIN, INT64_MAX)
	if isinstance(item, float | decimal.Decimal) and not math.isfinite(item):
		raise InvalidInput("{0} may not hold NaN or Infinity", name)
	if isinstance(item, str) and not _encodable(item):
		raise InvalidInput("{0} must be valid Unicode text", name)
