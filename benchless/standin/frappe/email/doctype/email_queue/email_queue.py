"""Email Queue: an email waiting for Frappe's sender; mirrors Frappe 15's
``frappe/email/doctype/email_queue/email_queue.py`` for what ``frappe.sendmail`` writes.

Contract: ``queue_email(...)`` (what ``frappe.sendmail`` calls, as Frappe's ``QueueBuilder.process``)
inserts one Email Queue row in the caller's transaction: status "Not Sent", the MIME message, the reference
document, one Email Queue Recipient row per distinct recipient (To and CC), ``send_after`` and priority.
Nothing is sent: benchless has no SMTP account and no ``flush`` scheduler event; on a bench Frappe's
``frappe.email.queue.flush`` sends the row. Sending now (``now=True`` / ``delayed=False``) is refused for
that reason. As Frappe's ``EmailAccount.find_outgoing``, an email needs an outgoing account: benchless has
no Email Account doctype, so only the site config's (``mail_server``) or, while emails are muted, Frappe's
dummy account count; without one ``OutgoingEmailError`` is raised and nothing is queued. Not here:
templates, attachments, unsubscribe links, Communication records.
"""

from email.message import EmailMessage
from email.utils import make_msgid

import frappe
from frappe.model.document import Document

DEFAULT_SENDER = "notifications@example.com"  # Frappe's sender when no outgoing Email Account exists


class EmailQueue(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.email.doctype.email_queue_recipient.email_queue_recipient import EmailQueueRecipient
		from frappe.types import DF

		error: DF.Code | None
		message: DF.Code | None
		message_id: DF.SmallText | None
		priority: DF.Int
		recipients: DF.Table[EmailQueueRecipient]
		reference_doctype: DF.Link | None
		reference_name: DF.Data | None
		retry: DF.Int
		send_after: DF.Datetime | None
		sender: DF.Data | None
		show_as_cc: DF.SmallText | None
		status: DF.Literal["Not Sent", "Sending", "Sent", "Partially Sent", "Error"]
	# end: auto-generated types

	def set_recipients(self, recipients: list[str]) -> None:
		self.set("recipients", [])
		for recipient in recipients:
			self.append("recipients", {"recipient": recipient.strip(), "status": "Not Sent"})


def queue_email(
	*,
	recipients: list[str],
	cc: list[str],
	sender: str,
	subject: str,
	message: str,
	reference_doctype: str | None,
	reference_name: str | None,
	send_after: object = None,
	send_priority: int = 1,
) -> EmailQueue | None:
	"""Insert the Email Queue row for one email; None when it has no recipient."""
	to = _distinct(recipients)
	copied = [address for address in _distinct(cc) if address not in to]
	if not to and not copied:
		return None
	if not (frappe.conf.get("mail_server") or frappe.are_emails_muted()):
		frappe.throw(
			frappe._("Please setup default Email Account from Settings > Email Account"),
			frappe.OutgoingEmailError,
		)
	sender = sender or frappe.conf.get("auto_email_id") or DEFAULT_SENDER
	message_id = make_msgid(domain=frappe.local.site or "localhost")
	mime = EmailMessage()
	mime["Subject"] = subject
	mime["From"] = sender
	mime["To"] = "<!--recipient-->"  # replaced per recipient by Frappe's sender
	mime["Message-Id"] = message_id
	mime.set_content(message or "", subtype="html")
	doc = frappe.new_doc("Email Queue")
	doc.update(
		{
			"sender": sender,
			"message": mime.as_string(),
			"status": "Not Sent",
			"message_id": message_id.strip("<>"),
			"reference_doctype": reference_doctype,
			"reference_name": reference_name,
			"send_after": send_after,
			"priority": send_priority,
			"show_as_cc": ",".join(copied),
		}
	)
	doc.set_recipients(to + copied)
	doc.insert(ignore_permissions=True)
	return doc


def _distinct(addresses: list[str] | str | None) -> list[str]:
	if isinstance(addresses, str):
		addresses = addresses.replace(";", ",").split(",")
	seen: list[str] = []
	for address in addresses or []:
		address = (address or "").strip()
		if address and address not in seen:
			seen.append(address)
	return seen
