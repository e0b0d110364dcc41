"""DocType metadata: mirrors ``frappe/model/meta.py`` (Frappe 15), read from the doctype JSON files.

Contract:
- ``get_meta(doctype)`` finds ``<app>/<scrub(module)>/doctype/<scrub(doctype)>/<scrub(doctype)>.json`` in
  every app on the bench (frappe first; modules from each app's ``modules.txt``) and returns a ``Meta``.
  Metas are cached per process; ``clear_meta_cache()`` (called by ``frappe.clear_cache``) drops them.
- ``Meta`` is a ``_dict`` of the JSON with ``fields`` / ``permissions`` as lists of ``_dict`` and the
  helpers Frappe code uses: ``get_field``, ``has_field``, ``get_valid_columns``, ``get_table_fields``,
  ``get_link_fields``, ``get_label``, ``get_options``.
- ``register_app(app)`` is a benchless-only hook letting test fixtures add an app that is not listed in
  ``sites/apps.txt``.
"""

import json
import os
from typing import Any

import frappe
from frappe.model import child_table_fields, default_fields, no_value_fields, table_fields

_meta_cache: dict[str, "Meta"] = {}
_doctype_index: dict[str, dict] = {}
_extra_apps: list[str] = []


def register_app(app: str) -> None:
	"""Make an importable app package's doctypes visible to get_meta (benchless test fixtures)."""
	if app not in _extra_apps:
		_extra_apps.append(app)
	clear_meta_cache()


def get_meta(doctype: str, cached: bool = True) -> "Meta":
	"""The Meta of ``doctype``; frappe.DoesNotExistError when no app defines it."""
	if cached and doctype in _meta_cache:
		return _meta_cache[doctype]
	meta = Meta(load_doctype_json(doctype))
	_meta_cache[doctype] = meta
	return meta


def clear_meta_cache(doctype: str | None = None) -> None:
	if doctype:
		_meta_cache.pop(doctype, None)
		return
	_meta_cache.clear()
	_doctype_index.clear()


def load_doctype_json(doctype: str) -> dict:
	entry = get_doctype_index().get(doctype)
	if not entry:
		frappe.throw(frappe._("DocType {0} not found").format(doctype), frappe.DoesNotExistError)
	with open(entry["path"]) as f:
		data = json.load(f)
	data["__app"] = entry["app"]
	return data


def get_doctype_index() -> dict[str, dict]:
	"""{doctype: {app, module, path}} for every doctype JSON of every app on the bench."""
	if not _doctype_index:
		for app in get_apps():
			_index_app(app)
	return _doctype_index


def get_apps() -> list[str]:
	apps = list(frappe.get_all_apps()) if hasattr(frappe, "get_all_apps") else ["frappe"]
	return apps + [app for app in _extra_apps if app not in apps]


def get_app_doctypes(app: str) -> list[str]:
	"""Doctype names defined by ``app``, in a stable order (child tables first)."""
	names = [name for name, entry in get_doctype_index().items() if entry["app"] == app]
	return sorted(names, key=lambda name: (not get_meta(name).istable, name))


def _index_app(app: str) -> None:
	app_path = _app_path(app)
	if not app_path:
		return
	modules_txt = os.path.join(app_path, "modules.txt")
	if not os.path.exists(modules_txt):
		return
	with open(modules_txt) as f:
		modules = [line.strip() for line in f if line.strip() and not line.startswith("#")]
	for module in modules:
		doctype_dir = os.path.join(app_path, frappe.scrub(module), "doctype")
		if not os.path.isdir(doctype_dir):
			continue
		for folder in sorted(os.listdir(doctype_dir)):
			path = os.path.join(doctype_dir, folder, f"{folder}.json")
			if not os.path.exists(path):
				continue
			with open(path) as f:
				name = json.load(f).get("name")
			if name:
				_doctype_index[name] = {"app": app, "module": module, "path": path}


def _app_path(app: str) -> str | None:
	try:
		module = frappe.get_module(app)
	except ImportError:
		return None
	return os.path.dirname(os.path.abspath(module.__file__))


class Meta(frappe._dict):
	"""Doctype definition with Frappe's lookup helpers; fields and permissions are lists of _dict."""

	def __init__(self, data: dict[str, Any]):
		super().__init__(data)
		self.fields = [frappe._dict(df, parent=self.name) for df in data.get("fields") or []]
		self.permissions = [frappe._dict(p) for p in data.get("permissions") or []]
		self.istable = int(data.get("istable") or 0)
		self.issingle = int(data.get("issingle") or 0)
		self.is_submittable = int(data.get("is_submittable") or 0)
		self.autoname = data.get("autoname") or ""
		self._fields_map = {df.fieldname: df for df in self.fields if df.get("fieldname")}
		# computed once, as Frappe's Meta caches its _table_fields and _valid_columns
		self._table_fields = [df for df in self.fields if df.fieldtype in table_fields]
		self._valid_columns = self._compute_valid_columns()

	def __getattr__(self, key: str) -> Any:
		return self.get(key)

	def get(self, key: str, filters: Any = None, default: Any = None) -> Any:
		"""dict.get, or (as BaseDocument.get) the rows of ``fields``/``permissions`` matching filters."""
		value = dict.get(self, key, default if not isinstance(filters, dict) else None)
		if isinstance(filters, dict) and isinstance(value, list):
			return [row for row in value if all(row.get(k) == v for k, v in filters.items())]
		if filters is not None and not isinstance(filters, dict) and value is None:
			return filters
		return value

	def get_field(self, fieldname: str) -> frappe._dict | None:
		return self._fields_map.get(fieldname)

	def has_field(self, fieldname: str) -> bool:
		return fieldname in self._fields_map

	def get_label(self, fieldname: str) -> str:
		df = self.get_field(fieldname)
		return (df.get("label") if df else None) or fieldname

	def get_options(self, fieldname: str) -> str:
		df = self.get_field(fieldname)
		return (df.get("options") if df else None) or ""

	def get_valid_columns(self) -> list[str]:
		"""Database columns of the table: standard columns, child columns, and value fields."""
		return list(self._valid_columns)

	def _compute_valid_columns(self) -> list[str]:
		columns = [c for c in default_fields if c != "doctype"]
		if self.istable:
			columns += list(child_table_fields)
		return columns + [df.fieldname for df in self.fields if df.fieldtype not in no_value_fields]

	def get_table_fields(self) -> list[frappe._dict]:
		return self._table_fields

	def get_link_fields(self) -> list[frappe._dict]:
		return [df for df in self.fields if df.fieldtype == "Link"]

	def get_select_fields(self) -> list[frappe._dict]:
		return [df for df in self.fields if df.fieldtype == "Select"]

	def get_password_fields(self) -> list[frappe._dict]:
		return [df for df in self.fields if df.fieldtype == "Password"]

	def get_controller_module(self) -> str:
		"""Dotted path of the controller module (``<app>.<module>.doctype.<dt>.<dt>``)."""
		app = self.get("__app") or "frappe"
		name = frappe.scrub(self.name)
		return f"{app}.{frappe.scrub(self.module)}.doctype.{name}.{name}"
