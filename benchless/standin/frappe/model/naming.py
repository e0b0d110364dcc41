"""Document naming: mirrors ``frappe/model/naming.py`` (Frappe 15).

Contract: ``set_new_name(doc)`` runs ``before_naming``, then the controller ``autoname`` (if still
unnamed), then the doctype's ``autoname`` option: ``hash`` (10 random characters), ``field:<f>``,
``format:PREFIX-{YYYY}-{#####}``, ``naming_series:``, ``prompt`` (the name must already be set) or a
dotted series such as ``PER-.#####``; a document still unnamed gets a hash. Series counters live in
``tabSeries`` and are incremented under ``SELECT ... FOR UPDATE``, so concurrent transactions get distinct
numbers (the second waits for the first to commit).
"""

import base64
import re
import secrets
import time

import frappe
from frappe import _
from frappe.utils import cint, cstr, now_datetime

BRACED_PARAMS_WORD_PATTERN = re.compile(r"(\{[\w | #]+\})")
BRACED_PARAMS_HASH_PATTERN = re.compile(r"(\{[#]+\})")


def set_new_name(doc) -> None:
	"""Give ``doc`` (and nothing else) its name, following the doctype's naming rule."""
	doc.run_method("before_naming")
	meta = frappe.get_meta(doc.doctype)
	autoname = meta.autoname or ""
	if autoname.lower() not in ("prompt", "uuid") and not frappe.flags.in_import:
		# a name set on the object is not kept unless the rule is 'prompt' (use insert(set_name=...))
		doc.name = None
	if meta.issingle:
		doc.name = doc.doctype
	if not doc.name:
		doc.run_method("autoname")
	if not doc.name and autoname:
		set_name_from_naming_options(autoname, doc)
	if not doc.name:
		doc.name = make_autoname("hash", doc.doctype)
	doc.name = validate_name(doc.doctype, doc.name)


def set_name_from_naming_options(autoname: str, doc) -> None:
	lowered = autoname.lower()
	if lowered.startswith("field:"):
		doc.name = _field_autoname(autoname, doc)
		if not doc.name:
			frappe.throw(_("{0} is required").format(frappe.get_meta(doc.doctype).get_label(autoname[6:])))
	elif lowered.startswith("naming_series:"):
		if not doc.get("naming_series"):
			frappe.throw(_("Naming Series mandatory"))
		doc.name = make_autoname(doc.naming_series + ".#####", "", doc)
	elif lowered.startswith("prompt"):
		if not doc.name:
			frappe.throw(_("Please set the document name"))
	elif lowered.startswith("format:"):
		doc.name = _format_autoname(autoname, doc)
	elif lowered == "hash":
		doc.name = make_autoname("hash", doc.doctype)
	elif "#" in autoname:
		doc.name = make_autoname(autoname, doc=doc)


def make_autoname(key: str = "", doctype: str = "", doc=None, *, ignore_validate: bool = False) -> str:
	"""A name from ``key``: 'hash', or a dotted series like 'ABC-.YYYY.-.####'."""
	if key == "hash":
		return (_timestamp_prefix() + _random_string(7))[:10]
	return parse_naming_series(key.split("."), doc=doc)


def _timestamp_prefix() -> str:
	# deciseconds, wrapped: names created close together share a prefix (better index locality)
	ts = int(time.time() * 10) % (32**4)
	return base64.b32hexencode(ts.to_bytes(length=5, byteorder="big")).decode()[-3:].lower()


def _random_string(length: int) -> str:
	return base64.b32hexencode(secrets.token_bytes(length)).decode()[:length].lower()


def parse_naming_series(parts: list[str] | str, doctype=None, doc=None, key: str | None = None) -> str:
	"""Resolve the parts of a naming series (date parts, fields, the # counter) into a name."""
	if isinstance(parts, str):
		parts = parts.split(".")
	name = ""
	series_set = False
	today = now_datetime()
	sentinel = object()
	for part in parts:
		if not part:
			continue
		if part.startswith("#"):
			value = "" if series_set else getseries(key if key is not None else name, len(part))
			series_set = True
		elif part in ("YY", "MM", "DD", "YYYY"):
			value = today.strftime({"YY": "%y", "MM": "%m", "DD": "%d", "YYYY": "%Y"}[part])
		elif part == "timestamp":
			value = str(today)
		elif doc is not None and (part.startswith("{") or doc.get(part, sentinel) is not sentinel):
			value = cstr(doc.get(part.strip("{}"))).strip()
		else:
			value = part
		name += cstr(value)
	return name


def getseries(key: str, digits: int) -> str:
	"""Next value of the ``key`` counter in tabSeries, zero-padded; the row stays locked until commit."""
	current = frappe.db.sql("select `current` from `tabSeries` where `name`=%s for update", (key,))
	if current and current[0][0] is not None:
		frappe.db.sql("update `tabSeries` set `current` = `current` + 1 where `name`=%s", (key,))
		value = cint(current[0][0]) + 1
	else:
		frappe.db.sql("insert into `tabSeries` (`name`, `current`) values (%s, 1)", (key,))
		value = 1
	return ("%0" + str(digits) + "d") % value


def _field_autoname(autoname: str, doc) -> str:
	return cstr(doc.get(autoname[6:])).strip()


def _format_autoname(autoname: str, doc) -> str:
	"""'format:LOG-{MM}-{field}-{#####}': words first, then the counter keyed by the text before it."""
	value = autoname[autoname.find(":") + 1 :]

	def word(match):
		param = match.group()
		if param.strip("{}").startswith("#"):
			return param
		return parse_naming_series([param[1:-1]], doc=doc)

	value = BRACED_PARAMS_WORD_PATTERN.sub(word, value)

	def counter(match):
		param = match.group()
		return parse_naming_series([param[1:-1]], doc=doc, key=value[: value.find(param)])

	return BRACED_PARAMS_HASH_PATTERN.sub(counter, value)


def validate_name(doctype: str, name) -> str:
	if not name:
		frappe.throw(_("No Name Specified for {0}").format(doctype))
	if isinstance(name, int):
		frappe.throw(_("Invalid name type (integer) for varchar name column"), frappe.NameError)
	name = name.strip()
	if name == doctype and not frappe.get_meta(doctype).issingle:
		frappe.throw(_("Name of {0} cannot be {1}").format(doctype, name), frappe.NameError)
	if re.findall("[<>]+", name):
		frappe.throw(
			_("Name cannot contain special characters like {0}").format("'<', '>'"), frappe.NameError
		)
	return name
