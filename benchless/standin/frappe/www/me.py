"""The account page (``/me``).

Mirrors ``frappe/www/me.py`` (Frappe 15): Guests may not see it (PermissionError, which the website
server turns into a redirect to ``/login?redirect-to=/me``).
"""

import frappe
from frappe import _

no_cache = True


def get_context(context: frappe._dict) -> frappe._dict:
	if frappe.session.user == "Guest":
		frappe.throw(_("You need to be logged in to access this page"), frappe.PermissionError)
	user = (
		frappe.db.get_value(
			"User", frappe.session.user, ["full_name", "first_name", "last_name"], as_dict=True
		)
		or frappe._dict()
	)
	context.full_name = user.full_name or " ".join(filter(None, [user.first_name, user.last_name]))
	context.title = _("My Account")
	return context
