"""Site migration: mirrors ``frappe/migrate.py`` (Frappe 15), reduced to schema sync and hooks.

Contract: ``migrate()`` on a connected site ensures the framework tables, creates or alters every
installed app's doctype tables (``frappe.model.sync.sync_all``) between the pre_model_sync and the
post_model_sync patches (``frappe.modules.patch_handler``), runs ``before_migrate`` hooks first and the
``after_migrate`` hooks (no arguments) last, clears caches and commits.
"""

import frappe


def migrate() -> None:
	"""Bring the connected site's schema in line with the installed apps' doctype JSON."""
	from frappe.installer import create_framework_tables
	from frappe.model.sync import sync_all
	from frappe.modules.patch_handler import PatchType, run_all

	frappe.flags.in_migrate = True
	try:
		for fn in frappe.get_hooks("before_migrate"):
			frappe.get_attr(fn)()
		create_framework_tables()
		frappe.clear_cache()
		run_all(PatchType.pre_model_sync)
		sync_all()
		frappe.db.commit()
		frappe.clear_cache()
		run_all(PatchType.post_model_sync)
		for fn in frappe.get_hooks("after_migrate"):
			frappe.get_attr(fn)()
		frappe.db.commit()
	finally:
		frappe.flags.in_migrate = False
