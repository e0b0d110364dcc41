"""Documents and their lifecycle: mirrors ``frappe/model/document.py`` (Frappe 15).

Contract:
- ``get_doc(doctype, name, for_update=False)`` loads a row and its child rows (DoesNotExistError when
  missing); ``get_doc(dict)`` / ``get_doc(**fields)`` builds an unsaved document; ``get_doc(doc)`` returns it.
- ``insert()`` order (signatures.json lifecycle_order.insert): defaults, user/timestamps, links, 'create'
  permission, ``before_insert``, naming (``before_naming``, ``autoname``), ``before_validate``,
  ``validate``, ``before_save``, mandatory/select/length checks and password storage, INSERT (+ children),
  ``after_insert``, ``on_update``, ``on_change``. ``save()``: 'write' permission, timestamp check against the
  row locked FOR UPDATE (``frappe.TimestampMismatchError``), ``before_validate``, ``validate``,
  ``before_save``, checks, UPDATE, children replaced, ``on_update``, ``on_change``.
- Every controller method runs through ``run_method``, which also calls the ``doc_events`` hooks for the
  doctype and ``*`` as ``handler(doc, method, *args, **kwargs)``.
- ``flags.ignore_permissions / ignore_links / ignore_mandatory / ignore_validate`` as in Frappe.
- ``db_set`` writes straight to the row (``before_change`` / ``on_change`` only) and keeps ``modified`` in
  step, so a later ``save()`` of the same object does not see a timestamp mismatch.
"""

import copy
from typing import Any

import frappe
from frappe import _
from frappe.model import table_fields
from frappe.model.base_document import BaseDocument, get_controller
from frappe.utils import cint, cstr, flt, get_datetime, getdate, now_datetime, nowdate

DOCUMENT_LOCK_EXPIRTY = 12 * 60 * 60


def get_doc(*args: Any, **kwargs: Any) -> "Document":
	"""Dispatch to the doctype's controller class (see module contract)."""
	if args:
		if isinstance(args[0], BaseDocument):
			return args[0]
		if isinstance(args[0], str):
			doctype = args[0]
		elif isinstance(args[0], dict):
			doctype = args[0].get("doctype")
		else:
			raise ValueError("First non keyword argument must be a string or dict")
	else:
		doctype = kwargs.get("doctype")
	if not doctype:
		raise ValueError('"doctype" is a required key')
	controller = get_controller(doctype)
	return controller(*args, **kwargs)


class Document(BaseDocument):
	"""A document of any doctype; app controllers subclass it."""

	def __init__(self, *args: Any, **kwargs: Any):
		self.doctype = None
		self.name = None
		self.flags = frappe._dict()
		if args and isinstance(args[0], str):
			self.doctype = args[0]
			if len(args) == 1:
				if not frappe.get_meta(self.doctype).issingle:
					raise ValueError("Illegal arguments")
				self.name = self.doctype
			else:
				self.name = args[1]
			if kwargs.get("for_update"):
				self.flags.for_update = True
			self.load_from_db()
			return
		if args and isinstance(args[0], dict):
			kwargs = args[0]
		if not kwargs:
			raise ValueError("Illegal arguments")
		super().__init__(kwargs)
		self.doctype = kwargs.get("doctype")
		if not self.get("name") or kwargs.get("__islocal"):
			self.__dict__["__islocal"] = 1
		self.__dict__.setdefault("docstatus", 0)

	# ------------------------------------------------------------------ loading

	def load_from_db(self) -> "Document":
		"""(Re)read this row and its child rows from the database."""
		meta = frappe.get_meta(self.doctype)
		if meta.issingle:
			row = frappe.db.get_values_from_single("*", self.doctype, as_dict=True)[0]
			row = frappe._dict(row, name=self.doctype, doctype=self.doctype)
		else:
			# a dict "name" is a set of filters, as frappe.get_doc(doctype, {...}) allows
			filters = self.name if isinstance(self.name, dict) else {"name": self.name}
			row = frappe.db.get_value(
				self.doctype, filters, "*", as_dict=True, for_update=self.flags.for_update
			)
			if not row:
				frappe.throw(
					_("{0} {1} not found").format(_(self.doctype), self.name), frappe.DoesNotExistError
				)
		flags = self.flags
		self.__dict__.clear()
		self.flags = flags
		self.doctype = meta.name
		self.dont_update_if_missing = []
		BaseDocument.update(self, dict(row))
		for df in meta.get_table_fields():
			children = frappe.db.sql(
				f"select * from `tab{df.options}` where parent=%s and parenttype=%s and parentfield=%s"
				" order by idx asc",
				(self.name, self.doctype, df.fieldname),
				as_dict=True,
			)
			self.set(df.fieldname, [dict(c, doctype=df.options) for c in children])
		return self

	def reload(self) -> "Document":
		return self.load_from_db()

	# ------------------------------------------------------------------ permissions

	def check_permission(self, permtype: str = "read", permlevel=None) -> None:
		if not self.has_permission(permtype):
			frappe.flags.error_message = _("Insufficient Permission for {0}").format(
				f"{_(self.doctype)} {self.name or ''}".strip()
			)
			raise frappe.PermissionError(self.doctype, self.name, permtype)

	def has_permission(self, permtype: str = "read", *, debug=False, user=None) -> bool:
		if self.flags.ignore_permissions:
			return True
		import frappe.permissions

		return frappe.permissions.has_permission(self.doctype, permtype, self, debug=debug, user=user)

	# ------------------------------------------------------------------ insert / save

	def insert(
		self,
		ignore_permissions=None,
		ignore_links=None,
		ignore_if_duplicate=False,
		ignore_mandatory=None,
		set_name=None,
		set_child_names=True,
	) -> "Document":
		"""Insert as a new document (see the lifecycle in the module contract)."""
		if self.flags.in_print:
			return self
		self.flags.notifications_executed = []
		for flag, value in (
			("ignore_permissions", ignore_permissions),
			("ignore_links", ignore_links),
			("ignore_mandatory", ignore_mandatory),
		):
			if value is not None:
				self.flags[flag] = value
		self._set_defaults()
		self.set_user_and_timestamp()
		self.set_docstatus()
		self._action = "submit" if self.docstatus == 1 else "save"
		self._doc_before_save = None
		self._validate_links()
		self.check_permission("create")
		self.run_method("before_insert")
		self.set_new_name(set_name=set_name, set_child_names=set_child_names)
		self.set_parent_in_children()
		self.flags.in_insert = True
		self.run_before_save_methods()
		self._validate()
		self.set_docstatus()
		self.flags.in_insert = False
		self.db_insert(ignore_if_duplicate=ignore_if_duplicate)
		if self.get("__islocal") and ignore_if_duplicate:
			# the row already existed: nothing of ours was written
			return self
		for child in self.get_all_children():
			child.db_insert()
		self.run_method("after_insert")
		self.flags.in_insert = True
		self.run_post_save_methods()
		self.flags.in_insert = False
		self.__dict__.pop("__islocal", None)
		self.__dict__.pop("__unsaved", None)
		return self

	def save(self, *args: Any, **kwargs: Any) -> "Document":
		return self._save(*args, **kwargs)

	def _save(self, ignore_permissions=None, ignore_version=None) -> "Document":
		"""Update an existing document (or insert a new one)."""
		if self.flags.in_print:
			return None
		self.flags.notifications_executed = []
		if ignore_permissions is not None:
			self.flags.ignore_permissions = ignore_permissions
		if self.get("__islocal") or not self.get("name"):
			return self.insert()
		self._set_defaults()
		self.check_permission("write", "save")
		self.set_user_and_timestamp()
		self.set_docstatus()
		self.check_if_latest()
		self.set_parent_in_children()
		self.set_name_in_children()
		self._validate_links()
		self.run_before_save_methods()
		if self._action != "cancel":
			self._validate()
		self.set_docstatus()
		self.db_update()
		self.update_children()
		self.run_post_save_methods()
		self.__dict__.pop("__unsaved", None)
		return self

	def submit(self) -> "Document":
		self.docstatus = 1
		return self.save()

	def cancel(self) -> "Document":
		self.docstatus = 2
		return self.save()

	def delete(self, ignore_permissions=False, force=False, *, delete_permanently=False) -> None:
		return frappe.delete_doc(
			self.doctype,
			self.name,
			ignore_permissions=ignore_permissions,
			flags=self.flags,
			force=force,
			delete_permanently=delete_permanently,
		)

	def set_new_name(self, force=False, set_name=None, set_child_names=True) -> None:
		"""Name the document: prompt ``__newname``, ``set_name``, else frappe.model.naming.set_new_name."""
		from frappe.model.naming import set_new_name, validate_name

		if self.flags.name_set and not force:
			return
		autoname = (self.meta.autoname or "").lower()
		if self.get("__newname") and autoname == "prompt":
			self.name = validate_name(self.doctype, self.get("__newname"))
		elif set_name:
			self.name = validate_name(self.doctype, set_name)
		else:
			set_new_name(self)
		if set_child_names:
			for child in self.get_all_children():
				if not child.name or child.is_new():
					set_new_name(child)
		self.flags.name_set = True

	def set_user_and_timestamp(self) -> None:
		self._original_modified = self.get("modified")
		self.modified = now_datetime()
		self.modified_by = frappe.session.user
		if not self.get("creation"):
			self.creation = self.modified
		if not self.get("owner"):
			self.owner = self.modified_by
		for child in self.get_all_children():
			child.modified = self.modified
			child.modified_by = self.modified_by
			if not child.get("owner"):
				child.owner = self.owner
			if not child.get("creation"):
				child.creation = self.creation

	def set_docstatus(self) -> None:
		if self.get("docstatus") is None:
			self.docstatus = 0
		for child in self.get_all_children():
			child.docstatus = self.docstatus

	def set_parent_in_children(self) -> None:
		for df in self.meta.get_table_fields():
			for idx, child in enumerate(self.get(df.fieldname) or [], start=1):
				child.parent = self.name
				child.parenttype = self.doctype
				child.parentfield = df.fieldname
				child.idx = idx

	def set_name_in_children(self) -> None:
		from frappe.model.naming import set_new_name

		for child in self.get_all_children():
			if not child.name:
				set_new_name(child)

	def _set_defaults(self) -> None:
		"""Fill empty fields with their JSON defaults (Select: first option), parents and children."""
		for doc in [self, *self.get_all_children()]:
			for df in doc.meta.fields:
				if df.fieldtype in table_fields or doc.get(df.fieldname) is not None:
					continue
				default = get_default_value(df)
				if default is not None:
					doc.set(df.fieldname, default)

	def load_doc_before_save(self) -> None:
		"""Keep a locked copy of the stored row, for check_if_latest and has_value_changed."""
		self._doc_before_save = None
		if not self.is_new():
			try:
				self._doc_before_save = frappe.get_doc(self.doctype, self.name, for_update=True)
			except frappe.DoesNotExistError:
				frappe.clear_last_message()

	def check_if_latest(self) -> None:
		"""TimestampMismatchError if the row changed since this object was loaded."""
		self.load_doc_before_save()
		self._action = "save"
		previous = self._doc_before_save
		if not previous:
			return
		if get_datetime(previous.modified) != get_datetime(self._original_modified):
			frappe.msgprint(
				_("Error: Document has been modified after you have opened it")
				+ f" ({previous.modified}, {self._original_modified}). "
				+ _("Please refresh to get the latest document."),
				raise_exception=frappe.TimestampMismatchError,
			)
			raise frappe.TimestampMismatchError(self.doctype, self.name)
		self.check_docstatus_transition(cint(previous.docstatus))

	def check_docstatus_transition(self, docstatus: int) -> None:
		new = cint(self.docstatus)
		if docstatus == 0 and new == 1:
			self._action = "submit"
			self.check_permission("submit")
		elif docstatus == 1 and new == 2:
			self._action = "cancel"
			self.check_permission("cancel")
		elif docstatus == 1 and new == 1:
			self._action = "update_after_submit"
		elif (docstatus, new) not in ((0, 0),):
			raise frappe.DocstatusTransitionError(
				_("Cannot change docstatus from {0} to {1}").format(docstatus, new)
			)

	def get_doc_before_save(self) -> "Document | None":
		return getattr(self, "_doc_before_save", None)

	def has_value_changed(self, fieldname: str) -> bool:
		previous = self.get_doc_before_save()
		if not previous:
			return True
		return previous.get(fieldname) != self.get(fieldname)

	# ------------------------------------------------------------------ validation

	def _validate(self) -> None:
		self._validate_mandatory()
		self._validate_selects()
		self._validate_length()
		self._save_passwords()
		for child in self.get_all_children():
			child._validate_selects()
			child._validate_length()

	def _validate_mandatory(self) -> None:
		if self.flags.ignore_mandatory:
			return
		missing = self._get_missing_mandatory_fields()
		for child in self.get_all_children():
			missing.extend(child._get_missing_mandatory_fields())
		if not missing:
			return
		for _fieldname, message in missing:
			frappe.msgprint(message)
		raise frappe.MandatoryError(
			"[{doctype}, {name}]: {fields}".format(
				fields=", ".join(each[0] for each in missing), doctype=self.doctype, name=self.name
			)
		)

	def _get_missing_mandatory_fields(self) -> list[tuple[str, str]]:
		missing = []
		for df in self.meta.fields:
			if not df.get("reqd"):
				continue
			value = self.get(df.fieldname)
			empty = (
				(not value) if df.fieldtype in table_fields else (value is None or cstr(value).strip() == "")
			)
			if empty:
				label = df.get("label") or df.fieldname
				where = f"{_(self.parenttype)}, Row {self.idx}: " if self.get("parenttype") else ""
				missing.append(
					(
						df.fieldname,
						_("Error: Value missing for {0}: {1}").format(where or _(self.doctype), _(label)),
					)
				)
		return missing

	def _validate_selects(self) -> None:
		for df in self.meta.get_select_fields():
			value = self.get(df.fieldname)
			options = (df.get("options") or "").split("\n")
			if value in (None, "") or not df.get("options") or cstr(value) in options:
				continue
			label = df.get("label") or df.fieldname
			frappe.throw(
				_('{0} cannot be "{1}". It should be one of "{2}"').format(
					_(label), value, '", "'.join(_(o) for o in options)
				),
				title=_("Invalid Option"),
			)

	def _validate_length(self) -> None:
		for df in self.meta.fields:
			if df.fieldtype not in ("Data", "Link", "Dynamic Link", "Select", "Read Only", "Phone", "Color"):
				continue
			value = self.get(df.fieldname)
			max_length = cint(df.get("length")) or frappe.db.VARCHAR_LEN
			if isinstance(value, str) and len(value) > max_length:
				frappe.throw(
					_("{0}: '{1}' ({3}) will get truncated, as max characters allowed is {2}").format(
						_(self.doctype), _(df.get("label") or df.fieldname), max_length, value[:20]
					),
					frappe.CharacterLengthExceededError,
					title=_("Value too big"),
				)

	def _validate_links(self) -> None:
		if self.flags.ignore_links:
			return
		invalid = []
		for doc in [self, *self.get_all_children()]:
			invalid.extend(doc.get_invalid_links())
		if invalid:
			message = ", ".join(f"{_(label)}: {value}" for label, value in invalid)
			frappe.throw(_("Could not find {0}").format(message), frappe.LinkValidationError)

	def get_invalid_links(self) -> list[tuple[str, str]]:
		invalid = []
		for df in self.meta.fields:
			if df.fieldtype == "Link":
				target = df.get("options")
			elif df.fieldtype == "Dynamic Link":
				target = self.get(df.get("options"))
			else:
				continue
			value = self.get(df.fieldname)
			if not value or not target:
				continue
			if not _link_exists(target, value):
				invalid.append((df.get("label") or df.fieldname, value))
		return invalid

	# ------------------------------------------------------------------ children

	def update_children(self) -> None:
		"""Write child rows and delete the ones removed from each table field."""
		for df in self.meta.get_table_fields():
			rows = self.get(df.fieldname) or []
			for row in rows:
				row.db_update()
			keep = [row.name for row in rows]
			condition, values = "", [self.name, self.doctype, df.fieldname]
			if keep:
				condition = f" and name not in ({', '.join(['%s'] * len(keep))})"
				values += keep
			frappe.db.sql(
				f"delete from `tab{df.options}` where parent=%s and parenttype=%s and parentfield=%s{condition}",
				values,
			)

	# ------------------------------------------------------------------ onload (frappe/model/document.py)

	def set_onload(self, key: str, value: Any) -> None:
		"""A value for the desk form, sent with the document as ``__onload`` (the form reads it through
		``frm.doc.__onload``); set by the controller's ``onload``."""
		onload = self.__dict__.get("__onload")
		if not onload:
			onload = self.__dict__["__onload"] = frappe._dict()
		onload[key] = value

	def get_onload(self, key: str | None = None) -> Any:
		onload = self.__dict__.get("__onload") or frappe._dict()
		return onload if key is None else onload[key]

	# ------------------------------------------------------------------ methods and hooks

	def run_method(self, method: str, *args: Any, **kwargs: Any) -> Any:
		"""Call the controller method, then every doc_events handler for it; returns the last answer."""
		fn = getattr(self, method, None)
		out = None
		if callable(fn):
			out = fn(*args, **kwargs)
		for handler in self._doc_event_handlers(method):
			result = frappe.get_attr(handler)(self, method, *args, **kwargs)
			if isinstance(out, dict) and isinstance(result, dict):
				out.update(result)
			elif result is not None:
				out = result
		return out

	def _doc_event_handlers(self, method: str) -> list[str]:
		hooks = frappe.get_doc_hooks()
		handlers = []
		for doctype in (self.doctype, "*"):
			handlers.extend(hooks.get(doctype, {}).get(method, []))
		return handlers

	def run_before_save_methods(self) -> None:
		if self._action in ("save", "submit"):
			self.run_method("before_validate")
		if self.flags.ignore_validate:
			return
		if self._action == "save":
			self.run_method("validate")
			self.run_method("before_save")
		elif self._action == "submit":
			self.run_method("validate")
			self.run_method("before_submit")
		elif self._action == "cancel":
			self.run_method("before_cancel")
		elif self._action == "update_after_submit":
			self.run_method("before_update_after_submit")

	def run_post_save_methods(self) -> None:
		if self._action == "save":
			self.run_method("on_update")
		elif self._action == "submit":
			self.run_method("on_update")
			self.run_method("on_submit")
		elif self._action == "cancel":
			self.run_method("on_cancel")
		elif self._action == "update_after_submit":
			self.run_method("on_update_after_submit")
		frappe.clear_document_cache(self.doctype, self.name)
		if self.flags.notify_update is not False:
			self.notify_update()
		self.run_method("on_change")

	def notify_update(self) -> None:
		"""doc_update / list_update realtime events, published after commit (as Frappe)."""
		if frappe.flags.in_patch or self.meta.istable:
			return
		frappe.publish_realtime(
			"doc_update",
			{"modified": self.modified, "doctype": self.doctype, "name": self.name},
			doctype=self.doctype,
			docname=self.name,
			after_commit=True,
		)
		if not self.meta.issingle and not self.meta.get("read_only"):
			frappe.publish_realtime(
				"list_update",
				{"doctype": self.doctype, "name": self.name, "user": frappe.session.user},
				doctype=self.doctype,
				after_commit=True,
			)

	def db_set(self, fieldname, value=None, update_modified=True, notify=False, commit=False) -> None:
		"""Write field(s) straight to the row; only before_change/on_change run."""
		if isinstance(fieldname, dict):
			self.update(fieldname)
			values = dict(fieldname)
		else:
			self.set(fieldname, value)
			values = {fieldname: value}
		if update_modified and (self.doctype, self.name) not in (frappe.flags.currently_saving or []):
			self.modified = now_datetime()
			self.modified_by = frappe.session.user
			values["modified"] = self.modified
			values["modified_by"] = self.modified_by
		self.run_method("before_change")
		if self.name is None:
			return
		if self.meta.issingle:
			frappe.db.set_single_value(self.doctype, values, update_modified=False)
		else:
			frappe.db.set_value(self.doctype, self.name, values, update_modified=False)
		self.run_method("on_change")
		if notify:
			self.notify_update()
		if commit:
			frappe.db.commit()

	def db_get(self, fieldname: str) -> Any:
		return frappe.db.get_value(self.doctype, self.name, fieldname)

	def is_whitelisted(self, method_name: str) -> None:
		method = getattr(self, method_name, None)
		if not method:
			from werkzeug.exceptions import NotFound

			raise NotFound(f"Method {method_name} not found")
		frappe.is_whitelisted(getattr(method, "__func__", method))

	def add_comment(self, comment_type="Comment", text=None, comment_email=None, comment_by=None):
		"""Insert a Comment on this document's timeline (Frappe 15: whitelisted, ignore_permissions)."""
		return frappe.get_doc(
			{
				"doctype": "Comment",
				"comment_type": comment_type,
				"comment_email": comment_email or frappe.session.user,
				"comment_by": comment_by,
				"reference_doctype": self.doctype,
				"reference_name": self.name,
				"content": text or comment_type,
			}
		).insert(ignore_permissions=True)

	def log_error(self, title=None, message=None):
		return frappe.log_error(
			title=title, message=message, reference_doctype=self.doctype, reference_name=self.name
		)

	def __deepcopy__(self, memo):
		copied = type(self).__new__(type(self))
		memo[id(self)] = copied
		for key, value in self.__dict__.items():
			if key == "_parent_doc":
				copied.__dict__[key] = value
			else:
				copied.__dict__[key] = copy.deepcopy(value, memo)
		return copied


def get_default_value(df) -> Any:
	"""The value a new document takes for ``df`` (Frappe's static defaults)."""
	default = df.get("default")
	fieldtype = df.fieldtype
	if default in (None, ""):
		if fieldtype == "Select" and df.get("options"):
			return df.options.split("\n", 1)[0]
		return None
	if fieldtype in ("Check", "Int", "Long Int"):
		return cint(default)
	if fieldtype in ("Float", "Currency", "Percent", "Duration", "Rating"):
		return flt(default)
	if fieldtype == "Date" and str(default).lower() in ("today", "__today"):
		return nowdate()
	if fieldtype == "Datetime" and str(default).lower() in ("now", "today", "__today"):
		return now_datetime()
	if fieldtype == "Date":
		return getdate(default)
	return default


def _link_exists(doctype: str, name: str) -> bool:
	"""A Link's target exists. DocTypes are rows of ``tabDocType`` in Frappe; here they are the apps' JSON."""
	if doctype == "DocType":
		from frappe.model.meta import get_doctype_index

		return name in get_doctype_index()
	return bool(frappe.db.exists(doctype, name))
