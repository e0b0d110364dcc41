"""The Jinja environment for web pages.

Mirrors ``frappe/utils/jinja.py`` (Frappe 15): templates are looked up in every installed app's package
directory (so ``templates/web.html`` and ``www/x.html`` resolve, later apps first, ``frappe`` last), with
an ``<app>/...`` prefix to name one app explicitly. Globals: ``frappe`` and ``_`` as in Frappe's jinja
environment, and ``include_script`` / ``include_style`` / ``bundled_asset`` (``frappe.utils.jinja_globals``). Autoescaping is off, as in Frappe (templates escape explicitly).
"""

import os
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader

import frappe


def get_app_dirs() -> list[tuple[str, str]]:
	"""(app, package dir) for the installed apps, the last installed first and frappe last."""
	apps = list(frappe.get_installed_apps()) if hasattr(frappe, "get_installed_apps") else ["frappe"]
	if "frappe" in apps:
		apps.remove("frappe")
	apps = [*reversed(apps), "frappe"]
	return [(app, frappe.get_app_path(app)) for app in apps]


def get_jenv() -> Environment:
	"""A Jinja environment for the site's installed apps (cached on ``frappe.local``)."""
	jenv = getattr(frappe.local, "jenv", None)
	if jenv is not None:
		return jenv
	app_dirs = get_app_dirs()
	loader = ChoiceLoader(
		[
			PrefixLoader({app: FileSystemLoader(path) for app, path in app_dirs}),
			*(FileSystemLoader(path) for _app, path in app_dirs),
		]
	)
	jenv = Environment(loader=loader, autoescape=False, extensions=["jinja2.ext.do"])
	from frappe.utils.jinja_globals import bundled_asset, include_script, include_style

	jenv.globals.update(
		{
			"frappe": frappe,
			"_": frappe._,
			"include_script": include_script,
			"include_style": include_style,
			"bundled_asset": bundled_asset,
		}
	)
	frappe.local.jenv = jenv
	return jenv
