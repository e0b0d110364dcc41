"""The ``frappe`` top level: mirrors ``frappe/__init__.py`` (Frappe 15.44).

Contract:
- ``frappe.local`` is a werkzeug ``Local`` (context-local, so each thread or job holds its own site
  context); ``db``, ``conf``, ``session``, ``flags``, ``form_dict``, ``request``, ``response``, ``job``,
  ``message_log`` ... are proxies into it, exactly as in Frappe.
- ``init`` reads ``common_site_config.json`` overlaid by ``<site>/site_config.json`` and sets up the
  process-global ``frappe.cache`` (a ``RedisWrapper``; ``frappe.cache()`` also works). ``connect`` opens the
  site's database through ``frappe.database.get_db``; ``destroy`` closes it and releases the local.
- Documents, meta, queries and permissions delegate to ``frappe.model`` / ``frappe.database`` /
  ``frappe.permissions``; jobs to ``frappe.utils.background_jobs``; realtime to ``frappe.realtime``.
- Every exception of ``frappe.exceptions`` is importable as ``frappe.<Name>``.
"""

import datetime
import decimal
import functools
import importlib
import inspect
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.local import Local, LocalProxy, release_local

from .exceptions import *
from .exceptions import AppNotInstalledError, IncorrectSitePath, PermissionError, ValidationError
from .utils.data import _dict, cint, cstr, flt

__version__ = "15.44.2"
__title__ = "Frappe Framework (benchless stand-in)"
# the one mark of the stand-in: tests that need benchless's own processes check it (a real Frappe lacks it)
__benchless__ = True

STANDARD_USERS = ("Guest", "Administrator")

local = Local()
# process-global RedisWrapper set by init() (v15: an attribute, callable for the legacy frappe.cache())
cache = None

db = local("db")
qb = local("qb")
conf = local("conf")
form_dict = local("form_dict")
form = form_dict
request = local("request")
job = local("job")
response = local("response")
session = local("session")
user = local("user")
flags = local("flags")
error_log = local("error_log")
debug_log = local("debug_log")
message_log = local("message_log")
lang = local("lang")

whitelisted: set[Callable] = set()
guest_methods: set[Callable] = set()
xss_safe_methods: set[Callable] = set()
allowed_http_methods_for_whitelisted_func: dict[Callable, list[str]] = {}

_hooks_cache: dict[tuple, dict] = {}


# ---------------------------------------------------------------- translation


def _(msg: str, lang: str | None = None, context: str | None = None) -> str:
	"""Translate ``msg``; benchless ships no translations, so the original string is returned."""
	return msg


class _LazyTranslate:
	__slots__ = ("context", "lang", "msg")

	def __init__(self, msg: str, lang: str | None = None, context: str | None = None) -> None:
		self.msg, self.lang, self.context = msg, lang, context

	def __str__(self) -> str:
		return _(self.msg, self.lang, self.context)

	def __repr__(self) -> str:
		return repr(str(self))

	def __eq__(self, other: object) -> bool:
		return str(self) == str(other)

	def __hash__(self) -> int:
		return hash(str(self))


def _lt(msg: str, lang: str | None = None, context: str | None = None) -> _LazyTranslate:
	"""Lazy translation: translated when converted to str."""
	return _LazyTranslate(msg, lang, context)


def as_unicode(text: Any, encoding: str = "utf-8") -> str:
	return cstr(text, encoding)


def safe_decode(param: Any, encoding: str = "utf-8") -> Any:
	return param.decode(encoding) if isinstance(param, bytes) else param


def safe_encode(param: Any, encoding: str = "utf-8") -> Any:
	return param.encode(encoding) if isinstance(param, str) else param


def scrub(txt: str) -> str:
	"""'Background Job' -> 'background_job'."""
	return cstr(txt).replace(" ", "_").replace("-", "_").lower()


# ---------------------------------------------------------------- site context


def init(site: str, sites_path: str = ".", new_site: bool = False, force: bool = False) -> None:
	"""Initialise ``frappe.local`` for ``site`` (no database connection). No-op if already done."""
	if getattr(local, "initialised", None) and not force:
		return

	local.error_log = []
	local.message_log = []
	local.debug_log = []
	local.realtime_log = []
	local.flags = _dict(
		{
			"currently_saving": [],
			"redirect_location": "",
			"in_install_db": False,
			"in_install_app": False,
			"in_import": False,
			"in_test": False,
			"mute_messages": False,
			"ignore_links": False,
			"mute_emails": False,
			"has_dataurl": False,
			"new_site": new_site,
			"read_only": False,
		}
	)
	local.locked_documents = []
	local.test_objects = {}
	local.site = site
	local.sites_path = sites_path
	local.site_path = os.path.join(sites_path, site)
	local.all_apps = None
	local.request_ip = None
	local.response = _dict({"docs": []})
	local.task_id = None
	local.conf = _dict(get_site_config())
	local.lang = local.conf.lang or "en"
	local.module_app = None
	local.app_modules = None
	local.user = None
	local.user_perms = None
	local.role_permissions = {}
	local.valid_columns = {}
	local.new_doc_templates = {}
	local.jenv = None
	local.jloader = None
	local.assets_json = None
	local.cache = {}
	local.document_cache = {}
	local.form_dict = _dict()
	local.session = _dict()
	local.db = None
	setup_redis_cache_connection()
	local.initialised = True


def get_site_config(sites_path: str | None = None, site_path: str | None = None) -> _dict:
	"""common_site_config.json overlaid by site_config.json, with Frappe's env/default fallbacks."""
	config = _dict()
	sites_path = sites_path or getattr(local, "sites_path", None)
	site_path = site_path or getattr(local, "site_path", None)
	if sites_path:
		config.update(get_common_site_config(sites_path))
	if site_path:
		site_config = os.path.join(site_path, "site_config.json")
		if os.path.exists(site_config):
			config.update(get_file_json(site_config))
		elif getattr(local, "site", None) and not local.flags.new_site:
			raise IncorrectSitePath(f"{local.site} does not exist")

	env = os.environ.get
	config["redis_queue"] = (
		env("FRAPPE_REDIS_QUEUE") or config.get("redis_queue") or "redis://127.0.0.1:11311"
	)
	config["redis_cache"] = (
		env("FRAPPE_REDIS_CACHE") or config.get("redis_cache") or "redis://127.0.0.1:13311"
	)
	config["db_type"] = env("FRAPPE_DB_TYPE") or config.get("db_type") or "mariadb"
	config["db_socket"] = env("FRAPPE_DB_SOCKET") or config.get("db_socket")
	config["db_host"] = env("FRAPPE_DB_HOST") or config.get("db_host") or "127.0.0.1"
	config["db_port"] = cint(env("FRAPPE_DB_PORT") or config.get("db_port") or 3306)
	return config


def get_common_site_config(sites_path: str | None = None) -> _dict:
	sites_path = sites_path or getattr(local, "sites_path", None) or "."
	path = os.path.join(sites_path, "common_site_config.json")
	if os.path.exists(path):
		return _dict(get_file_json(path))
	return _dict()


def get_conf(site: str | None = None) -> _dict:
	"""frappe.local.conf when initialised, else the given site's (or the common) config."""
	if getattr(local, "conf", None) is not None:
		return local.conf
	with init_site(site):
		return local.conf


class init_site:
	"""Context manager: init ``site`` ('' = common config only) and destroy on exit."""

	def __init__(self, site: str | None = None) -> None:
		self.site = site or ""

	def __enter__(self) -> Local:
		init(self.site)
		return local

	def __exit__(self, *exc_info: Any) -> None:
		destroy()


def connect(site: str | None = None, db_name: str | None = None, set_admin_as_user: bool = True) -> None:
	"""Attach a database connection (opened lazily by the Database) for the initialised site."""
	from frappe.database import get_db

	if site:
		init(site)
	assert db_name or local.conf.db_name, "site must be fully initialized, db_name missing"
	assert local.conf.db_password, "site must be fully initialized, db_password missing"
	local.db = get_db(
		host=local.conf.db_host,
		port=local.conf.db_port,
		user=local.conf.db_name or db_name,
		password=local.conf.db_password,
		cur_db_name=local.conf.db_name or db_name,
	)
	if set_admin_as_user:
		set_user("Administrator")


def destroy() -> None:
	"""Close the database connection and release ``frappe.local``."""
	if db:
		db.close()
	release_local(local)


def setup_redis_cache_connection() -> None:
	"""Set the process-global ``frappe.cache`` from conf.redis_cache (once per process)."""
	global cache
	if not cache:
		from frappe.utils.redis_wrapper import setup_cache

		cache = setup_cache()


def get_site_path(*joins: str) -> str:
	return os.path.join(local.site_path, *joins)


def get_bench_path() -> str:
	from frappe.utils import get_bench_path as _get_bench_path

	return _get_bench_path()


# ---------------------------------------------------------------- messages


def msgprint(
	msg: str,
	title: str | None = None,
	raise_exception: bool | type[Exception] | Exception = False,
	as_table: bool = False,
	as_list: bool = False,
	indicator: str | None = None,
	alert: bool = False,
	primary_action: str | None = None,
	is_minimizable: bool = False,
	wide: bool = False,
	*,
	realtime: bool = False,
) -> None:
	"""Append a message for the client (``_server_messages``); raise when ``raise_exception``."""
	msg = safe_decode(msg)
	out = _dict(message=msg)

	def _raise_exception() -> None:
		if not raise_exception:
			return
		if inspect.isclass(raise_exception) and issubclass(raise_exception, Exception):
			exc = raise_exception(msg)
		elif isinstance(raise_exception, Exception):
			exc = raise_exception
			exc.args = (msg,)
		else:
			exc = ValidationError(msg)
		if out.__frappe_exc_id:
			exc.__frappe_exc_id = out.__frappe_exc_id
		raise exc

	if flags.mute_messages:
		_raise_exception()
		return

	if as_table and type(msg) in (list, tuple):
		out.as_table = 1
	if as_list and type(msg) in (list, tuple):
		out.as_list = 1
	if flags.print_messages and out.message:
		print(f"Message: {out.message}")
	out.title = title or _("Message", context="Default title of the message dialog")
	if not indicator and raise_exception:
		indicator = "red"
	if indicator:
		out.indicator = indicator
	if is_minimizable:
		out.is_minimizable = is_minimizable
	if alert:
		out.alert = 1
	if raise_exception:
		out.raise_exception = 1
		out.__frappe_exc_id = generate_hash()
	if primary_action:
		out.primary_action = primary_action
	if wide:
		out.wide = wide

	if realtime:
		publish_realtime(event="msgprint", message=out)
	else:
		message_log.append(out)
	_raise_exception()


def throw(
	msg: str,
	exc: type[Exception] | Exception = ValidationError,
	title: str | None = None,
	is_minimizable: bool = False,
	wide: bool = False,
	as_list: bool = False,
	primary_action: Any = None,
) -> None:
	"""msgprint with a red indicator, then raise ``exc(msg)`` (default ValidationError -> 417)."""
	msgprint(
		msg,
		raise_exception=exc,
		title=title,
		indicator="red",
		is_minimizable=is_minimizable,
		wide=wide,
		as_list=as_list,
		primary_action=primary_action,
	)


def clear_messages() -> None:
	local.message_log = []


def clear_last_message() -> None:
	if len(local.message_log) > 0:
		local.message_log = local.message_log[:-1]


def errprint(msg: str) -> None:
	"""Record a traceback for the response's ``exc`` (printed when not in a request)."""
	msg = as_unicode(msg)
	if not request or conf.developer_mode:
		print(msg)
	error_log.append({"exc": msg})


def log(msg: str) -> None:
	if not request:
		print(repr(msg))
	debug_log.append(as_unicode(msg))


def bold(text: Any) -> str:
	return f"<strong>{text}</strong>"


# ---------------------------------------------------------------- users and roles


def set_user(username: str) -> None:
	"""Switch the session user and reset the per-user request caches (no permission check)."""
	local.session.user = username
	local.session.sid = username
	local.cache = {}
	local.form_dict = _dict()
	local.jenv = None
	local.session.data = _dict()
	local.role_permissions = {}
	local.new_doc_templates = {}
	local.user_perms = None


class _UserPermissions:
	"""The small part of frappe.utils.user.UserPermissions dartwing can reach: name and roles."""

	def __init__(self, name: str) -> None:
		self.name = name
		self.roles = get_roles(name)

	def get_roles(self) -> list[str]:
		return self.roles


def get_roles(username: str | None = None) -> list[str]:
	"""Roles of ``username`` (default: session user), as frappe.permissions.get_roles computes them.

	Guest -> ['Guest']; Administrator -> every Role; others -> their Has Role rows + 'All', 'Guest'
	(+ 'Desk User' for System Users). Memoised per request in frappe.local.cache.
	"""
	if not local.session or not local.session.user:
		return ["Guest"]
	username = username or local.session.user
	return local_cache("roles", username, lambda: _load_roles(username))


def _load_roles(username: str) -> list[str]:
	if username == "Guest":
		return ["Guest"]
	if username == "Administrator":
		return [row[0] for row in db.sql("select name from `tabRole`")] or ["Administrator"]
	rows = db.sql(
		"""select distinct hr.role from `tabHas Role` hr
		where hr.parent=%s and hr.parenttype='User' and hr.role not in ('All', 'Guest')""",
		(username,),
	)
	roles = [row[0] for row in rows] + ["All", "Guest"]
	user_type = db.sql("select user_type from `tabUser` where name=%s", (username,))
	if user_type and user_type[0][0] == "System User":
		roles.append("Desk User")
	return roles


def only_for(roles: list[str] | tuple[str] | str, message: bool = False) -> None:
	"""Raise PermissionError unless the session user has one of ``roles`` (skipped in tests, as Frappe)."""
	if local.flags.in_test or local.session.user == "Administrator":
		return
	if isinstance(roles, str):
		roles = (roles,)
	if set(roles).isdisjoint(get_roles()):
		if not message:
			raise PermissionError
		throw(
			_("This action is only allowed for {}").format(bold(", ".join(roles))),
			PermissionError,
			_("Not Permitted"),
		)


def has_permission(
	doctype: str | None = None,
	ptype: str = "read",
	doc: Any = None,
	user: str | None = None,
	throw: bool = False,
	*,
	parent_doctype: str | None = None,
	debug: bool = False,
) -> bool:
	"""Delegate to frappe.permissions.has_permission; with throw=True a denial raises PermissionError."""
	import frappe.permissions

	if not doctype and doc:
		doctype = doc.doctype
	out = frappe.permissions.has_permission(
		doctype, ptype, doc=doc, user=user, raise_exception=throw, parent_doctype=parent_doctype, debug=debug
	)
	if throw and not out:
		document_label = f"{_(doctype)} {doc if isinstance(doc, str) else getattr(doc, 'name', '')}"
		local.flags.error_message = _("No permission for {0}").format(document_label.strip())
		raise PermissionError
	return bool(out)


# ---------------------------------------------------------------- documents (delegating to frappe.model)


def get_meta(doctype: str, cached: bool = True) -> Any:
	import frappe.model.meta

	return frappe.model.meta.get_meta(doctype, cached=cached)


def get_doc(*args: Any, **kwargs: Any) -> Any:
	"""A Document: existing (doctype, name), a Single (doctype), or new (dict / kwargs)."""
	import frappe.model.document

	doc = frappe.model.document.get_doc(*args, **kwargs)
	# keep the request-local document cache in step with what was just read
	if args and len(args) > 1 and isinstance(args[1], str) and not kwargs.get("for_update"):
		key = _document_cache_key(args[0], args[1])
		if key in _document_cache():
			_document_cache()[key] = doc
	return doc


def _document_cache() -> dict:
	if getattr(local, "document_cache", None) is None:
		local.document_cache = {}
	return local.document_cache


def _document_cache_key(doctype: str, name: str) -> str:
	return f"document_cache::{doctype}::{name}"


def get_cached_doc(*args: Any, **kwargs: Any) -> Any:
	"""get_doc memoised for the current request/job (cleared by clear_document_cache on writes).

	Frappe 15 also keeps a Redis copy; benchless keeps it request-local so a rolled-back test can never
	leave a stale document behind in a shared cache.
	"""
	if len(args) == 2 and all(isinstance(a, str) for a in args):
		key = _document_cache_key(*args)
		cached = _document_cache().get(key)
		if cached is not None:
			return cached
		doc = get_doc(*args, **kwargs)
		_document_cache()[key] = doc
		return doc
	return get_doc(*args, **kwargs)


def clear_document_cache(doctype: str, name: str | None = None) -> None:
	"""Drop cached copies of one document (or all of a doctype); again after commit/rollback."""
	cache_store = _document_cache()
	if name is None:
		prefix = _document_cache_key(doctype, "")
		for key in [k for k in cache_store if k.startswith(prefix)]:
			cache_store.pop(key, None)
	else:
		cache_store.pop(_document_cache_key(doctype, name), None)


def get_cached_value(doctype: str, name: str, fieldname: str | list = "name", as_dict: bool = False) -> Any:
	"""Field value(s) from the cached document; None when the document does not exist."""
	try:
		doc = get_cached_doc(doctype, name)
	except DoesNotExistError:
		clear_last_message()
		return None
	if isinstance(fieldname, str):
		if as_dict:
			throw("Cannot make dict for single fieldname")
		return doc.get(fieldname)
	values = [doc.get(f) for f in fieldname]
	if as_dict:
		return _dict(zip(fieldname, values, strict=True))
	return values


def new_doc(
	doctype: str,
	*,
	parent_doc: Any = None,
	parentfield: str | None = None,
	as_dict: bool = False,
	**kwargs: Any,
) -> Any:
	"""A new unsaved document with defaults applied (frappe.model.create_new when available)."""
	try:
		from frappe.model.create_new import get_new_doc
	except ImportError:
		get_new_doc = None
	if get_new_doc:
		doc = get_new_doc(doctype, parent_doc, parentfield, as_dict=as_dict)
		if kwargs:
			doc.update(kwargs)
		return doc
	doc = get_doc({"doctype": doctype, **kwargs})
	if parent_doc is not None:
		doc.parent, doc.parenttype, doc.parentfield = parent_doc.name, parent_doc.doctype, parentfield
	return doc.as_dict() if as_dict else doc


def delete_doc(
	doctype: str | None = None,
	name: str | None = None,
	force: bool = False,
	ignore_doctypes: list[str] | None = None,
	for_reload: bool = False,
	ignore_permissions: bool = False,
	flags: Any = None,
	ignore_on_trash: bool = False,
	ignore_missing: bool = True,
	delete_permanently: bool = False,
) -> None:
	import frappe.model.delete_doc

	frappe.model.delete_doc.delete_doc(
		doctype,
		name,
		force,
		ignore_doctypes,
		for_reload,
		ignore_permissions,
		flags,
		ignore_on_trash,
		ignore_missing,
		delete_permanently,
	)


def get_list(doctype: str, *args: Any, **kwargs: Any) -> list:
	"""Permission-checked list query (frappe.model.db_query.DatabaseQuery)."""
	import frappe.model.db_query

	return frappe.model.db_query.DatabaseQuery(doctype).execute(*args, **kwargs)


def get_all(doctype: str, *args: Any, **kwargs: Any) -> list:
	"""get_list without permission checks and, unless given, without a row limit."""
	kwargs["ignore_permissions"] = True
	if "limit_page_length" not in kwargs:
		kwargs["limit_page_length"] = 0
	return get_list(doctype, *args, **kwargs)


def get_value(*args: Any, **kwargs: Any) -> Any:
	return db.get_value(*args, **kwargs)


def set_value(doctype: str, docname: str, fieldname: str | dict, value: Any = None) -> Any:
	"""Load, update and save() the document (permission-checked, hooks run) like frappe.client.set_value."""
	doc = get_doc(doctype, docname)
	if isinstance(fieldname, dict):
		doc.update(fieldname)
	else:
		doc.set(fieldname, value)
	doc.save()
	return doc.as_dict()


# ---------------------------------------------------------------- apps, modules and hooks


def get_file_json(path: str) -> Any:
	with open(path) as f:
		return json.load(f)


def read_file(path: str, raise_not_found: bool = False) -> str | None:
	if os.path.exists(path):
		with open(path, encoding="utf-8") as f:
			return f.read()
	if raise_not_found:
		raise OSError(f"{path} Not Found")
	return None


def get_module(modulename: str) -> Any:
	return importlib.import_module(modulename)


def get_pymodule_path(modulename: str, *joins: str) -> str:
	"""Filesystem directory of a python package, joined with ``joins``."""
	if "public" not in joins:
		joins = [scrub(part) for part in joins]
	return os.path.join(os.path.dirname(get_module(scrub(modulename)).__file__ or ""), *joins)


def get_app_path(app_name: str, *joins: str) -> str:
	return get_pymodule_path(app_name, *joins)


def get_module_list(app_name: str) -> list[str]:
	"""Module names listed in the app's ``modules.txt``."""
	text = read_file(get_app_path(app_name, "modules.txt")) or ""
	return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def setup_module_map() -> None:
	"""Fill local.app_modules {app: [module]} and local.module_app {scrubbed module: app}."""
	local.app_modules = {}
	local.module_app = {}
	for app in get_all_apps():
		local.app_modules.setdefault(app, [])
		for module in get_module_list(app):
			local.module_app[scrub(module)] = app
			local.app_modules[app].append(scrub(module))


def get_all_apps(with_internal_apps: bool = True, sites_path: str | None = None) -> list[str]:
	"""Apps on the bench: frappe first, then those in sites/apps.txt."""
	sites_path = sites_path or getattr(local, "sites_path", None) or "."
	apps = ["frappe"] if with_internal_apps else []
	for app in (read_file(os.path.join(sites_path, "apps.txt")) or "").splitlines():
		app = app.strip()
		if app and app not in apps:
			apps.append(app)
	return apps


def get_installed_apps(*, _ensure_on_bench: bool = False) -> list[str]:
	"""Apps installed on the site (the 'installed_apps' global default), frappe first."""
	if getattr(local, "flags", None) and local.flags.in_install_db:
		return []
	apps = local_cache("installed_apps", "all", _load_installed_apps)
	if _ensure_on_bench:
		on_bench = get_all_apps()
		apps = [app for app in apps if app in on_bench]
	return list(apps)


def _load_installed_apps() -> list[str]:
	from frappe.installer import read_installed_apps

	return read_installed_apps()


def get_hooks(
	hook: str | None = None, default: Any = "_KEEP_DEFAULT_LIST", app_name: str | None = None
) -> Any:
	"""Merged hooks of the installed apps (or one app); list-valued hooks are concatenated."""
	apps = [app_name] if app_name else _apps_for_hooks()
	key = tuple(apps)
	if key not in _hooks_cache:
		_hooks_cache[key] = _load_app_hooks(apps)
	hooks = _dict(_hooks_cache[key])
	if hook:
		return hooks.get(hook) or ([] if default == "_KEEP_DEFAULT_LIST" else default)
	return hooks


def _apps_for_hooks() -> list[str]:
	if getattr(local, "db", None) and getattr(local, "site", None):
		try:
			return get_installed_apps(_ensure_on_bench=True) or ["frappe"]
		except Exception:
			# the site's tables are not there yet (site being created): use what the bench has
			return get_all_apps()
	return get_all_apps()


def _load_app_hooks(apps: list[str]) -> dict:
	hooks: dict = {}
	for app in apps:
		try:
			app_hooks = get_module(f"{app}.hooks")
		except ImportError:
			continue
		for key in dir(app_hooks):
			if key.startswith("_"):
				continue
			value = getattr(app_hooks, key)
			if inspect.ismodule(value) or callable(value):
				continue
			_append_hook(hooks, key, value)
	return hooks


def _append_hook(target: dict, key: str, value: Any) -> None:
	"""Merge as Frappe's append_hook: dicts merge recursively, everything else becomes a list."""
	if isinstance(value, dict):
		target.setdefault(key, {})
		for inkey, invalue in value.items():
			_append_hook(target[key], inkey, invalue)
		return
	target.setdefault(key, [])
	if isinstance(value, list):
		target[key].extend(value)
	else:
		target[key].append(value)


def get_doc_hooks() -> dict:
	"""{doctype: {event: [handler paths]}} from the apps' doc_events, tuple keys expanded."""
	if not getattr(local, "doc_events_hooks", None):
		hooks = get_hooks("doc_events", {})
		out: dict = {}
		for key, value in hooks.items():
			for doctype in key if isinstance(key, tuple) else (key,):
				out.setdefault(doctype, {})
				for event, handlers in value.items():
					out[doctype].setdefault(event, []).extend(handlers)
		local.doc_events_hooks = out
	return local.doc_events_hooks


def get_attr(method_string: str) -> Any:
	"""The object at a dotted path; AppNotInstalledError when its app is not installed on the site."""
	app_name = method_string.split(".", 1)[0]
	if (
		getattr(local, "db", None)
		and not local.flags.in_uninstall
		and not local.flags.in_install
		and app_name not in ("frappe", "benchless")
		and app_name not in get_installed_apps()
	):
		throw(_("App {0} is not installed").format(app_name), AppNotInstalledError)
	modulename, _sep, methodname = method_string.rpartition(".")
	return getattr(get_module(modulename), methodname)


def call(fn: str | Callable, *args: Any, **kwargs: Any) -> Any:
	"""Call ``fn`` (callable or dotted path) with only the kwargs it accepts."""
	if isinstance(fn, str):
		fn = get_attr(fn)
	return fn(*args, **get_newargs(fn, kwargs))


def get_newargs(fn: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
	"""kwargs filtered to ``fn``'s parameters (all kept with **kwargs); never ignore_permissions/flags."""
	if hasattr(fn, "fnargs"):
		fnargs = fn.fnargs
	else:
		signature = inspect.signature(fn)
		fnargs = list(signature.parameters)
		if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
			fnargs.append("kwargs")
	newargs = {a: kwargs[a] for a in kwargs if a in fnargs or "kwargs" in fnargs}
	newargs.pop("ignore_permissions", None)
	newargs.pop("flags", None)
	return newargs


# ---------------------------------------------------------------- whitelisting


def whitelist(
	allow_guest: bool = False, xss_safe: bool = False, methods: list[str] | None = None
) -> Callable:
	"""Decorator factory registering ``fn`` for /api/method with argument type validation."""
	if not methods:
		methods = ["GET", "POST", "PUT", "DELETE"]

	def innerfn(fn: Callable) -> Callable:
		method = None
		if hasattr(fn, "__func__"):
			method = _validated(fn)
			fn = method.__func__
		else:
			fn = _validated(fn)
		whitelisted.add(fn)
		allowed_http_methods_for_whitelisted_func[fn] = methods
		if allow_guest:
			guest_methods.add(fn)
			if xss_safe:
				xss_safe_methods.add(fn)
		return method or fn

	return innerfn


def _validated(fn: Callable) -> Callable:
	"""Wrap with typing_validations (active in a request or a test), when that module exists."""
	try:
		from frappe.utils.typing_validations import validate_argument_types
	except ImportError:
		return fn

	def in_request_or_test() -> bool:
		return bool(getattr(local, "request", None) or (getattr(local, "flags", None) or {}).get("in_test"))

	return validate_argument_types(fn, apply_condition=in_request_or_test)


def is_whitelisted(method: Callable) -> None:
	"""Raise PermissionError unless ``method`` is whitelisted (and guest-allowed for Guest)."""
	is_guest = session["user"] == "Guest"
	if method not in whitelisted or (is_guest and method not in guest_methods):
		summary = _("You are not permitted to access this resource.")
		detail = _("Function {0} is not whitelisted.").format(bold(f"{method.__module__}.{method.__name__}"))
		msg = f"<details><summary>{summary}</summary>{detail}</details>"
		throw(msg, PermissionError, title=_("Method Not Allowed"))
	if is_guest and method not in xss_safe_methods:
		from frappe.utils.data import escape_html, is_html

		for key, value in form_dict.items():
			if isinstance(value, str) and is_html(value):
				form_dict[key] = escape_html(value)


def connect_replica() -> bool:
	"""Swap ``local.db`` for a connection to ``replica_host`` (``frappe.connect_replica``); False when
	this context already reads from the replica."""
	from frappe.database import get_db

	if local and hasattr(local, "replica_db") and hasattr(local, "primary_db"):
		return False
	user, password = local.conf.db_name, local.conf.db_password
	if local.conf.different_credentials_for_replica:
		user, password = local.conf.replica_db_name, local.conf.replica_db_password
	local.replica_db = get_db(
		host=local.conf.replica_host,
		port=local.conf.replica_db_port,
		user=user,
		password=password,
		cur_db_name=local.conf.db_name,
	)
	local.primary_db = local.db
	local.db = local.replica_db
	return True


def read_only() -> Callable:
	"""``frappe.read_only``: with ``read_from_replica`` in the site config the function reads through a
	replica connection (nested calls keep it), and the primary is put back afterwards. As in Frappe, the
	switch happens once per context (``local``): ``replica_db`` stays set, so a second call in the same
	request or job reads from the primary."""

	def innfn(fn: Callable) -> Callable:
		@functools.wraps(fn)
		def wrapper_fn(*args: Any, **kwargs: Any) -> Any:
			switched = bool(conf.read_from_replica) and connect_replica()
			try:
				return fn(*args, **get_newargs(fn, kwargs))
			finally:
				if switched and local and hasattr(local, "primary_db"):
					local.db.close()
					local.db = local.primary_db

		return wrapper_fn

	return innfn


# ---------------------------------------------------------------- json


def json_handler(obj: Any) -> Any:
	"""json default: dates/times -> str, Decimal -> float, documents -> dict (frappe.utils.response)."""
	if isinstance(obj, datetime.date | datetime.timedelta | datetime.datetime | datetime.time):
		return str(obj)
	if isinstance(obj, decimal.Decimal):
		return float(obj)
	if isinstance(obj, LocalProxy):
		return str(obj)
	if hasattr(obj, "as_dict") and callable(obj.as_dict):
		return obj.as_dict(no_nulls=True)
	if isinstance(obj, uuid.UUID):
		return str(obj)
	if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
		return list(obj)
	if isinstance(obj, type) or isinstance(obj, Exception) or callable(obj):
		return repr(obj)
	raise TypeError(f"Object of type {type(obj)} with value of {obj!r} is not JSON serializable")


def as_json(
	obj: dict | list, indent: int = 1, separators: tuple | None = None, ensure_ascii: bool = True
) -> str:
	"""Sorted-keys JSON (indent 1) with Frappe's json_handler for dates, Decimals, documents."""
	if separators is None:
		separators = (",", ": ")
	try:
		return json.dumps(
			obj,
			indent=indent,
			sort_keys=True,
			default=json_handler,
			separators=separators,
			ensure_ascii=ensure_ascii,
		)
	except TypeError:
		# mixed-type keys cannot be sorted; sort them as strings instead
		return json.dumps(
			_stringify_keys(obj),
			indent=indent,
			sort_keys=True,
			default=json_handler,
			separators=separators,
			ensure_ascii=ensure_ascii,
		)


def _stringify_keys(obj: Any) -> Any:
	if isinstance(obj, dict):
		return {str(k): _stringify_keys(v) for k, v in obj.items()}
	if isinstance(obj, list | tuple):
		return [_stringify_keys(v) for v in obj]
	return obj


def parse_json(val: Any) -> Any:
	from frappe.utils import parse_json as _parse_json

	return _parse_json(val)


# ---------------------------------------------------------------- misc services


def generate_hash(txt: str | None = None, length: int = 56) -> str:
	from frappe.utils import generate_hash as _generate_hash

	return _generate_hash(txt, length)


def get_traceback(with_context: bool = False) -> str:
	from frappe.utils import get_traceback as _get_traceback

	return _get_traceback(with_context=with_context)


def log_error(
	title: str | None = None,
	message: str | None = None,
	reference_doctype: str | None = None,
	reference_name: str | None = None,
	*,
	defer_insert: bool = False,
) -> Any:
	from frappe.utils.error import log_error as _log_error

	return _log_error(title, message, reference_doctype, reference_name, defer_insert=defer_insert)


def logger(
	module: str | None = None,
	with_more_info: bool = False,
	allow_site: bool | str = True,
	filter: Any = None,
	max_size: int = 100_000,
	file_count: int = 20,
) -> Any:
	from frappe.utils.logger import get_logger

	return get_logger(
		module=module,
		with_more_info=with_more_info,
		allow_site=allow_site,
		filter=filter,
		max_size=max_size,
		file_count=file_count,
	)


def local_cache(namespace: str, key: str, generator: Callable, regenerate_if_none: bool = False) -> Any:
	"""Memoise ``generator()`` in frappe.local.cache[namespace][key] for this request/job."""
	if getattr(local, "cache", None) is None:
		local.cache = {}
	bucket = local.cache.setdefault(namespace, {})
	if key not in bucket or (regenerate_if_none and bucket[key] is None):
		bucket[key] = generator()
	return bucket[key]


def clear_cache(user: str | None = None, doctype: str | None = None) -> None:
	"""Clear request-local caches and the Redis caches derived from code and meta."""
	local.cache = {}
	local.document_cache = {}
	local.role_permissions = {}
	local.user_perms = None
	local.doc_events_hooks = None
	if doctype or not user:
		_clear_meta_cache(doctype)
	if not user and not doctype:
		_hooks_cache.clear()


def _clear_meta_cache(doctype: str | None) -> None:
	try:
		import frappe.model.meta as meta_module
	except ImportError:
		return
	clear = getattr(meta_module, "clear_meta_cache", None)
	if clear:
		clear(doctype) if doctype else clear()


def are_emails_muted() -> bool:
	"""``frappe.are_emails_muted``: the flag or the site config's ``mute_emails``."""
	return flags.mute_emails or cint(conf.get("mute_emails") or 0) or False


def sendmail(
	recipients: list[str] | str | None = None,
	sender: str = "",
	subject: str = "No Subject",
	message: str = "No Message",
	as_markdown: bool = False,
	delayed: bool = True,
	reference_doctype: str | None = None,
	reference_name: str | None = None,
	content: str | None = None,
	doctype: str | None = None,
	name: str | None = None,
	cc: list[str] | str | None = None,
	send_after: Any = None,
	send_priority: int = 1,
	now: bool | None = None,
	**unsupported: Any,
) -> Any:
	"""Queue an email (an Email Queue row in the caller's transaction), as Frappe 15's ``sendmail`` with
	``delayed=True``. benchless has no SMTP: sending now and the options dartwing never passes
	(templates, attachments, …) raise NotImplementedError rather than being silently dropped."""
	if now or not delayed:
		raise NotImplementedError("benchless cannot send email now: it only queues Email Queue rows")
	given = sorted(key for key, value in unsupported.items() if value not in (None, False, "", [], 0, 1))
	if given or as_markdown:
		raise NotImplementedError(f"benchless sendmail does not support {given or ['as_markdown']}")
	from frappe.email.doctype.email_queue.email_queue import queue_email

	to = recipients.replace(";", ",").split(",") if isinstance(recipients, str) else list(recipients or [])
	return queue_email(
		recipients=to,
		cc=cc.split(",") if isinstance(cc, str) else list(cc or []),
		sender=sender,
		subject=subject,
		message=content or message,
		reference_doctype=doctype or reference_doctype,
		reference_name=name or reference_name,
		send_after=send_after,
		send_priority=send_priority,
	)


def get_system_settings(key: str) -> Any:
	"""System Settings value; benchless has no System Settings doctype, so Frappe's defaults apply."""
	from frappe.utils.data import get_system_timezone

	defaults = {
		"time_zone": get_system_timezone(),
		"date_format": "yyyy-mm-dd",
		"time_format": "HH:mm:ss",
		"number_format": "#,###.##",
		"float_precision": 3,
		"currency_precision": 2,
		"rounding_method": "Banker's Rounding",
		"enable_scheduler": 1,
		"session_expiry": "240:00",
		"allow_error_traceback": 0,  # a Check without default in Frappe 15's System Settings
		"first_day_of_the_week": "Sunday",
		"language": "en",
	}
	overrides = (getattr(local, "conf", None) or {}).get("system_settings") or {}
	return {**defaults, **overrides}.get(key)


def get_request_header(key: str, default: Any = None) -> Any:
	return request.headers.get(key, default)


def enqueue(*args: Any, **kwargs: Any) -> Any:
	import frappe.utils.background_jobs

	return frappe.utils.background_jobs.enqueue(*args, **kwargs)


def enqueue_doc(*args: Any, **kwargs: Any) -> Any:
	import frappe.utils.background_jobs

	return frappe.utils.background_jobs.enqueue_doc(*args, **kwargs)


def task(**task_kwargs: Any) -> Callable:
	"""Decorator adding ``fn.enqueue(**kwargs)``."""

	def decorator_task(f: Callable) -> Callable:
		f.enqueue = lambda **fun_kwargs: enqueue(f, **task_kwargs, **fun_kwargs)

		@functools.wraps(f)
		def decorated_function(*args: Any, **kwargs: Any) -> Any:
			return f(*args, **kwargs)

		return decorated_function

	return decorator_task


def publish_realtime(*args: Any, **kwargs: Any) -> Any:
	import frappe.realtime

	return frappe.realtime.publish_realtime(*args, **kwargs)


def publish_progress(*args: Any, **kwargs: Any) -> Any:
	import frappe.realtime

	return frappe.realtime.publish_progress(*args, **kwargs)


@whitelist(allow_guest=True)
def ping() -> str:
	return "pong"
