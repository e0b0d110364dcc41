"""App installation: mirrors ``frappe/installer.py`` (Frappe 15), reduced to what a benchless site needs.

Contract:
- The list of installed apps lives where Frappe keeps it: the global default ``installed_apps`` (a JSON
  list) in ``tabDefaultValue`` (parent ``__default``). ``read_installed_apps`` returns ['frappe'] until the
  site's tables exist.
- ``install_app(name)`` runs the app's ``before_install`` hooks, syncs its doctypes, records it as
  installed, then runs ``after_install`` hooks (no arguments), in Frappe's order. Installing an installed
  app is a no-op.
"""

import json
import os

import frappe

INSTALLED_APPS_KEY = "installed_apps"
DEFAULTS_PARENT = "__default"


def read_installed_apps() -> list[str]:
	"""Installed apps in install order; ['frappe'] while the site has no defaults table yet."""
	try:
		rows = frappe.db.sql(
			"select defvalue from `tabDefaultValue` where parent=%s and defkey=%s",
			(DEFAULTS_PARENT, INSTALLED_APPS_KEY),
		)
	except Exception as exc:
		if _is_missing_table(exc):
			return ["frappe"]
		raise
	apps = json.loads(rows[0][0]) if rows and rows[0][0] else []
	return apps or ["frappe"]


def _is_missing_table(exc: Exception) -> bool:
	is_missing = getattr(frappe.db, "is_table_missing", None)
	if is_missing:
		return bool(is_missing(exc))
	return bool(exc.args) and exc.args[0] == 1146


def write_installed_apps(apps: list[str]) -> None:
	"""Store the installed-apps list (replacing any previous value)."""
	frappe.db.sql(
		"delete from `tabDefaultValue` where parent=%s and defkey=%s", (DEFAULTS_PARENT, INSTALLED_APPS_KEY)
	)
	frappe.db.sql(
		"""insert into `tabDefaultValue` (name, creation, modified, modified_by, owner, docstatus,
		parent, parentfield, parenttype, idx, defkey, defvalue)
		values (%s, now(6), now(6), 'Administrator', 'Administrator', 0,
		%s, 'system_defaults', '__default', 0, %s, %s)""",
		(frappe.generate_hash(length=10), DEFAULTS_PARENT, INSTALLED_APPS_KEY, json.dumps(apps)),
	)
	frappe.local.cache.pop("installed_apps", None)
	frappe.clear_cache()


def add_to_installed_apps(app_name: str) -> None:
	apps = [a for a in read_installed_apps() if a != app_name] if app_name != "frappe" else []
	if app_name == "frappe":
		apps = ["frappe", *[a for a in read_installed_apps() if a != "frappe"]]
	else:
		apps.append(app_name)
	write_installed_apps(apps)


def is_installed(app_name: str) -> bool:
	apps = read_installed_apps()
	# read_installed_apps answers ['frappe'] before anything is recorded; check the real row for frappe
	if app_name == "frappe":
		rows = frappe.db.sql(
			"select count(*) from `tabDefaultValue` where parent=%s and defkey=%s",
			(DEFAULTS_PARENT, INSTALLED_APPS_KEY),
		)
		return bool(rows and rows[0][0])
	return app_name in apps


def install_app(name: str, verbose: bool = False, set_as_patched: bool = True, force: bool = False) -> None:
	"""Install ``name`` on the connected site: before_install, sync doctypes, record, after_install."""
	if not force and is_installed(name):
		return
	frappe.flags.in_install = name
	try:
		app_hooks = frappe.get_hooks(app_name=name)
		for before_install in app_hooks.get("before_install") or []:
			if frappe.get_attr(before_install)() is False:
				return
		sync_for(name)
		add_to_installed_apps(name)
		if set_as_patched:
			from frappe.modules.patch_handler import set_all_patches_as_completed

			set_all_patches_as_completed(name)
		frappe.db.commit()
		for after_install in app_hooks.get("after_install") or []:
			frappe.get_attr(after_install)()
		frappe.db.commit()
	finally:
		frappe.flags.in_install = False


def sync_for(app_name: str) -> None:
	"""Create or alter the tables of ``app_name``'s doctypes (frappe.model.sync)."""
	from frappe.model import sync

	sync_for_app = getattr(sync, "sync_for", None)
	if sync_for_app:
		sync_for_app(app_name, force=True)
	else:
		# sync_all covers installed apps only: record the app first so its doctypes are included
		if app_name not in read_installed_apps():
			add_to_installed_apps(app_name)
		sync.sync_all()


# The tables Frappe creates from framework_mariadb.sql before any doctype exists (schemas as Frappe's).
FRAMEWORK_TABLES = (
	"""create table if not exists `__Auth` (
		`doctype` varchar(140) not null,
		`name` varchar(255) not null,
		`fieldname` varchar(140) not null,
		`password` text not null,
		`encrypted` int(1) not null default 0,
		primary key (`doctype`, `name`, `fieldname`)
	) engine=InnoDB row_format=dynamic character set=utf8mb4 collate=utf8mb4_unicode_ci""",
	"""create table if not exists `tabDefaultValue` (
		`name` varchar(255) not null,
		`creation` datetime(6) default null,
		`modified` datetime(6) default null,
		`modified_by` varchar(255) default null,
		`owner` varchar(255) default null,
		`docstatus` int(1) not null default 0,
		`parent` varchar(255) default null,
		`parentfield` varchar(255) default null,
		`parenttype` varchar(255) default null,
		`idx` int(8) not null default 0,
		`defkey` varchar(255) default null,
		`defvalue` text,
		primary key (`name`),
		key `parent` (`parent`),
		key `defaultvalue_parent_defkey_index` (`parent`, `defkey`)
	) engine=InnoDB row_format=dynamic character set=utf8mb4 collate=utf8mb4_unicode_ci""",
	"""create table if not exists `tabSingles` (
		`doctype` varchar(255) default null,
		`field` varchar(255) default null,
		`value` longtext,
		key `singles_doctype_field_index` (`doctype`, `field`)
	) engine=InnoDB row_format=dynamic character set=utf8mb4 collate=utf8mb4_unicode_ci""",
	"""create table if not exists `tabSeries` (
		`name` varchar(100) not null,
		`current` int(10) not null default 0,
		primary key (`name`)
	) engine=InnoDB row_format=dynamic character set=utf8mb4 collate=utf8mb4_unicode_ci""",
	# Frappe's Patch Log doctype (core), as its table: patch (Code), skipped (Check)
	"""create table if not exists `tabPatch Log` (
		`name` varchar(140) not null,
		`creation` datetime(6) default null,
		`modified` datetime(6) default null,
		`modified_by` varchar(140) default null,
		`owner` varchar(140) default null,
		`docstatus` int(1) not null default 0,
		`idx` int(8) not null default 0,
		`patch` longtext,
		`skipped` int(1) not null default 0,
		primary key (`name`)
	) engine=InnoDB row_format=dynamic character set=utf8mb4 collate=utf8mb4_unicode_ci""",
	"""create table if not exists `tabSessions` (
		`user` varchar(255) default null,
		`sid` varchar(255) default null,
		`sessiondata` longtext,
		`ipaddress` varchar(16) default null,
		`lastupdate` datetime(6) default null,
		`status` varchar(20) default null,
		key `sid` (`sid`)
	) engine=InnoDB row_format=dynamic character set=utf8mb4 collate=utf8mb4_unicode_ci""",
)


def create_framework_tables() -> None:
	"""Create the non-doctype tables (idempotent): __Auth, tabDefaultValue, tabSingles, tabSeries,
	tabSessions, and tabPatch Log (a core doctype in Frappe; benchless has no core doctypes)."""
	for ddl in FRAMEWORK_TABLES:
		frappe.db.sql(ddl)


def update_site_config(
	key: str, value: object, validate: bool = True, site_config_path: str | None = None
) -> None:
	"""Set (or with value 'None' remove) one key of the site's site_config.json."""
	site_config_path = site_config_path or frappe.get_site_path("site_config.json")
	config = frappe.get_file_json(site_config_path) if os.path.exists(site_config_path) else {}
	if value in ("None", None):
		config.pop(key, None)
	else:
		config[key] = value
	with open(site_config_path, "w") as f:
		f.write(json.dumps(config, indent=1, sort_keys=True))
	if getattr(frappe.local, "conf", None) is not None:
		frappe.local.conf[key] = value
