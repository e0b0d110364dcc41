"""Deleting documents: mirrors ``frappe/model/delete_doc.py`` (Frappe 15).

Contract: ``delete_doc(doctype, name, ...)`` loads the document (a missing one is ignored unless
``ignore_missing=False`` -> DoesNotExistError), checks 'delete' permission (PermissionError), runs
``on_trash`` then ``on_change`` (with ``flags.in_delete``), refuses with ``frappe.LinkExistsError`` when
another document links to it (unless ``force``), deletes the row, its child rows and stored passwords,
then runs ``after_delete``.
"""

import frappe
from frappe import _


def delete_doc(
	doctype=None,
	name=None,
	force=False,
	ignore_doctypes=None,
	for_reload=False,
	ignore_permissions=False,
	flags=None,
	ignore_on_trash=False,
	ignore_missing=True,
	delete_permanently=False,
) -> None:
	"""Delete one document (name) or several (a list of names)."""
	names = name if isinstance(name, list) else [name]
	for docname in names:
		_delete_one(
			doctype,
			docname,
			force,
			ignore_doctypes,
			ignore_permissions,
			flags,
			ignore_on_trash,
			ignore_missing,
		)


def _delete_one(
	doctype, name, force, ignore_doctypes, ignore_permissions, flags, ignore_on_trash, ignore_missing
):
	if not frappe.db.exists(doctype, name):
		if ignore_missing:
			return
		frappe.throw(_("{0} {1} not found").format(_(doctype), name), frappe.DoesNotExistError)
	doc = frappe.get_doc(doctype, name, for_update=True)
	if flags:
		doc.flags.update(flags)
	if not (ignore_permissions or doc.flags.ignore_permissions):
		doc.check_permission("delete")
	if not ignore_on_trash:
		doc.run_method("on_trash")
	doc.flags.in_delete = True
	doc.run_method("on_change")
	if not force:
		check_if_doc_is_linked(doc)
	delete_from_table(doctype, name, ignore_doctypes or [], doc)
	from frappe.utils.password import delete_all_passwords_for

	delete_all_passwords_for(doctype, name)
	frappe.clear_document_cache(doctype, name)
	if not ignore_on_trash:
		doc.run_method("after_delete")


def delete_from_table(doctype: str, name: str, ignore_doctypes: list, doc) -> None:
	for df in frappe.get_meta(doctype).get_table_fields():
		if df.options in ignore_doctypes:
			continue
		frappe.db.sql(f"delete from `tab{df.options}` where parent=%s and parenttype=%s", (name, doctype))
	frappe.db.sql(f"delete from `tab{doctype}` where name=%s", (name,))


def check_if_doc_is_linked(doc, method: str = "Delete") -> None:
	"""LinkExistsError if any other document's Link field points at ``doc``."""
	from frappe.model.meta import get_doctype_index

	for link_dt in get_doctype_index():
		meta = frappe.get_meta(link_dt)
		for df in meta.get_link_fields():
			if df.options != doc.doctype or not frappe.db.table_exists(link_dt):
				continue
			columns = "name, parent, parenttype" if meta.istable else "name"
			exclude_own_rows = " and not (parent=%s and parenttype=%s)" if meta.istable else ""
			row = frappe.db.sql(
				f"select {columns} from `tab{link_dt}` where `{df.fieldname}`=%s{exclude_own_rows} limit 1",
				(doc.name, doc.name, doc.doctype) if meta.istable else (doc.name,),
				as_dict=True,
			)
			if row and not (link_dt == doc.doctype and row[0].name == doc.name):
				linked_dt = row[0].parenttype if meta.istable else link_dt
				linked_name = row[0].parent if meta.istable else row[0].name
				frappe.throw(
					_("Cannot delete or cancel because {0} {1} is linked with {2} {3}").format(
						_(doc.doctype), doc.name, _(linked_dt), linked_name
					),
					frappe.LinkExistsError,
				)
