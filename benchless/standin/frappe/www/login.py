"""The login page (``/login``).

Mirrors ``frappe/www/login.py`` (Frappe 15): a logged-in user is redirected to ``redirect-to`` (or their
home page) instead of seeing the form. Benchless has no desk, so the home page is ``/me``, not ``/app``.
"""

import frappe

no_cache = True


def get_context(context: frappe._dict) -> frappe._dict:
	if frappe.session.user != "Guest":
		redirect_to = frappe.local.request.args.get("redirect-to") or "/me"
		if not redirect_to.startswith("/") or redirect_to.startswith("//"):
			redirect_to = "/me"  # never redirect off-site
		frappe.local.flags.redirect_location = redirect_to
		raise frappe.Redirect(302)
	context.title = frappe._("Login")
	return context
