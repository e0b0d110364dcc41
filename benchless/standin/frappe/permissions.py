"""Document permissions: mirrors ``frappe/permissions.py`` (Frappe 15), role and controller checks.

Contract:
- ``has_permission(doctype, ptype="read", doc=None, user=None, raise_exception=True, ...)`` returns a bool
  and never raises (``raise_exception`` only logs, as in Frappe). Administrator may do anything.
- Without a doc: the user's roles (``frappe.get_roles``) against the doctype JSON ``permissions`` rows at
  permlevel 0 (``select`` is implied by ``read``).
- With a doc (a Document or a name): ``has_permission`` hooks for the doctype and ``*`` run first
  (``has_controller_permissions``: reverse order, first non-None answer wins, falsy denies); then the role
  permissions, where rows marked ``if_owner`` only count for the document's owner.
- Child doctypes are checked through ``parent_doctype`` when given.
- User Permissions and document sharing are not part of benchless.
"""

from typing import Any

import frappe

rights = (
	"select",
	"read",
	"write",
	"create",
	"delete",
	"submit",
	"cancel",
	"amend",
	"print",
	"email",
	"report",
	"import",
	"export",
	"share",
)


def has_permission(
	doctype,
	ptype="read",
	doc=None,
	user=None,
	raise_exception=True,
	*,
	parent_doctype=None,
	debug=False,
) -> bool:
	"""True if ``user`` (default: session user) may ``ptype`` the doctype, or the given document."""
	if not doc and hasattr(doctype, "doctype"):
		doc, doctype = doctype, doctype.doctype
	user = user or frappe.session.user
	if user == "Administrator" or frappe.flags.in_install:
		return True
	meta = frappe.get_meta(doctype)
	if meta.istable and parent_doctype:
		return has_permission(parent_doctype, ptype, user=user, raise_exception=raise_exception, debug=debug)
	if doc:
		if isinstance(doc, str | int):
			doc = frappe.get_doc(meta.name, doc)
		perm = get_doc_permissions(doc, user=user, ptype=ptype, debug=debug).get(ptype)
	else:
		perm = get_role_permissions(meta, user=user).get(ptype)
	# Frappe logs the refusal (raise_exception only asks for that log); it never raises here
	return bool(perm)


def get_doc_permissions(doc, user=None, ptype=None, debug=False) -> dict:
	"""Role permissions for this document, after the controller hooks and the if_owner rule."""
	user = user or frappe.session.user
	if user == "Administrator":
		return {right: 1 for right in rights}
	if not has_controller_permissions(doc, ptype, user=user, debug=debug):
		return {ptype: 0}
	permissions = dict(get_role_permissions(frappe.get_meta(doc.doctype), user=user))
	if doc.get("owner") != user:
		# rights granted only through if_owner rows do not apply to someone else's document
		for right, owner_only in (permissions.get("if_owner") or {}).items():
			if owner_only:
				permissions[right] = 0
	permissions.pop("if_owner", None)
	return permissions


def get_role_permissions(doctype_meta, user=None, is_owner=None) -> dict:
	"""{right: 0/1, 'if_owner': {right: 1}} from the roles ``user`` has on the doctype (permlevel 0)."""
	meta = frappe.get_meta(doctype_meta) if isinstance(doctype_meta, str) else doctype_meta
	user = user or frappe.session.user
	if user == "Administrator":
		return frappe._dict({right: 1 for right in rights}, if_owner={})
	roles = set(frappe.get_roles(user))
	perms: dict[str, Any] = frappe._dict({right: 0 for right in rights}, if_owner={})
	owner_only: dict[str, bool] = {}
	for row in meta.permissions:
		if row.get("role") not in roles or int(row.get("permlevel") or 0) != 0:
			continue
		for right in rights:
			if not row.get(right):
				continue
			perms[right] = 1
			# a right is owner-only if every row granting it is marked if_owner
			owner_only[right] = owner_only.get(right, True) and bool(row.get("if_owner"))
	if perms["read"]:
		perms["select"] = 1
		owner_only.setdefault("select", owner_only.get("read", False))
	perms["if_owner"] = {right: 1 for right, only in owner_only.items() if only}
	return perms


def has_controller_permissions(doc, ptype, user=None, debug=False) -> bool:
	"""Run ``has_permission`` hooks (reverse order); first non-None answer decides, else True."""
	hooks = frappe.get_hooks("has_permission") or {}
	methods = list(hooks.get(doc.doctype, [])) + list(hooks.get("*", []))
	for method in reversed(methods):
		controller_permission = frappe.call(method, doc=doc, ptype=ptype, user=user, debug=debug)
		if controller_permission is not None:
			return bool(controller_permission)
	return True
