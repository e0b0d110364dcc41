"""List queries: mirrors ``frappe/model/db_query.py`` (Frappe 15) ``DatabaseQuery``.

Contract:
- ``DatabaseQuery(doctype).execute(fields=, filters=, or_filters=, order_by=, group_by=, limit_start=,
  limit_page_length=, limit=, as_list=, pluck=, ignore_permissions=, user=, distinct=, ...)`` (Frappe's
  parameters, exactly) builds one SELECT on ``tab<doctype>``; ``execute_for_update(...)`` adds the row lock
  that Frappe's ``Database.get_values`` builds through ``frappe.qb``. Every value is bound as a parameter; every identifier (field,
  order-by, group-by, alias) is checked against the doctype's columns or a strict identifier pattern, and
  only a small set of aggregate functions is accepted in ``fields`` (else ``frappe.DataError``).
- Filters: dict ``{field: value | [op, value]}`` or list ``[[doctype?, field, op, value], ...]``; operators
  ``= != < > <= >= like, not like, in, not in, is (set / not set), between``. As in Frappe, ``!=``,
  ``not like`` and ``not in`` also match NULL.
- Unless ``ignore_permissions``: read (or select) permission is required (``frappe.PermissionError``),
  ``if_owner`` role permissions restrict rows to the user's own, and every ``permission_query_conditions``
  hook for the doctype and ``*`` is called as ``hook(user, doctype=...)``; its SQL is AND-ed in.
- Rows are ``_dict`` (default), tuples (``as_list``) or plain values (``pluck``).
"""

import re
from typing import Any

import frappe
from frappe.database.database import DefaultOrderBy
from frappe.model import child_table_fields, default_fields, optional_fields
from frappe.utils import cint

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
COLUMN_REF = re.compile(
	rf"^(?:`?(?P<table>tab[A-Za-z0-9_ \-]+)`?\.)?`?(?P<column>{IDENT}|\*)`?$",
)
FIELD_EXPR = re.compile(
	r"^(?P<func>count|sum|avg|max|min)\s*\(\s*(?P<distinct>distinct\s+)?(?P<arg>[^()]+?)\s*\)$",
	flags=re.IGNORECASE,
)
ALIAS = re.compile(rf"^(?P<expr>.+?)\s+as\s+`?(?P<alias>{IDENT})`?$", flags=re.IGNORECASE)
DIRECTION = re.compile(r"^(?P<expr>.+?)(?:\s+(?P<dir>asc|desc))?$", flags=re.IGNORECASE)
OPERATORS = (
	"=",
	"!=",
	"<>",
	"<",
	">",
	"<=",
	">=",
	"like",
	"not like",
	"in",
	"not in",
	"is",
	"between",
)


class DatabaseQuery:
	def __init__(self, doctype: str, user: str | None = None):
		self.doctype = doctype
		self.table = f"`tab{doctype}`"
		self.user = user or (frappe.session.user if getattr(frappe.local, "session", None) else None)
		self._meta = None
		self.aliases: set[str] = set()
		self._lock_clause = ""

	@property
	def meta(self):
		if self._meta is None:
			self._meta = frappe.get_meta(self.doctype)
		return self._meta

	def execute(
		self,
		fields=None,
		filters=None,
		or_filters=None,
		docstatus=None,
		group_by=None,
		order_by=DefaultOrderBy,
		limit_start=False,
		limit_page_length=None,
		as_list=False,
		with_childnames=False,
		debug=False,
		ignore_permissions=False,
		user=None,
		with_comment_count=False,
		join="left join",
		distinct=False,
		start=None,
		page_length=None,
		limit=None,
		ignore_ifnull=False,
		save_user_settings=False,
		save_user_settings_fields=False,
		update=None,
		add_total_row=None,
		user_settings=None,
		reference_doctype=None,
		run=True,
		strict=True,
		pluck=None,
		ignore_ddl=False,
		*,
		parent_doctype=None,
	) -> list:
		"""Build and run the SELECT; see the module contract."""
		if user:
			self.user = user
		fields, filters = self._swap_if_misordered(fields, filters)
		if pluck:
			fields = [pluck]
		field_sql = self.build_fields(fields)
		conditions, values = self.build_conditions(filters, or_filters, ignore_permissions, parent_doctype)
		query = f"select {'distinct ' if distinct else ''}{field_sql} from {self.table}"
		if conditions:
			query += f" where {conditions}"
		if group_by:
			query += f" group by {self.build_group_by(group_by)}"
		order_sql = self.build_order_by(order_by, group_by, fields)
		if order_sql:
			query += f" order by {order_sql}"
		page_length = cint(limit or page_length or limit_page_length)
		offset = cint(start or limit_start)
		if page_length:
			query += f" limit {page_length} offset {offset}"
		elif offset:
			query += f" limit 18446744073709551615 offset {offset}"
		query += self._lock_clause
		if not run:
			return query
		if pluck:
			return frappe.db.sql(query, values, debug=debug, pluck=True, ignore_ddl=ignore_ddl)
		return frappe.db.sql(
			query, values, as_dict=not as_list, debug=debug, update=update, ignore_ddl=ignore_ddl
		)

	def execute_for_update(self, *, skip_locked: bool = False, wait: bool = True, **execute_kwargs) -> list:
		"""``execute`` with ``FOR UPDATE`` (``SKIP LOCKED`` / ``NOWAIT``) appended."""
		self._lock_clause = " for update" + (" skip locked" if skip_locked else "" if wait else " nowait")
		try:
			return self.execute(**execute_kwargs)
		finally:
			self._lock_clause = ""

	@staticmethod
	def _swap_if_misordered(fields, filters):
		"""Frappe accepts (filters, fields) in either order: a dict in ``fields`` means filters."""
		if isinstance(fields, dict) or (
			isinstance(fields, list) and fields and isinstance(fields[0], list | tuple)
		):
			fields, filters = filters, fields
		return fields, filters

	# ------------------------------------------------------------------ identifiers

	def valid_columns(self) -> set[str]:
		columns = set(self.meta.get_valid_columns()) | set(default_fields) | set(optional_fields)
		columns.discard("doctype")
		if self.meta.istable:
			columns |= set(child_table_fields)
		return columns

	def column(self, name: str) -> str:
		"""A validated bare column name of this doctype."""
		name = name.strip()
		match = COLUMN_REF.match(name)
		if not match or match.group("column") == "*":
			raise frappe.DataError(f"Invalid field name {name!r}")
		table = match.group("table")
		if table and table != f"tab{self.doctype}":
			raise frappe.DataError(f"Field {name!r} is not a column of {self.doctype}")
		column = match.group("column")
		if column not in self.valid_columns():
			raise frappe.DataError(f"Field {column!r} does not exist on {self.doctype}")
		return column

	def qualified(self, name: str) -> str:
		return f"{self.table}.`{self.column(name)}`"

	def build_fields(self, fields) -> str:
		if not fields:
			fields = ["name"]
		if isinstance(fields, str):
			fields = _split_top_level(fields)
		return ", ".join(self.build_field(f) for f in fields)

	def build_field(self, field: str) -> str:
		field = str(field).strip()
		alias = None
		match = ALIAS.match(field)
		if match:
			field, alias = match.group("expr").strip(), match.group("alias")
			self.aliases.add(alias)
		sql = self._field_expression(field)
		return f"{sql} as `{alias}`" if alias else sql

	def _field_expression(self, field: str) -> str:
		if field == "*" or field in (f"{self.table}.*", f"tab{self.doctype}.*"):
			return f"{self.table}.*"
		func = FIELD_EXPR.match(field)
		if func:
			arg = func.group("arg").strip()
			inner = "*" if arg == "*" and func.group("func").lower() == "count" else self.qualified(arg)
			distinct = "distinct " if func.group("distinct") else ""
			return f"{func.group('func').lower()}({distinct}{inner})"
		if field.lower().startswith("distinct "):
			return f"distinct {self.qualified(field[9:])}"
		try:
			return self.qualified(field)
		except frappe.DataError:
			raise frappe.DataError(f"Use of sub-query or function is restricted: {field!r}") from None

	def build_group_by(self, group_by: str) -> str:
		return ", ".join(self._order_term(part) for part in _split_top_level(group_by))

	def build_order_by(self, order_by, group_by, fields) -> str:
		if order_by == DefaultOrderBy:
			if group_by or self._is_aggregate_only(fields):
				return ""
			sort_field = self.meta.get("sort_field") or "modified"
			if sort_field not in self.valid_columns():
				sort_field = "modified"
			return f"{self.table}.`{sort_field}` {(self.meta.get('sort_order') or 'desc').lower()}"
		if not order_by:
			return ""
		parts = []
		for part in _split_top_level(order_by):
			match = DIRECTION.match(part.strip())
			direction = (match.group("dir") or "asc").lower()
			parts.append(f"{self._order_term(match.group('expr'))} {direction}")
		return ", ".join(parts)

	def _order_term(self, expr: str) -> str:
		expr = expr.strip()
		bare = expr.strip("`")
		if bare in self.aliases:
			return f"`{bare}`"
		if FIELD_EXPR.match(expr):
			return self._field_expression(expr)
		return self.qualified(expr)

	@staticmethod
	def _is_aggregate_only(fields) -> bool:
		if not fields:
			return False
		if isinstance(fields, str):
			fields = _split_top_level(fields)
		return all(FIELD_EXPR.match(ALIAS.sub(r"\g<expr>", str(f).strip())) for f in fields)

	# ------------------------------------------------------------------ conditions

	def build_conditions(self, filters, or_filters, ignore_permissions, parent_doctype=None):
		values: list = []
		conditions = []
		where, where_values = self.filter_sql(filters, " and ")
		if where:
			conditions.append(where)
			values += where_values
		or_where, or_values = self.filter_sql(or_filters, " or ")
		if or_where:
			conditions.append(f"({or_where})")
			values += or_values
		if not ignore_permissions:
			match_conditions, match_values = self.build_match_conditions(parent_doctype)
			if match_conditions:
				conditions.append(match_conditions)
				values += match_values
		return " and ".join(conditions), values

	def build_where(self, filters) -> tuple[str, list]:
		"""``where ...`` clause and values for raw UPDATE/DELETE helpers (no table qualifier)."""
		sql, values = self.filter_sql(filters, " and ")
		return (f"where {sql}" if sql else ""), values

	def filter_sql(self, filters, joiner: str) -> tuple[str, list]:
		parts, values = [], []
		for field, operator, value in self.normalise_filters(filters):
			sql, vals = self.condition(field, operator, value)
			parts.append(sql)
			values += vals
		return joiner.join(parts), values

	def normalise_filters(self, filters) -> list[tuple[str, str, Any]]:
		"""[(field, operator, value)] from a dict, a list of lists/dicts, or a single filter list."""
		if not filters:
			return []
		if isinstance(filters, dict):
			return [self._from_dict_item(field, value) for field, value in filters.items()]
		if isinstance(filters, list | tuple) and filters and isinstance(filters[0], str):
			filters = [filters]
		out = []
		for item in filters:
			if isinstance(item, dict):
				out += self.normalise_filters(item)
			else:
				out.append(self._from_list_item(list(item)))
		return out

	def _from_dict_item(self, field: str, value: Any) -> tuple[str, str, Any]:
		"""{field: value} or {field: [operator, value]} (as Frappe's make_filter_tuple)."""
		if isinstance(value, list | tuple):
			operator = str(value[0]).lower().strip() if value else ""
			if operator not in OPERATORS:
				raise frappe.DataError(f"Operator must be one of {', '.join(OPERATORS)}, not {value[0]!r}")
			return field, operator, value[1] if len(value) > 1 else None
		return field, "=", value

	def _from_list_item(self, item: list) -> tuple[str, str, Any]:
		if len(item) == 4:
			doctype, field, operator, value = item
			if doctype and doctype != self.doctype:
				raise frappe.DataError(f"Filters on another doctype ({doctype}) are not supported")
		elif len(item) == 3:
			field, operator, value = item
		elif len(item) == 2:
			(field, value), operator = item, "="
		else:
			raise frappe.DataError(f"Invalid filter {item!r}")
		return field, str(operator).lower().strip(), value

	def condition(self, field: str, operator: str, value: Any) -> tuple[str, list]:
		"""One parameterised SQL condition."""
		column = self.qualified(field)
		if operator not in OPERATORS:
			raise frappe.DataError(f"Invalid operator {operator!r}")
		if operator == "<>":
			operator = "!="
		if operator in ("in", "not in"):
			return self._in_condition(column, operator, value)
		if operator == "is":
			state = str(value).lower().strip()
			if state not in ("set", "not set"):
				raise frappe.DataError(f"Operator 'is' takes 'set' or 'not set', not {value!r}")
			if state == "set":
				return f"({column} is not null and {column} != '')", []
			return f"({column} is null or {column} = '')", []
		if operator == "between":
			low, high = _between_bounds(value, self._fieldtype(field))
			return f"{column} between %s and %s", [low, high]
		if value is None:
			# Frappe compares a None value as the empty string, with NULL treated as empty
			value = ""
		if operator in ("!=", "not like"):
			return f"({column} is null or {column} {operator} %s)", [value]
		if operator == "=" and value == "":
			return f"({column} is null or {column} = '')", []
		return f"{column} {operator} %s", [value]

	def _in_condition(self, column: str, operator: str, value: Any) -> tuple[str, list]:
		if isinstance(value, str):
			value = [v.strip() for v in value.split(",")]
		items = list(value or [])
		if not items:
			# Frappe turns an empty IN list into a condition nothing (or everything) satisfies
			return ("1=0", []) if operator == "in" else ("1=1", [])
		placeholders = ", ".join(["%s"] * len(items))
		if operator == "not in":
			return f"({column} is null or {column} not in ({placeholders}))", items
		return f"{column} in ({placeholders})", items

	def _fieldtype(self, field: str) -> str | None:
		df = self.meta.get_field(field.strip("`").split(".")[-1].strip("`"))
		if df:
			return df.fieldtype
		return "Datetime" if field.strip("`") in ("creation", "modified") else None

	# ------------------------------------------------------------------ permissions

	def build_match_conditions(self, parent_doctype=None) -> tuple[str, list]:
		"""Role check, if_owner restriction and permission_query_conditions hooks (AND-ed)."""
		from frappe.permissions import get_role_permissions

		if not frappe.has_permission(self.doctype, "select", user=self.user, parent_doctype=parent_doctype):
			if not frappe.has_permission(self.doctype, "read", user=self.user, parent_doctype=parent_doctype):
				frappe.flags.error_message = frappe._("Insufficient Permission for {0}").format(self.doctype)
				raise frappe.PermissionError(self.doctype)
		conditions, values = [], []
		if self.user != "Administrator":
			role_permissions = get_role_permissions(self.meta, user=self.user)
			if role_permissions.get("if_owner", {}).get("read") and not role_permissions.get(
				"read_not_owner"
			):
				conditions.append(f"{self.table}.`owner` = %s")
				values.append(self.user)
		hook_condition = self.get_permission_query_conditions()
		if hook_condition:
			# hooks return SQL written by the app: kept as a literal, % doubled for the driver
			conditions.append(f"({hook_condition.replace('%', '%%')})")
		return " and ".join(conditions), values

	def get_permission_query_conditions(self) -> str:
		"""SQL from every permission_query_conditions hook for this doctype and '*', AND-ed."""
		hooks = frappe.get_hooks("permission_query_conditions", {})
		methods = list(hooks.get(self.doctype, [])) + list(hooks.get("*", []))
		conditions = []
		for method in methods:
			condition = frappe.call(frappe.get_attr(method), self.user, doctype=self.doctype)
			if condition:
				conditions.append(condition)
		return " and ".join(conditions)


def _between_bounds(value: Any, fieldtype: str | None) -> tuple[Any, Any]:
	if isinstance(value, str):
		value = [v.strip() for v in value.split(",")]
	if not isinstance(value, list | tuple) or len(value) != 2:
		raise frappe.DataError("Operator 'between' takes a list of two values")
	low, high = value
	if fieldtype == "Datetime":
		from frappe.utils import get_datetime

		low = get_datetime(low)
		high = get_datetime(high)
		# a date-only upper bound covers that whole day, as Frappe's get_between_date_filter does
		if isinstance(value[1], str) and len(value[1].strip()) == 10:
			high = high.replace(hour=23, minute=59, second=59, microsecond=999999)
	return low, high


def _split_top_level(text: str) -> list[str]:
	"""Split on commas that are not inside parentheses."""
	parts, depth, current = [], 0, ""
	for char in str(text):
		if char == "(":
			depth += 1
		elif char == ")":
			depth -= 1
		if char == "," and depth == 0:
			parts.append(current.strip())
			current = ""
		else:
			current += char
	if current.strip():
		parts.append(current.strip())
	return parts
