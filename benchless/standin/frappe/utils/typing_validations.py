"""Argument type validation for whitelisted functions.

Mirrors ``frappe/utils/typing_validations.py`` (Frappe 15). ``frappe.whitelist`` wraps every whitelisted
function with :func:`validate_argument_types`; while ``apply_condition()`` is true (a request is being
served, or tests run) each annotated argument is converted to its annotation or rejected with
``frappe.FrappeTypeError`` (HTTP 417):
"Argument '{name}' should be of type '{type}' but got '{value type}' instead."

Frappe delegates the conversion to pydantic's lax mode; pydantic is not a benchless dependency, so the
same lax rules are implemented here for the types whitelisted APIs use: str, int, float, bool (widened to
int | bool | float as Frappe does), None, dict / list / tuple / set (JSON strings are parsed, since form
posts carry them as text), Optional / Union / Literal, Any, date / datetime and plain classes.
Unannotated parameters, ``*args`` / ``**kwargs``, string and ForwardRef annotations are not checked.
"""

import collections.abc
import datetime
import functools
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ForwardRef, Literal, Union

import frappe
from frappe.exceptions import FrappeTypeError

# Frappe gives bool arguments slack: 0/1 and floats are accepted as they are.
SLACK_DICT = {bool: (int, bool, float)}
_TRUE_STRINGS = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE_STRINGS = frozenset(("0", "off", "f", "false", "n", "no"))
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"^([+-]?[0-9](?:_?[0-9])*)(?:\.0+)?$", re.ASCII)


class _Invalid(Exception):
	"""The value cannot be converted to the annotation."""


def _default_condition() -> bool:
	return bool(getattr(frappe.local, "request", None) or frappe.local.flags.in_test)


def validate_argument_types(func: Callable, apply_condition: Callable = _default_condition) -> Callable:
	"""Wrap ``func`` so its annotated arguments are converted (or rejected) before every call."""

	@functools.wraps(func)
	def wrapper(*args, **kwargs):
		if apply_condition():
			args, kwargs = transform_parameter_types(func, args, kwargs)
		return func(*args, **kwargs)

	return wrapper


def transform_parameter_types(func: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
	"""Return ``(args, kwargs)`` with each annotated argument converted to its annotation."""
	annotations = _annotations(func)
	if not (args or kwargs) or not annotations:
		return args, kwargs

	params = inspect.signature(func).parameters
	positional = [
		name for name, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
	]
	new_args, new_kwargs = list(args), dict(kwargs)
	supplied = dict(zip(positional, args, strict=False)) | kwargs

	for name, annotation in annotations.items():
		param = params.get(name)
		if name not in supplied or param is None or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
			continue
		if _is_unresolved(annotation):
			continue
		value = supplied[name]
		accepted = _accepted_type(annotation, param.default)
		try:
			converted = _convert(value, accepted)
		except (_Invalid, TypeError, ValueError, OverflowError, RecursionError) as exc:
			raise_type_error(name, accepted, value, exc)
		if name in kwargs:
			new_kwargs[name] = converted
		else:
			new_args[positional.index(name)] = converted

	return tuple(new_args), new_kwargs


def raise_type_error(
	arg_name: str, arg_type: Any, arg_value: Any, current_exception: Exception | None = None
):
	"""Raise Frappe's FrappeTypeError for one argument."""
	raise FrappeTypeError(
		f"Argument '{arg_name}' should be of type '{qualified_name(arg_type)}' but got "
		f"'{qualified_name(arg_value)}' instead."
	) from current_exception


def qualified_name(obj: Any) -> str:
	"""Name of a type (or of a value's type) as Frappe prints it: builtins bare, typing forms as repr."""
	if isinstance(obj, tuple):
		return str(Union[obj])  # noqa: UP007
	if _origin(obj) is not None or isinstance(obj, types.UnionType) or obj is Any:
		return str(obj)
	cls = obj if inspect.isclass(obj) else type(obj)
	if cls.__module__ == "builtins":
		return cls.__qualname__
	return f"{cls.__module__}.{cls.__qualname__}"


def _annotations(func: Callable) -> dict[str, Any]:
	try:
		hints = typing.get_type_hints(func)
	except Exception:
		# unresolvable forward references: fall back to the raw annotations (strings are skipped later)
		hints = dict(getattr(func, "__annotations__", {}))
	hints.pop("return", None)
	return hints


def _is_unresolved(annotation: Any) -> bool:
	if isinstance(annotation, str | ForwardRef):
		return True
	return any(isinstance(arg, str | ForwardRef) for arg in typing.get_args(annotation))


def _accepted_type(annotation: Any, default: Any) -> Any:
	"""The annotation widened as Frappe widens it: bool slack, plus the type of the default value."""
	accepted = SLACK_DICT.get(annotation, annotation)
	if default is inspect.Parameter.empty:
		return accepted
	if isinstance(accepted, tuple):
		return accepted if type(default) in accepted else (*accepted, type(default))
	if default is None and _allows_none(accepted):
		return accepted
	return (accepted, type(default))


def _origin(annotation: Any) -> Any:
	return typing.get_origin(annotation)


def _allows_none(annotation: Any) -> bool:
	if annotation in (None, type(None), Any):
		return True
	return _is_union(annotation) and any(_allows_none(a) for a in typing.get_args(annotation))


def _is_union(annotation: Any) -> bool:
	return _origin(annotation) in (Union, types.UnionType)


def _convert(value: Any, annotation: Any) -> Any:
	"""Convert ``value`` to ``annotation`` in pydantic's lax style, or raise _Invalid."""
	if isinstance(annotation, tuple):
		return _convert_union(value, annotation)
	if annotation is Any or annotation is object:
		return value
	if annotation is None or annotation is type(None):
		if value is None:
			return None
		raise _Invalid
	if _is_union(annotation):
		return _convert_union(value, typing.get_args(annotation))
	origin = _origin(annotation)
	if origin is Literal:
		return _convert_literal(value, typing.get_args(annotation))
	if origin is not None:
		return _convert_generic(value, origin, typing.get_args(annotation))
	converter = _SCALARS.get(annotation)
	if converter:
		return converter(value)
	if inspect.isclass(annotation):
		if isinstance(value, annotation):
			return value
		raise _Invalid
	return value


def _convert_union(value: Any, members: tuple) -> Any:
	# an exact type match wins first (pydantic's "smart" union), then the lax conversions in order
	for member in members:
		if inspect.isclass(member) and _origin(member) is None and type(value) is member:
			return value
		if member in (None, type(None)) and value is None:
			return None
	for member in members:
		try:
			return _convert(value, member)
		except (_Invalid, TypeError, ValueError):
			continue
	raise _Invalid


def _convert_literal(value: Any, choices: tuple) -> Any:
	for choice in choices:
		if value == choice and type(value) is type(choice):
			return choice
	for choice in choices:
		# lax: "1" may stand for the literal 1 when it came as text
		if isinstance(value, str) and not isinstance(choice, str) and value == str(choice):
			return choice
	raise _Invalid


def _convert_generic(value: Any, origin: Any, args: tuple) -> Any:
	if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
		data = _parse_json(value, dict)
		if len(args) == 2:
			return {_convert(k, args[0]): _convert(v, args[1]) for k, v in data.items()}
		return data
	if origin in (list, tuple, set, frozenset) or _is_sequence_abc(origin):
		items = _parse_json(value, (list, tuple, set, frozenset))
		container = origin if origin in (list, tuple, set, frozenset) else list
		if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
			return tuple(_convert(item, args[0]) for item in items)
		if origin is tuple and args:
			if len(args) != len(items):
				raise _Invalid
			return tuple(_convert(item, arg) for item, arg in zip(args, items, strict=True))
		if args:
			return container(_convert(item, args[0]) for item in items)
		return container(items)
	if origin is type:
		if inspect.isclass(value):
			return value
		raise _Invalid
	# other generics (Callable, Iterable, ...) are not converted
	return value


def _is_sequence_abc(origin: Any) -> bool:
	return origin in (collections.abc.Sequence, collections.abc.Iterable, collections.abc.Collection)


def _parse_json(value: Any, expected: type | tuple[type, ...]) -> Any:
	# As pydantic's lax python mode in Frappe 15: a JSON *string* is not a dict or list. A container
	# arrives as such only from a JSON request body; form and query values stay strings.
	if isinstance(value, expected):
		return value
	raise _Invalid


def _to_str(value: Any) -> str:
	if isinstance(value, str):
		return value
	if isinstance(value, bytes | bytearray):
		return value.decode()
	raise _Invalid


def _to_int(value: Any) -> int:
	# pydantic-core's lax int: floats must be finite, integral and inside 64 bits ("int_parsing_size");
	# text is an optionally signed run of digits (underscores between them, trailing ".0…" allowed), never
	# "1e3", "inf" or "nan"; integers and integer text of any size pass.
	if isinstance(value, bool):
		return int(value)
	if isinstance(value, int):
		return value
	if isinstance(value, float | Decimal):
		if not value.is_finite() if isinstance(value, Decimal) else not math.isfinite(value):
			raise _Invalid
		if not _INT64_MIN < value < _INT64_MAX or value != int(value):
			raise _Invalid
		return int(value)
	if isinstance(value, str):
		match = _INT_TEXT.match(value.strip())
		if not match:
			raise _Invalid
		return int(match.group(1))
	raise _Invalid


def _to_float(value: Any) -> float:
	if isinstance(value, bool | int | float | Decimal):
		return float(value)
	if isinstance(value, str):
		return float(value.strip())
	raise _Invalid


def _to_bool(value: Any) -> bool:
	if isinstance(value, bool):
		return value
	if isinstance(value, int | float) and value in (0, 1):
		return bool(value)
	if isinstance(value, str):
		text = value.strip().lower()
		if text in _TRUE_STRINGS:
			return True
		if text in _FALSE_STRINGS:
			return False
	raise _Invalid


def _to_datetime(value: Any) -> datetime.datetime:
	if isinstance(value, datetime.datetime):
		return value
	if isinstance(value, str):
		return datetime.datetime.fromisoformat(value.strip())
	raise _Invalid


def _to_date(value: Any) -> datetime.date:
	if isinstance(value, datetime.datetime):
		raise _Invalid
	if isinstance(value, datetime.date):
		return value
	if isinstance(value, str):
		return datetime.date.fromisoformat(value.strip())
	raise _Invalid


_SCALARS: dict[Any, Callable[[Any], Any]] = {
	str: _to_str,
	int: _to_int,
	float: _to_float,
	bool: _to_bool,
	Decimal: lambda v: Decimal(str(v)) if isinstance(v, int | float | str | Decimal) else _raise(),
	datetime.datetime: _to_datetime,
	datetime.date: _to_date,
	dict: lambda v: _parse_json(v, dict),
	list: lambda v: _parse_json(v, (list, tuple)) if not isinstance(v, tuple) else list(v),
	tuple: lambda v: tuple(_parse_json(v, (list, tuple))),
	set: lambda v: set(_parse_json(v, (list, tuple, set))),
}


def _raise() -> Any:
	raise _Invalid
