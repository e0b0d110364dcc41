"""The checks of ``validation`` as the API uses them: a refusal becomes ``frappe.ValidationError`` (HTTP 417)
with a translatable message naming the argument.

Contract: each function returns the accepted value or throws ValidationError; nothing else escapes, for
any value of any argument. Dates are read with ``frappe.utils.get_datetime`` (Frappe's formats).
"""

import datetime
from collections.abc import Callable
from typing import Any, NoReturn

import frappe
from frappe import _
from frappe.utils import get_datetime

from dartwing.dartwing_core.background_jobs import validation


def integer(name: str, value: Any, *, lo: int, hi: int, default: int | None = None) -> int:
	return _checked(validation.bounded_int, name, value, lo=lo, hi=hi, default=default)


def moment(name: str, value: Any) -> datetime.datetime | None:
	return _checked(validation.bounded_datetime, name, value, parse=get_datetime)


def text(name: str, value: Any, *, required: bool = False) -> str | None:
	return _checked(validation.text, name, value, required=required)


def text_list(name: str, value: Any, *, max_items: int) -> list[str]:
	return _checked(validation.text_list, name, value, max_items=max_items)


def json_object(name: str, value: Any) -> None:
	_checked(validation.json_object, name, value)


def refuse(exc: validation.InvalidInput) -> NoReturn:
	frappe.throw(_(exc.template).format(*exc.values), frappe.ValidationError)


def _checked(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
	try:
		return check(*args, **kwargs)
	except validation.InvalidInput as exc:
		refuse(exc)
