"""MariaDB specifics of ``frappe.db``: mirrors ``frappe/database/mariadb/database.py`` (Frappe 15).

Contract: PyMySQL connection (utf8mb4, autocommit off, DECIMAL -> float, DATETIME -> datetime);
Frappe's type map for doctype columns; error classifiers (``is_deadlocked``, ``is_timedout``,
``is_duplicate_entry``, ``is_table_missing``, ...) as static methods; the driver's exception classes
exposed as ``frappe.db.InternalError`` / ``OperationalError`` / ``ProgrammingError`` / ``IntegrityError``;
``add_index`` / ``add_unique`` idempotent (commit first, as Frappe does, because DDL commits).
"""

import pymysql
from pymysql.constants import ER, FIELD_TYPE
from pymysql.converters import conversions, escape_string

import frappe
from frappe.database.database import Database, get_table_name
from frappe.utils import cstr, get_datetime


class MariaDBExceptionUtil:
	ProgrammingError = pymysql.ProgrammingError
	TableMissingError = pymysql.ProgrammingError
	OperationalError = pymysql.OperationalError
	InternalError = pymysql.InternalError
	SQLError = pymysql.ProgrammingError
	DataError = pymysql.DataError
	IntegrityError = pymysql.IntegrityError

	@staticmethod
	def _code(e: Exception) -> int | None:
		return e.args[0] if getattr(e, "args", None) and isinstance(e.args[0], int) else None

	@staticmethod
	def is_deadlocked(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == ER.LOCK_DEADLOCK

	@staticmethod
	def is_timedout(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == ER.LOCK_WAIT_TIMEOUT

	@staticmethod
	def is_read_only_mode_error(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == 1792

	@staticmethod
	def is_table_missing(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == ER.NO_SUCH_TABLE

	@staticmethod
	def is_missing_column(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == ER.BAD_FIELD_ERROR

	@staticmethod
	def is_duplicate_entry(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == ER.DUP_ENTRY

	@staticmethod
	def cant_drop_field_or_key(e: Exception) -> bool:
		return MariaDBExceptionUtil._code(e) == ER.CANT_DROP_FIELD_OR_KEY

	@staticmethod
	def is_primary_key_violation(e: Exception) -> bool:
		return (
			MariaDBExceptionUtil.is_duplicate_entry(e)
			and "PRIMARY" in cstr(e.args[1])
			and isinstance(e, pymysql.IntegrityError)
		)

	@staticmethod
	def is_unique_key_violation(e: Exception) -> bool:
		return (
			MariaDBExceptionUtil.is_duplicate_entry(e)
			and "Duplicate" in cstr(e.args[1])
			and isinstance(e, pymysql.IntegrityError)
		)


class MariaDBDatabase(MariaDBExceptionUtil, Database):
	REGEX_CHARACTER = "regexp"
	CONVERSION_MAP = conversions | {
		FIELD_TYPE.NEWDECIMAL: float,
		FIELD_TYPE.DATETIME: get_datetime,
	}
	default_port = "3306"

	def setup_type_map(self) -> None:
		self.db_type = "mariadb"
		varchar = ("varchar", self.VARCHAR_LEN)
		self.type_map = {
			"Currency": ("decimal", "21,9"),
			"Int": ("int", "11"),
			"Long Int": ("bigint", "20"),
			"Float": ("decimal", "21,9"),
			"Percent": ("decimal", "21,9"),
			"Check": ("int", "1"),
			"Small Text": ("text", ""),
			"Long Text": ("longtext", ""),
			"Code": ("longtext", ""),
			"Text Editor": ("longtext", ""),
			"Markdown Editor": ("longtext", ""),
			"HTML Editor": ("longtext", ""),
			"Date": ("date", ""),
			"Datetime": ("datetime", "6"),
			"Time": ("time", "6"),
			"Text": ("text", ""),
			"Data": varchar,
			"Link": varchar,
			"Dynamic Link": varchar,
			"Password": ("text", ""),
			"Select": varchar,
			"Rating": ("decimal", "3,2"),
			"Read Only": varchar,
			"Attach": ("text", ""),
			"Attach Image": ("text", ""),
			"Signature": ("longtext", ""),
			"Color": varchar,
			"Barcode": ("longtext", ""),
			"Geolocation": ("longtext", ""),
			"Duration": ("decimal", "21,9"),
			"Icon": varchar,
			"Phone": varchar,
			"Autocomplete": varchar,
			"JSON": ("json", ""),
		}

	def get_connection_settings(self) -> dict:
		settings = {
			"user": self.user,
			"conv": self.CONVERSION_MAP,
			"charset": "utf8mb4",
			"use_unicode": True,
			"autocommit": False,
		}
		if self.cur_db_name:
			settings["database"] = self.cur_db_name
		settings["host"] = self.host or "127.0.0.1"
		settings["port"] = int(self.port or self.default_port)
		if self.password:
			settings["password"] = self.password
		return settings

	def get_connection(self):
		return pymysql.connect(**self.get_connection_settings())

	@staticmethod
	def escape(s, percent=True) -> str:
		"""Quote a value for inlining in SQL; prefer passing values as parameters."""
		s = escape_string(cstr(s)).replace("`", "\\`")
		if percent:
			s = s.replace("%", "%%")
		return "'" + s + "'"

	def describe(self, doctype: str):
		return self.sql(f"DESC `{get_table_name(doctype)}`")

	def add_index(self, doctype: str, fields: list, index_name: str | None = None) -> None:
		"""Create ``index_name`` (default ``f1_f2_index``) on the fields unless it exists."""
		index_name = index_name or self.get_index_name(fields)
		table_name = get_table_name(doctype)
		if not self.has_index(table_name, index_name):
			self.commit()
			self.sql(f"alter table `{table_name}` add index `{index_name}`({', '.join(fields)})")

	def add_unique(self, doctype, fields, constraint_name=None) -> None:
		"""Create a unique key (default ``unique_f1_f2``) unless it exists."""
		if isinstance(fields, str):
			fields = [fields]
		constraint_name = constraint_name or "unique_" + "_".join(fields)
		exists = self.sql(
			"""select constraint_name from information_schema.table_constraints
			where table_schema=%s and table_name=%s and constraint_type='UNIQUE' and constraint_name=%s""",
			(self.cur_db_name, get_table_name(doctype), constraint_name),
		)
		if not exists:
			self.commit()
			self.sql(
				f"alter table `{get_table_name(doctype)}` add unique `{constraint_name}`({', '.join(fields)})"
			)
