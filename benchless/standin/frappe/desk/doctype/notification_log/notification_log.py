"""Notification Log: an entry of the desk's bell for one user; mirrors Frappe 15's
``frappe/desk/doctype/notification_log/notification_log.py`` as far as dartwing uses it.

Contract (as Frappe 15):
- ``enqueue_create_notification(users, doc)`` takes a list of user emails (or comma-separated text) and the
  entry's fields, drops duplicates, and enqueues ``make_notification_logs`` (run at once in tests,
  ``frappe.flags.in_test``); it does nothing while a site is being installed.
- ``make_notification_logs(doc, users)`` inserts one entry per enabled user among ``users`` (matched by
  email) whose notifications are on, skipping the sender's own entry unless the type is Alert or Energy
  Point.
- After insert the recipient gets the realtime ``notification`` event (after commit).
- The permission query shows users their own entries only (Administrator all).
Not here (no caller in dartwing): Notification Settings (every user's notifications count as on, as Frappe
answers for a user without settings), the per-type notification emails, energy points, the desk widgets'
whitelisted reads.
"""

import frappe
from frappe.model.document import Document


class NotificationLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attached_file: DF.Code | None
		document_name: DF.Data | None
		document_type: DF.Link | None
		email_content: DF.TextEditor | None
		email_header: DF.Data | None
		for_user: DF.Link | None
		from_user: DF.Link | None
		link: DF.SmallText | None
		read: DF.Check
		subject: DF.Text | None
		type: DF.Literal["", "Mention", "Energy Point", "Assignment", "Share", "Alert"]
	# end: auto-generated types

	def after_insert(self) -> None:
		frappe.publish_realtime("notification", after_commit=True, user=self.for_user)

	@staticmethod
	def clear_old_logs(days: int = 180) -> None:
		frappe.db.sql(
			"delete from `tabNotification Log` where modified < (now() - interval %s day)", (int(days),)
		)


def get_permission_query_conditions(for_user: str | None = None) -> str | None:
	for_user = for_user or frappe.session.user
	if for_user == "Administrator":
		return None
	return f"(`tabNotification Log`.for_user = {frappe.db.escape(for_user)})"


def enqueue_create_notification(users: list[str] | str, doc: dict) -> None:
	"""Create Notification Log entries for ``users`` (emails) in a background job."""
	if frappe.flags.in_install:
		return
	doc = frappe._dict(doc)
	if isinstance(users, str):
		users = [user.strip() for user in users.split(",") if user.strip()]
	users = list(set(users))
	frappe.enqueue(
		"frappe.desk.doctype.notification_log.notification_log.make_notification_logs",
		doc=doc,
		users=users,
		now=frappe.flags.in_test,
	)


def make_notification_logs(doc: dict, users: list[str]) -> None:
	doc = frappe._dict(doc)
	for user in _get_user_ids(users):
		notification = frappe.new_doc("Notification Log")
		notification.update(doc)
		notification.for_user = user
		if notification.for_user != notification.from_user or doc.type in ("Energy Point", "Alert"):
			notification.insert(ignore_permissions=True)


def _get_user_ids(user_emails: list[str]) -> list[str]:
	if not user_emails:
		return []
	return frappe.db.sql_list(
		"select name from `tabUser` where enabled = 1 and email in %(emails)s order by name",
		{"emails": tuple(user_emails)},
	)
