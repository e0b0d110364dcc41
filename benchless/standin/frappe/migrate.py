"""Site migration: mirrors ``frappe/migrate.py`` (Frappe 15), reduced to schema sync and hooks.

Contract: ``migrate()`` on a connected site ensures the framework tables, creates or alters every
installed app's doctype tables (``frappe.model.sync.sync_all``), runs ``before_migrate`` hooks, ... then the ``after_migrate`` hooks (no
arguments), clears caches and commits.
"""

import frappe


def migrate() -> None:
	"""Bring the connected site's schema in line with the installed apps' doctype JSON."""
	from frappe.installer import create_framework_tables
	from frappe.model.sync import sync_all

	frappe.flags.in_migrate = True
	try:
		for fn in frappe.get_hooks("before_migrate"):
			frappe.get_attr(fn)()
		create_framework_tables()
		frappe.clear_cache()
		sync_all()
		frappe.db.commit()
		frappe.clear_cache()
		for fn in frappe.get_hooks("after_migrate"):
			frappe.get_attr(fn)()
		frappe.db.commit()
	finally:
		frappe.flags.in_migrate = False
