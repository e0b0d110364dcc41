"""The database wrapper behind ``frappe.db``: mirrors ``frappe/database/database.py`` (Frappe 15).

Contract:
- One connection per ``Database`` object, opened lazily by the first ``sql()``; autocommit is off, so
  every statement runs inside the current transaction until ``commit()`` / ``rollback()``.
- ``sql()`` takes ``%s`` / ``%(name)s`` parameters only and returns tuples, ``_dict`` rows (as_dict),
  lists (as_list) or first-column values (pluck); ``()`` when the statement yields no result set.
- Deadlock -> ``frappe.QueryDeadlockError``, lock-wait timeout -> ``frappe.QueryTimeoutError``; DDL after
  writes in one transaction -> ``frappe.ImplicitCommitError`` (MariaDB would silently commit).
- ``commit()``: before_rollback/after_rollback reset, before_commit run, COMMIT, begin, after_commit run.
  ``rollback()`` (no savepoint): before_commit/after_commit reset, before_rollback run, ROLLBACK, begin,
  after_rollback run. ``rollback(save_point=...)`` only rolls back to the savepoint.
- Read helpers (get_value, get_values, exists, count, get_all, get_list) go through
  ``frappe.model.db_query.DatabaseQuery``, so filters are parameterised and field names validated.
"""

import random
import re
import string
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import frappe
from frappe.utils import CallbackManager, now_datetime

IFNULL_PATTERN = re.compile(r"ifnull\(", flags=re.IGNORECASE)
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \-]*$")
DefaultOrderBy = "KEEP_DEFAULT_ORDERING"
EmptyQueryValues = object()


def is_query_type(query: str, query_type: str | tuple[str, ...]) -> bool:
	"""True if the statement starts with one of the given keywords (case-insensitive)."""
	if isinstance(query_type, str):
		query_type = (query_type,)
	return query.lstrip().split(maxsplit=1)[0].lower().startswith(query_type) if query.strip() else False


def get_table_name(doctype: str) -> str:
	"""`tab<DocType>` unless the name is already a table name (``__Auth`` etc.)."""
	return doctype if doctype.startswith(("tab", "__")) else f"tab{doctype}"


class Database:
	"""Base class of ``frappe.db``; the MariaDB specifics live in ``frappe.database.mariadb``."""

	VARCHAR_LEN = 140
	MAX_COLUMN_LENGTH = 64
	DEFAULT_COLUMNS = ("name", "creation", "modified", "modified_by", "owner", "docstatus", "idx")
	CHILD_TABLE_COLUMNS = ("parent", "parenttype", "parentfield")
	MAX_WRITES_PER_TRANSACTION = 200_000

	class InvalidColumnName(frappe.ValidationError):
		pass

	def __init__(self, host=None, user=None, password=None, port=None, cur_db_name=None):
		self.setup_type_map()
		self.host = host
		self.port = port
		self.user = user
		self.password = password
		self.cur_db_name = cur_db_name
		self._conn = None
		self._cursor = None
		self.transaction_writes = 0
		self.auto_commit_on_many_writes = 0
		self.value_cache: dict = {}
		self.last_query = None
		self.before_commit = CallbackManager()
		self.after_commit = CallbackManager()
		self.before_rollback = CallbackManager()
		self.after_rollback = CallbackManager()

	def setup_type_map(self) -> None:
		self.db_type = ""
		self.type_map: dict = {}

	def connect(self) -> None:
		self._conn = self.get_connection()
		self._cursor = self._conn.cursor()

	def get_connection(self):
		raise NotImplementedError

	# ------------------------------------------------------------------ raw SQL

	def sql(
		self,
		query: str,
		values: Any = EmptyQueryValues,
		*,
		as_dict=0,
		as_list=0,
		debug=0,
		ignore_ddl=0,
		auto_commit=0,
		update=None,
		explain=False,
		run=True,
		pluck=False,
		as_iterator=False,
	):
		"""Run one statement and fetch its rows (see the module contract for the shapes)."""
		query = str(query)
		if not run:
			return query
		query = IFNULL_PATTERN.sub("coalesce(", query.strip())
		if not self._conn:
			self.connect()
		self.check_transaction_status(query)
		if auto_commit:
			self.commit()
		if values is EmptyQueryValues:
			values = None
		elif not isinstance(values, tuple | dict | list):
			values = (values,)
		try:
			self._cursor.execute(query, values)
		except Exception as e:
			self._raise_translated(e, ignore_ddl)
			return ()
		self.last_query = query
		if debug:
			frappe.log(self.mogrify(query, values))
		if auto_commit:
			self.commit()
		if not self._cursor.description:
			return ()
		result = self._cursor.fetchall()
		if pluck:
			return [row[0] for row in result]
		if as_dict:
			rows = self.fetch_as_dict(result)
			if update:
				for row in rows:
					row.update(update)
			return iter(rows) if as_iterator else rows
		if as_list:
			return [list(row) for row in result]
		return result

	def _raise_translated(self, e: Exception, ignore_ddl) -> None:
		"""Re-raise a driver error as Frappe does; swallow missing table/column only with ignore_ddl."""
		if self.is_deadlocked(e):
			raise frappe.QueryDeadlockError(e) from e
		if self.is_timedout(e):
			raise frappe.QueryTimeoutError(e) from e
		if self.is_read_only_mode_error(e):
			raise frappe.InReadOnlyMode(e) from e
		if ignore_ddl and (
			self.is_missing_column(e) or self.is_table_missing(e) or self.cant_drop_field_or_key(e)
		):
			return
		raise e

	def mogrify(self, query: str, values: Any) -> str:
		if not values or not self._cursor:
			return query
		return self._cursor.mogrify(query, values)

	def fetch_as_dict(self, result) -> list:
		keys = [column[0] for column in self._cursor.description]
		return [frappe._dict(zip(keys, row, strict=False)) for row in result]

	def sql_list(self, query, values=(), debug=False, **kwargs) -> list:
		return self.sql(query, values, **kwargs, debug=debug, pluck=True)

	def sql_ddl(self, query, debug=False) -> None:
		"""Commit, then run a DDL statement (DDL commits implicitly in MariaDB)."""
		self.commit()
		self.sql(query, debug=debug)

	def multisql(self, sql_dict: dict, values=(), **kwargs):
		return self.sql(sql_dict.get(self.db_type) or sql_dict.get("mariadb"), values, **kwargs)

	def check_transaction_status(self, query: str) -> None:
		"""Refuse implicit-commit DDL after writes; count writes and cap them as Frappe does."""
		self.check_implicit_commit(query)
		if is_query_type(query, ("commit", "rollback")):
			self.transaction_writes = 0
		if query.lstrip()[:6].lower() in ("update", "insert", "delete"):
			self.transaction_writes += 1
			if self.transaction_writes > self.MAX_WRITES_PER_TRANSACTION:
				if self.auto_commit_on_many_writes:
					self.commit()
				else:
					raise frappe.TooManyWritesError("Too many changes to database in single action.")

	def check_implicit_commit(self, query: str) -> None:
		if self.transaction_writes and is_query_type(
			query, ("start", "alter", "drop", "create", "begin", "truncate")
		):
			raise frappe.ImplicitCommitError("This statement can cause implicit commit", query)

	# ------------------------------------------------------------------ transactions

	def begin(self, *, read_only=False) -> None:
		read_only = read_only or frappe.flags.read_only
		self.sql(f"START TRANSACTION {'READ ONLY' if read_only else ''}".strip())

	def commit(self) -> None:
		"""Commit in Frappe's callback order (see module contract)."""
		self.before_rollback.reset()
		self.after_rollback.reset()
		self.before_commit.run()
		self.sql("commit")
		self.begin()
		self.after_commit.run()

	def rollback(self, *, save_point=None) -> None:
		"""Roll back to a savepoint, or the whole transaction with the rollback callbacks."""
		if save_point:
			self.sql(f"rollback to savepoint {self._savepoint_name(save_point)}")
			return
		self.before_commit.reset()
		self.after_commit.reset()
		self.before_rollback.run()
		self.sql("rollback")
		self.begin()
		self.after_rollback.run()

	def savepoint(self, save_point) -> None:
		self.sql(f"savepoint {self._savepoint_name(save_point)}")

	def release_savepoint(self, save_point) -> None:
		self.sql(f"release savepoint {self._savepoint_name(save_point)}")

	@staticmethod
	def _savepoint_name(save_point: str) -> str:
		if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(save_point)):
			raise frappe.ValidationError(f"Invalid savepoint name {save_point!r}")
		return str(save_point)

	def close(self) -> None:
		if self._conn:
			try:
				self._conn.close()
			except Exception:
				# closing a connection the server already dropped must not fail teardown
				pass
		self._cursor = None
		self._conn = None

	# ------------------------------------------------------------------ reads

	def get(self, doctype, filters=None, as_dict=True, cache=False):
		return self.get_value(doctype, filters, "*", as_dict=as_dict, cache=cache)

	def get_value(
		self,
		doctype: str,
		filters: Any = None,
		fieldname: str | list[str] = "name",
		ignore=None,
		as_dict=False,
		debug=False,
		order_by=DefaultOrderBy,
		cache=False,
		for_update=False,
		*,
		run=True,
		pluck=False,
		distinct=False,
		skip_locked=False,
		wait=True,
	):
		"""One value (one fieldname), one row (several, or as_dict), or None when nothing matches."""
		result = self.get_values(
			doctype,
			filters,
			fieldname,
			ignore,
			as_dict,
			debug,
			order_by,
			cache=cache,
			for_update=for_update,
			run=run,
			pluck=pluck,
			distinct=distinct,
			limit=1,
			skip_locked=skip_locked,
			wait=wait,
		)
		if not run:
			return result
		if not result:
			return None
		row = result[0]
		if pluck:
			return row
		if len(row) > 1 or as_dict:
			return row
		return row[0]

	def get_values(
		self,
		doctype: str,
		filters: Any = None,
		fieldname: str | list[str] = "name",
		ignore=None,
		as_dict=False,
		debug=False,
		order_by=DefaultOrderBy,
		update=None,
		cache=False,
		for_update=False,
		*,
		run=True,
		pluck=False,
		distinct=False,
		limit=None,
		skip_locked=False,
		wait=True,
	):
		"""Rows of ``doctype`` matching filters (a name, a list of names, a dict or a filter list)."""
		if isinstance(filters, str) and cache and (doctype, filters, str(fieldname)) in self.value_cache:
			return self.value_cache[(doctype, filters, str(fieldname))]
		if filters is None or (filters == doctype and doctype != "DocType"):
			if self._is_single(doctype):
				return self.get_values_from_single(fieldname, doctype, as_dict=as_dict)
		fields = [fieldname] if isinstance(fieldname, str) else list(fieldname)
		if fields == ["*"]:
			as_dict = True
		if order_by == DefaultOrderBy:
			order_by = "modified desc"
		query = _query(doctype)
		execute = (
			partial(query.execute_for_update, skip_locked=skip_locked, wait=wait)
			if for_update
			else query.execute
		)
		try:
			out = execute(
				fields=fields,
				filters=self._name_filters(filters),
				order_by=order_by,
				limit_page_length=limit or 0,
				as_list=not as_dict,
				ignore_permissions=True,
				distinct=distinct,
				debug=debug,
				pluck=fields[0] if pluck else None,
				update=update,
			)
		except Exception as e:
			if ignore and (self.is_missing_column(e) or self.is_table_missing(e)):
				return None
			raise
		if not as_dict and not pluck:
			out = [tuple(row) for row in out]
		if isinstance(filters, str) and cache:
			self.value_cache[(doctype, filters, str(fieldname))] = out
		return out

	@staticmethod
	def _name_filters(filters: Any) -> Any:
		"""A scalar is a name; a list of scalars is a list of names (as Frappe's get_values)."""
		if filters is None:
			return None
		if isinstance(filters, str | int):
			return {"name": filters}
		if isinstance(filters, list | tuple) and filters and all(isinstance(f, str | int) for f in filters):
			if (
				len(filters) in (3, 4)
				and isinstance(filters[-2], str)
				and filters[-2].lower() in _operators()
			):
				return [list(filters)]
			return {"name": ["in", list(filters)]}
		return filters

	def _is_single(self, doctype: str) -> bool:
		try:
			return bool(frappe.get_meta(doctype).issingle)
		except Exception:
			return False

	def get_values_from_single(self, fields, doctype, as_dict=False, **kwargs):
		"""Values of a Single doctype from tabSingles."""
		fields = [fields] if isinstance(fields, str) else list(fields)
		rows = self.sql("select field, value from `tabSingles` where doctype=%s", (doctype,))
		data = frappe._dict(rows)
		if fields != ["*"]:
			data = frappe._dict({f: data.get(f) for f in fields})
		if as_dict:
			return [data]
		return [tuple(data.values())] if data else []

	def get_single_value(self, doctype: str, fieldname: str, cache=True):
		value = self.sql(
			"select value from `tabSingles` where doctype=%s and field=%s", (doctype, fieldname), pluck=True
		)
		return value[0] if value else None

	def set_single_value(
		self,
		doctype: str,
		fieldname: str | dict,
		value: str | int | None = None,
		*,
		modified=None,
		modified_by=None,
		update_modified=True,
		debug=False,
	) -> None:
		"""Replace the Single's ``tabSingles`` rows for the field(s); also modified/modified_by unless
		update_modified is False. No document hooks."""
		to_update = dict(fieldname) if isinstance(fieldname, dict) else {fieldname: value}
		if update_modified:
			to_update["modified"] = modified or now_datetime()
			to_update["modified_by"] = modified_by or frappe.session.user
		for field, val in to_update.items():
			self.sql("delete from `tabSingles` where doctype=%s and field=%s", (doctype, field), debug=debug)
			self.sql(
				"insert into `tabSingles` (doctype, field, value) values (%s, %s, %s)",
				(doctype, field, val),
				debug=debug,
			)
		self.value_cache.pop(doctype, None)

	def exists(self, dt, dn=None, cache=False):
		"""The matching document's name or None (a missing table answers None)."""
		if isinstance(dt, dict):
			dn = dict(dt)
			dt = dn.pop("doctype")
		if dt == dn and dt != "DocType":
			return dn
		if dn is None:
			return None
		return self.get_value(dt, dn, ignore=True, cache=cache, order_by=None)

	def count(self, dt, filters=None, debug=False, cache=False, distinct: bool = True) -> int:
		rows = _query(dt).execute(
			fields=["count(*) as count"],
			filters=filters,
			ignore_permissions=True,
			order_by=None,
			as_list=True,
			debug=debug,
		)
		return int(rows[0][0]) if rows else 0

	@staticmethod
	def get_all(*args, **kwargs):
		return frappe.get_all(*args, **kwargs)

	@staticmethod
	def get_list(*args, **kwargs):
		return frappe.get_list(*args, **kwargs)

	# ------------------------------------------------------------------ writes

	def set_value(
		self, dt, dn, field, val=None, modified=None, modified_by=None, update_modified=True, debug=False
	) -> None:
		"""Direct UPDATE (no hooks); sets modified/modified_by unless update_modified is False."""
		if dn is None or dt == dn:
			if self._is_single(dt):
				self.set_single_value(
					dt,
					field,
					val,
					modified=modified,
					modified_by=modified_by,
					update_modified=update_modified,
					debug=debug,
				)
			return
		to_update = dict(field) if isinstance(field, dict) else {field: val}
		if update_modified:
			to_update["modified"] = modified or now_datetime()
			to_update["modified_by"] = modified_by or frappe.session.user
		query = _query(dt)
		where, where_values = query.build_where(self._name_filters(dn))
		assignments = ", ".join(f"`{query.column(key)}`=%s" for key in to_update)
		self.sql(
			f"update `tab{dt}` set {assignments} {where}",
			(*(_db_value(v) for v in to_update.values()), *where_values),
			debug=debug,
		)
		if isinstance(dn, str):
			frappe.clear_document_cache(dt, dn)
		else:
			frappe.clear_document_cache(dt)

	def delete(self, doctype: str, filters: dict | list | None = None, debug=False, **kwargs) -> None:
		"""Raw DELETE (no hooks); filters=None deletes every row."""
		filters = filters if filters is not None else kwargs.get("conditions")
		query = _query(doctype)
		where, values = query.build_where(self._name_filters(filters) if filters else None)
		self.sql(f"delete from `{get_table_name(doctype)}` {where}", values, debug=debug)

	def truncate(self, doctype: str) -> None:
		self.sql_ddl(f"truncate `{get_table_name(doctype)}`")

	def bulk_insert(
		self,
		doctype: str,
		fields: list[str],
		values: Iterable[Sequence[Any]],
		ignore_duplicates=False,
		*,
		chunk_size=10_000,
	) -> None:
		"""INSERT rows in chunks; no hooks."""
		for column in fields:
			_check_identifier(column)
		columns = ", ".join(f"`{c}`" for c in fields)
		row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
		insert = "insert ignore" if ignore_duplicates else "insert"
		rows = [tuple(_db_value(v) for v in row) for row in values]
		for start in range(0, len(rows), chunk_size):
			chunk = rows[start : start + chunk_size]
			placeholders = ", ".join([row_placeholder] * len(chunk))
			flat = [v for row in chunk for v in row]
			self.sql(f"{insert} into `{get_table_name(doctype)}` ({columns}) values {placeholders}", flat)

	# ------------------------------------------------------------------ schema helpers

	def table_exists(self, doctype, cached=True) -> bool:
		return bool(
			self.sql(
				"select 1 from information_schema.tables where table_schema=%s and table_name=%s",
				(self.cur_db_name, get_table_name(doctype)),
			)
		)

	def get_table_columns(self, doctype) -> list[str]:
		return self.sql(
			"select column_name from information_schema.columns where table_schema=%s and table_name=%s",
			(self.cur_db_name, get_table_name(doctype)),
			pluck=True,
		)

	def has_index(self, table_name: str, index_name: str):
		return self.sql(f"show index from `{table_name}` where Key_name=%s", (index_name,))

	@staticmethod
	def get_index_name(fields: list[str]) -> str:
		index_name = "_".join(fields) + "_index"
		# remove index length if present e.g. (10) from index name
		return re.sub(r"\s*\([^)]+\)\s*", r"", index_name)

	def add_index(self, doctype, fields, index_name=None):
		raise NotImplementedError

	def add_unique(self, doctype, fields, constraint_name=None):
		raise NotImplementedError

	def escape(self, s, percent=True) -> str:
		raise NotImplementedError


def _query(doctype: str):
	# imported late: frappe.model imports frappe.db helpers at module level
	from frappe.model.db_query import DatabaseQuery

	return DatabaseQuery(doctype)


def _check_identifier(name: str) -> str:
	if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
		raise frappe.DataError(f"Invalid column name {name!r}")
	return name


def _db_value(value: Any) -> Any:
	"""Python values the driver cannot bind (dict/list for JSON columns) become JSON text."""
	if isinstance(value, dict | list):
		return frappe.as_json(value)
	return value


@contextmanager
def savepoint(catch: type | tuple[type, ...] = Exception):
	"""Run a block inside a random savepoint; on ``catch`` roll back to it and suppress the error."""
	name = "".join(random.sample(string.ascii_lowercase, 10))
	frappe.db.savepoint(name)
	try:
		yield
	except catch:
		frappe.db.rollback(save_point=name)
	else:
		frappe.db.release_savepoint(name)


def _operators() -> tuple[str, ...]:
	"""The filter operators DatabaseQuery accepts (one list, in frappe.model.db_query)."""
	from frappe.model.db_query import OPERATORS

	return OPERATORS
