"""Schema sync from doctype JSON: mirrors ``frappe/model/sync.py`` + ``frappe/database/schema.py`` and
``frappe/database/mariadb/schema.py`` (Frappe 15).

Contract:
- ``sync_doctype(doctype)`` creates ``tab<DocType>`` with Frappe's standard columns (name PK, creation,
  modified, modified_by, owner, docstatus, idx; parent/parentfield/parenttype for child tables) and one
  column per value field using Frappe's MariaDB type map; ``search_index`` -> index ``<field>_index``,
  ``unique`` -> unique key ``<field>``. On an existing table it adds missing columns, modifies changed
  column types/defaults and adds missing indexes (never drops data). Then the controller module's
  ``on_doctype_update()`` runs.
- ``sync_for(app)`` syncs one app's doctypes; ``sync_all()`` every installed app's; both also make sure
  the ``__Auth`` and ``tabSeries`` tables exist. DDL commits the open transaction (as in MariaDB).
"""

import frappe
from frappe.model import no_value_fields
from frappe.model.meta import clear_meta_cache, get_app_doctypes, get_meta
from frappe.utils import cint, flt

TABLE_OPTIONS = "ENGINE=InnoDB ROW_FORMAT=DYNAMIC CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
NUMERIC_NOT_NULL = ("Check", "Int", "Long Int", "Currency", "Float", "Percent", "Duration", "Rating")
NO_DEFAULT_TYPES = (
	"Text",
	"Small Text",
	"Long Text",
	"Code",
	"Text Editor",
	"Markdown Editor",
	"HTML Editor",
	"JSON",
	"Password",
	"Attach",
	"Attach Image",
	"Signature",
	"Barcode",
	"Geolocation",
)


def sync_all(force: bool = False) -> None:
	"""Create or alter the tables of every installed app's doctypes."""
	clear_meta_cache()
	create_framework_tables()
	for app in frappe.get_installed_apps():
		sync_for(app, force=force)


def sync_for(app_name: str, force: bool = False, reset_permissions: bool = False) -> None:
	clear_meta_cache()
	create_framework_tables()
	for doctype in get_app_doctypes(app_name):
		sync_doctype(doctype)


def create_framework_tables() -> None:
	frappe.db.sql_ddl(
		f"""create table if not exists `__Auth` (
			`doctype` varchar(140) not null,
			`name` varchar(255) not null,
			`fieldname` varchar(140) not null,
			`password` text not null,
			`encrypted` int(1) not null default 0,
			primary key (`doctype`, `name`, `fieldname`)
		) {TABLE_OPTIONS}"""
	)
	frappe.db.sql_ddl(
		f"""create table if not exists `tabSeries` (
			`name` varchar(100) not null,
			`current` int(10) not null default 0,
			primary key (`name`)
		) {TABLE_OPTIONS}"""
	)


def sync_doctype(doctype: str) -> None:
	"""Make ``tab<doctype>`` match the JSON, then run the controller's ``on_doctype_update``."""
	meta = get_meta(doctype, cached=False)
	if meta.issingle:
		return
	if frappe.db.table_exists(doctype):
		alter_table(meta)
	else:
		create_table(meta)
	run_on_doctype_update(meta)
	frappe.db.commit()


def column_definition(df) -> str | None:
	"""SQL type (with NOT NULL/default) for a field, or None for fields without a column."""
	if df.fieldtype in no_value_fields:
		return None
	type_map = frappe.db.type_map
	if df.fieldtype not in type_map:
		return None
	base, size = type_map[df.fieldtype]
	length = cint(df.get("length"))
	if base == "varchar" and length:
		size = length
	definition = f"{base}({size})" if size else base
	default = df.get("default")
	if df.fieldtype in ("Check", "Int", "Long Int"):
		definition += f" not null default {cint(default)}"
	elif df.fieldtype in NUMERIC_NOT_NULL:
		definition += f" not null default {flt(default)}"
	elif (
		default not in (None, "")
		and df.fieldtype not in NO_DEFAULT_TYPES
		and ":" not in str(default)
		and not (
			df.fieldtype in ("Date", "Datetime", "Time")
			and str(default).lower() in ("today", "now", "__today")
		)
	):
		definition += f" default {frappe.db.escape(default, percent=False)}"
	return definition


def standard_columns(meta) -> list[str]:
	columns = [
		"`name` varchar(140) not null",
		"`creation` datetime(6) default null",
		"`modified` datetime(6) default null",
		"`modified_by` varchar(140) default null",
		"`owner` varchar(140) default null",
		"`docstatus` int(1) not null default 0",
		"`idx` int(8) not null default 0",
	]
	if meta.istable:
		columns += [
			"`parent` varchar(140) default null",
			"`parentfield` varchar(140) default null",
			"`parenttype` varchar(140) default null",
		]
	return columns


def create_table(meta) -> None:
	columns = standard_columns(meta)
	for df in meta.fields:
		definition = column_definition(df)
		if definition:
			columns.append(f"`{df.fieldname}` {definition}")
	keys = ["primary key (`name`)", "key `modified` (`modified`)", "key `creation` (`creation`)"]
	if meta.istable:
		keys.append("key `parent` (`parent`)")
	for df in meta.fields:
		if not column_definition(df):
			continue
		if df.get("unique"):
			keys.append(f"unique key `{df.fieldname}` (`{df.fieldname}`)")
		if df.get("search_index") and not df.get("unique"):
			keys.append(f"key `{df.fieldname}_index` (`{df.fieldname}`)")
	body = ",\n".join(columns + keys)
	frappe.db.sql_ddl(f"create table `tab{meta.name}` (\n{body}\n) {TABLE_OPTIONS}")


def alter_table(meta) -> None:
	"""Add or modify columns and add indexes so the table matches the JSON."""
	table = f"tab{meta.name}"
	existing = {
		row.name: row
		for row in frappe.db.sql(
			"""select column_name as name, column_type as type, column_default as `default`,
			is_nullable as nullable from information_schema.columns where table_schema=%s and table_name=%s""",
			(frappe.db.cur_db_name, table),
			as_dict=True,
		)
	}
	alterations = []
	standard = {c.split("`")[1]: c for c in standard_columns(meta)}
	for column, definition in standard.items():
		if column not in existing:
			alterations.append(f"add column {definition}")
	for df in meta.fields:
		definition = column_definition(df)
		if not definition:
			continue
		if df.fieldname not in existing:
			alterations.append(f"add column `{df.fieldname}` {definition}")
		elif _type_changed(existing[df.fieldname], definition):
			alterations.append(f"modify `{df.fieldname}` {definition}")
	alterations += _missing_indexes(meta, table)
	if alterations:
		frappe.db.sql_ddl(f"alter table `{table}` {', '.join(alterations)}")


def _type_changed(current, definition: str) -> bool:
	wanted = definition.split(" ", 1)[0].lower().replace(" ", "")
	have = (current.type or "").lower().replace(" ", "")
	if wanted == "json":
		# MariaDB reports JSON columns as longtext
		return have not in ("json", "longtext")
	return not (have == wanted or (have.startswith(wanted.split("(")[0]) and "(" not in wanted))


def _missing_indexes(meta, table: str) -> list[str]:
	rows = frappe.db.sql(f"show index from `{table}`", as_dict=True)
	index_names = {row.Key_name for row in rows}
	unique_columns = {row.Column_name for row in rows if not cint(row.Non_unique) and row.Seq_in_index == 1}
	out = []
	for df in meta.fields:
		if not column_definition(df):
			continue
		if df.get("unique") and df.fieldname not in unique_columns:
			name = df.fieldname if df.fieldname not in index_names else f"unique_{df.fieldname}"
			out.append(f"add unique key `{name}` (`{df.fieldname}`)")
		if df.get("search_index") and not df.get("unique") and f"{df.fieldname}_index" not in index_names:
			out.append(f"add index `{df.fieldname}_index` (`{df.fieldname}`)")
	return out


def run_on_doctype_update(meta) -> None:
	try:
		module = frappe.get_module(meta.get_controller_module())
	except ImportError:
		return
	hook = getattr(module, "on_doctype_update", None)
	if callable(hook):
		hook()
