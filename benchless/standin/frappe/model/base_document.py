"""Field storage and raw row writes: mirrors ``frappe/model/base_document.py`` (Frappe 15).

Contract:
- A document keeps its field values as attributes; child tables are lists of child documents carrying
  ``parent``, ``parenttype``, ``parentfield`` and ``idx``.
- ``get`` / ``set`` / ``update`` / ``append`` / ``extend`` / ``as_dict`` / ``as_json`` behave as Frappe's.
- ``db_insert`` / ``db_update`` write one row with no hooks. A primary-key clash raises
  ``frappe.DuplicateEntryError`` (a 'hash' name is retried with a fresh one); another unique key clash
  raises ``frappe.UniqueValidationError``.
- ``get_valid_dict`` sanitises values as Frappe does before a write: Check/Int -> int, Float-like -> float,
  JSON dict/list -> JSON text, '' -> NULL for dates and unique fields.
"""

import datetime
import json
import weakref
from typing import Any

import frappe
from frappe import _
from frappe.model import (
	child_table_fields,
	datetime_fields,
	default_fields,
	float_like_fields,
	int_like_fields,
	table_fields,
)
from frappe.utils import cint, cstr, flt, now_datetime

_controller_cache: dict[str, type] = {}


def get_controller(doctype: str) -> type:
	"""The controller class ``<app>.<module>.doctype.<dt>.<dt>.<CamelCase>``, else ``Document``."""
	if doctype in _controller_cache:
		return _controller_cache[doctype]
	from frappe.model.document import Document

	meta = frappe.get_meta(doctype)
	class_name = doctype.replace(" ", "").replace("-", "")
	try:
		module = frappe.get_module(meta.get_controller_module())
	except ImportError as e:
		# a missing controller module is fine (plain Document); a broken one is not
		if e.name and meta.get_controller_module().startswith(e.name):
			module = None
		else:
			raise
	controller = getattr(module, class_name, None) if module else None
	if controller is None:
		controller = Document
	_controller_cache[doctype] = controller
	return controller


class BaseDocument:
	_reserved_keywords = frozenset(("doctype", "meta", "flags", "parent_doc", "_meta", "_table_fieldnames"))

	def __init__(self, d: dict | None = None):
		if d:
			if d.get("doctype"):
				self.doctype = d["doctype"]
			self.update(d)
		self.dont_update_if_missing = []

	@property
	def meta(self):
		return frappe.get_meta(self.doctype)

	def __getattr__(self, key: str) -> Any:
		# unset fields read as None, as on Frappe documents loaded with all columns
		if key.startswith("__") or key in ("doctype",):
			raise AttributeError(key)
		if key in self._valid_fieldnames():
			return None
		raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

	def _valid_fieldnames(self) -> set:
		try:
			doctype = self.__dict__.get("doctype")
			if not doctype:
				return set()
			meta = frappe.get_meta(doctype)
		except Exception:
			return set()
		names = set(meta.get_valid_columns()) | {df.fieldname for df in meta.get_table_fields()}
		return names | set(default_fields) | set(child_table_fields) | {"name"}

	# ------------------------------------------------------------------ field access

	def update(self, d: dict) -> "BaseDocument":
		"""Set fields from ``d`` (name first, so child rows can point at it)."""
		if "name" in d:
			self.name = d["name"]
		for key, value in d.items():
			self.set(key, value)
		return self

	def get(self, key, filters=None, limit=None, default=None) -> Any:
		if isinstance(key, dict):
			return _filter(self.get_all_children(), key, limit=limit)
		if filters:
			if isinstance(filters, dict):
				return _filter(self.__dict__.get(key) or [], filters, limit=limit)
			default = filters
		value = self.__dict__.get(key, default)
		if value is None and default is not None:
			value = default
		if limit and isinstance(value, list | tuple) and len(value) > limit:
			value = value[:limit]
		return value

	def set(self, key: str, value: Any, as_value: bool = False) -> None:
		if key in self._reserved_keywords:
			return
		if not as_value and key in self._table_fieldnames():
			self.__dict__[key] = []
			if value:
				self.extend(key, value)
			return
		self.__dict__[key] = value

	def _table_fieldnames(self) -> set:
		doctype = self.__dict__.get("doctype")
		if not doctype:
			return set()
		try:
			return {df.fieldname for df in frappe.get_meta(doctype).get_table_fields()}
		except frappe.DoesNotExistError:
			return set()

	def delete_key(self, key: str) -> None:
		self.__dict__.pop(key, None)

	def append(self, key: str, value: Any = None) -> "BaseDocument":
		"""Add a child row to table field ``key`` and return it (saved with the parent)."""
		if value is None:
			value = {}
		if not isinstance(value, dict | BaseDocument):
			raise ValueError(
				f"Document for field {key!r} attached to child table must be a dict or BaseDocument"
			)
		rows = self.__dict__.setdefault(key, [])
		child = self._init_child(value, key)
		rows.append(child)
		child.parent_doc = self
		return child

	def extend(self, key: str, value) -> None:
		try:
			value = iter(value)
		except TypeError:
			raise ValueError from None
		for row in value:
			self.append(key, row)

	def _init_child(self, value, key: str) -> "BaseDocument":
		if isinstance(value, BaseDocument):
			child = value
		else:
			df = self.meta.get_field(key)
			if not df:
				raise AttributeError(key)
			data = dict(value)
			data["doctype"] = df.options
			child = get_controller(df.options)(data)
		child.parent = self.name
		child.parenttype = self.doctype
		child.parentfield = key
		if child.get("docstatus") is None:
			child.docstatus = 0
		if not child.get("idx"):
			child.idx = len(self.__dict__.get(key) or []) + 1
		if not child.get("name"):
			child.__dict__["__islocal"] = 1
		return child

	@property
	def parent_doc(self):
		ref = self.__dict__.get("_parent_doc")
		return ref() if ref else None

	@parent_doc.setter
	def parent_doc(self, value) -> None:
		self.__dict__["_parent_doc"] = weakref.ref(value)

	def __getstate__(self) -> dict:
		# a weakref cannot be pickled (RQ job arguments, caches): children re-link on load
		state = self.__dict__.copy()
		state.pop("_parent_doc", None)
		return state

	def __setstate__(self, state: dict) -> None:
		self.__dict__.update(state)

	def get_all_children(self, parenttype=None) -> list:
		children = []
		for df in self.meta.get_table_fields():
			if parenttype and df.options != parenttype:
				continue
			children.extend(self.__dict__.get(df.fieldname) or [])
		return children

	def is_new(self) -> bool:
		return bool(self.get("__islocal"))

	# ------------------------------------------------------------------ serialisation

	def get_valid_dict(self, sanitize: bool = True, convert_dates_to_str: bool = False) -> dict:
		"""{column: value} for this row, sanitised for the database."""
		meta = self.meta
		out = {}
		for column in meta.get_valid_columns():
			value = self.__dict__.get(column)
			df = meta.get_field(column)
			if df and sanitize:
				value = _sanitize(df, value)
			elif column in ("docstatus", "idx") and sanitize:
				value = cint(value)
			if convert_dates_to_str and isinstance(value, datetime.date | datetime.time | datetime.timedelta):
				value = str(value)
			out[column] = value
		return out

	def as_dict(
		self,
		no_nulls=False,
		no_default_fields=False,
		convert_dates_to_str=False,
		no_child_table_fields=False,
	) -> dict:
		out = self.get_valid_dict(sanitize=False, convert_dates_to_str=convert_dates_to_str)
		for df in self.meta.get_table_fields():
			out[df.fieldname] = [
				child.as_dict(
					no_nulls=no_nulls,
					no_default_fields=no_default_fields,
					convert_dates_to_str=convert_dates_to_str,
					no_child_table_fields=no_child_table_fields,
				)
				for child in self.__dict__.get(df.fieldname) or []
			]
		if no_nulls:
			out = {k: v for k, v in out.items() if v is not None}
		if no_default_fields:
			for key in default_fields:
				out.pop(key, None)
		if no_child_table_fields:
			for key in child_table_fields:
				out.pop(key, None)
		for key in ("__islocal", "__unsaved", "_user_tags", "__onload", "_liked_by", "__run_link_triggers"):
			if self.__dict__.get(key):
				out[key] = self.__dict__[key]
		out["doctype"] = self.doctype
		return frappe._dict(out)

	def as_json(self) -> str:
		return frappe.as_json(self.as_dict())

	# ------------------------------------------------------------------ raw writes

	def db_insert(self, ignore_if_duplicate: bool = False) -> None:
		"""INSERT this row (no hooks); see the module contract for duplicate handling."""
		if not self.name:
			from frappe.model.naming import set_new_name

			set_new_name(self)
		now = now_datetime()
		if not self.get("creation"):
			self.creation = self.modified = now
			self.modified_by = self.owner = self.get("owner") or frappe.session.user
		row = self.get_valid_dict()
		columns = ", ".join(f"`{c}`" for c in row)
		placeholders = ", ".join(["%s"] * len(row))
		try:
			frappe.db.sql(
				f"insert into `tab{self.doctype}` ({columns}) values ({placeholders})", list(row.values())
			)
		except frappe.db.IntegrityError as e:
			self._handle_insert_conflict(e, ignore_if_duplicate)
			return
		self.__dict__.pop("__islocal", None)

	def _handle_insert_conflict(self, e: Exception, ignore_if_duplicate: bool) -> None:
		if frappe.db.is_primary_key_violation(e):
			if self.meta.autoname == "hash" and not self.flags.get("_hash_retried"):
				# astronomically rare hash collision: draw a new name once
				self.flags._hash_retried = True
				self.name = None
				self.db_insert(ignore_if_duplicate)
				return
			if ignore_if_duplicate:
				return
			frappe.msgprint(_("{0} {1} already exists").format(_(self.doctype), frappe.bold(self.name)))
			raise frappe.DuplicateEntryError(self.doctype, self.name, e)
		if frappe.db.is_unique_key_violation(e):
			self.show_unique_validation_message(e)
		raise e

	def db_update(self) -> None:
		"""UPDATE this row by name (inserts if it is new); no hooks."""
		if self.get("__islocal") or not self.name:
			self.db_insert()
			return
		row = self.get_valid_dict()
		name = row.pop("name")
		assignments = ", ".join(f"`{c}`=%s" for c in row)
		try:
			frappe.db.sql(
				f"update `tab{self.doctype}` set {assignments} where name=%s", [*row.values(), name]
			)
		except frappe.db.IntegrityError as e:
			if frappe.db.is_unique_key_violation(e):
				self.show_unique_validation_message(e)
			raise

	def show_unique_validation_message(self, e: Exception) -> None:
		key_name = str(e).split("'")[-2] if "'" in str(e) else ""
		fieldname = self._fieldname_from_key(key_name)
		frappe.msgprint(_("{0} must be unique").format(self.meta.get_label(fieldname)))
		raise frappe.UniqueValidationError(self.doctype, self.name, e)

	def _fieldname_from_key(self, key_name: str) -> str:
		key_name = key_name.split(".")[-1]
		for candidate in (key_name, key_name.removeprefix("unique_"), key_name.removesuffix("_index")):
			if self.meta.has_field(candidate):
				return candidate
		return key_name

	def get_password(self, fieldname: str = "password", raise_exception: bool = True) -> str | None:
		from frappe.utils.password import get_decrypted_password

		value = self.get(fieldname)
		if value and not _is_masked(value):
			return value
		return get_decrypted_password(self.doctype, self.name, fieldname, raise_exception=raise_exception)

	def _save_passwords(self) -> None:
		"""Store Password fields encrypted in __Auth; the column keeps only asterisks."""
		from frappe.utils.password import remove_encrypted_password, set_encrypted_password

		for df in self.meta.get_password_fields():
			value = self.get(df.fieldname)
			if value and not _is_masked(value):
				set_encrypted_password(self.doctype, self.name, value, df.fieldname)
				self.set(df.fieldname, "*" * len(value))
			elif not value and not self.is_new():
				remove_encrypted_password(self.doctype, self.name, df.fieldname)

	def __repr__(self) -> str:
		name = self.name or "unsaved"
		return f"<{self.doctype}: {name}{' (child of ' + self.parent + ')' if self.get('parent') else ''}>"


def _is_masked(value: Any) -> bool:
	return isinstance(value, str) and value != "" and set(value) == {"*"}


def _sanitize(df, value: Any) -> Any:
	fieldtype = df.fieldtype
	if fieldtype == "Check":
		return 1 if cint(value) else 0
	if fieldtype in int_like_fields:
		return cint(value)
	if fieldtype in float_like_fields:
		return flt(value)
	if fieldtype == "JSON" and isinstance(value, dict | list):
		return json.dumps(value, sort_keys=True, indent=4, separators=(",", ": "), default=str)
	if fieldtype == "JSON" and value == "":
		# MariaDB's JSON type checks json_valid(), which an empty string fails
		return None
	if fieldtype in datetime_fields and value == "":
		return None
	if df.get("unique") and cstr(value).strip() == "":
		# empty unique values are NULL so that many rows may leave the field empty
		return None
	return value


def _filter(rows: list, filters: dict, limit=None) -> list:
	out = []
	for row in rows:
		if all(_matches(row.get(k), v) for k, v in filters.items()):
			out.append(row)
			if limit and len(out) >= limit:
				break
	return out


def _matches(value: Any, condition: Any) -> bool:
	if isinstance(condition, list | tuple) and len(condition) == 2:
		op, target = condition
		op = str(op).lower()
		if op in ("in", "not in"):
			return (value in target) == (op == "in")
		if op == "!=":
			return value != target
		if op == "=":
			return value == target
	return value == condition
