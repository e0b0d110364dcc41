"""Telling the people who must act: a dead-lettered job becomes a Notification Log entry (the desk's bell)
for its organization's Owners and Admins and for the System Managers, and, when the site asks, an email
through Frappe's mail queue.

Contract:
- Runs after commit (``state.ON_TRANSITION``), so a rolled-back dead letter notifies nobody.
- Grouped, not a flood: per job type, one notice per window (``DEAD_LETTER_NOTICE_WINDOW_SECONDS``, site
  config ``dartwing_dead_letter_notice_window_seconds``, 60 … 86400 s) to the System Managers, and one per
  job type and organization per window to that organization's Owners and Admins. The window starts with
  the first dead letter: its notice is claimed with one Redis ``SET NX EX`` per group, so of any number of
  processes dead-lettering jobs of a type at once exactly one notifies each group. The entry names that
  first job (linking it) and says that further dead letters of the type inside the window are in the
  dead letter queue, not notified one by one.
- Entries are made by Frappe's own ``enqueue_create_notification`` (type Alert, linked to the Background
  Job): a background job inserts one Notification Log per enabled recipient.
- Email only when site config ``dartwing_dead_letter_email`` is set: ``frappe.sendmail`` queues one Email
  Queue row per notice (Frappe's ``flush`` sends it), committed after the entries. Frappe needs an outgoing
  Email Account (or ``mail_server`` in the site config) for it; without one the email is logged as not
  queued and the entries stand.
- Never raises: a failure is logged (``frappe.log_error``) and the job's outcome is unchanged. Redis
  unreachable means no claim and no notice (logged); a Redis flush inside a window may let one more notice
  through per group.
"""

from collections.abc import Iterable
from typing import Any

import frappe
from frappe import _
from frappe.utils import escape_html

from dartwing.dartwing_core.background_jobs import config, state
from dartwing.dartwing_core.background_jobs.transitions import JobStatus

EMAIL_SETTING = "dartwing_dead_letter_email"  # site config: 1 also sends the notices by email
WINDOW_SETTING = "dartwing_dead_letter_notice_window_seconds"
MIN_WINDOW_SECONDS = 60
ORG_ROLES = ("Owner", "Admin")
ADMIN_ROLE = "System Manager"
SITE_WIDE = "*"  # the group of the System Managers' notice (every organization)


def on_transitions(changes: list[state.Change]) -> None:
	"""After a commit: notify each group whose window this transaction's dead letters open."""
	firsts: dict[tuple[str, str], state.Change] = {}
	for change in changes:
		if change.to_status is JobStatus.DEAD_LETTER:
			firsts.setdefault((change.job_type, change.organization), change)
	for change in firsts.values():
		try:
			notify_dead_letter(change)
		except Exception:
			frappe.db.rollback()
			frappe.log_error(
				title=f"Dead letter notice for {change.name} failed"[:140],
				reference_doctype=state.JOB,
				reference_name=change.name,
			)
			frappe.db.commit()


def notify_dead_letter(change: state.Change) -> list[str]:
	"""Claim the job's groups and notify those claimed; returns the users notified."""
	window = notice_window_seconds()
	users: list[str] = []
	if claim(change.job_type, SITE_WIDE, window):
		users += system_managers()
	if claim(change.job_type, change.organization, window):
		users += organization_admins(change.organization)
	users = sorted(set(users) - {"Administrator", "Guest"})
	if not users:
		return []
	deliver(change, users, window)
	return users


def notice_window_seconds() -> int:
	value = frappe.conf.get(WINDOW_SETTING)
	try:
		seconds = int(value) if value not in (None, "") else config.DEAD_LETTER_NOTICE_WINDOW_SECONDS
	except (TypeError, ValueError):
		seconds = config.DEAD_LETTER_NOTICE_WINDOW_SECONDS
	return min(max(seconds, MIN_WINDOW_SECONDS), config.MAX_DEAD_LETTER_NOTICE_WINDOW_SECONDS)


def claim(job_type: str, group: str, window: int) -> bool:
	"""Atomically take the group's notice for the next ``window`` seconds (one winner across processes)."""
	from frappe.utils.background_jobs import get_redis_conn

	key = f"dartwing:dead_letter_notice:{frappe.local.site}:{job_type}:{group}"
	return bool(get_redis_conn().set(key, frappe.session.user or "", nx=True, ex=window))


def system_managers() -> list[str]:
	return frappe.db.sql_list(
		"""SELECT DISTINCT u.name FROM `tabUser` u
		JOIN `tabHas Role` r ON r.parent = u.name AND r.parenttype = 'User'
		WHERE r.role = %(role)s AND u.enabled = 1""",
		{"role": ADMIN_ROLE},
	)


def organization_admins(organization: str) -> list[str]:
	"""Users who are an Active Owner or Admin of the (Active) organization."""
	return frappe.db.sql_list(
		"""SELECT DISTINCT p.user FROM `tabOrg Member` m
		JOIN `tabPerson` p ON p.name = m.person
		JOIN `tabOrganization` o ON o.name = m.organization
		WHERE m.organization = %(org)s AND m.status = 'Active' AND o.status = 'Active' AND m.role IN %(roles)s""",
		{"org": organization, "roles": ORG_ROLES},
	)


def deliver(change: state.Change, users: Iterable[str], window: int) -> None:
	from frappe.desk.doctype.notification_log.notification_log import enqueue_create_notification

	emails = _emails(users)
	subject, body = notice_text(change, window)
	entry = {
		"type": "Alert",
		"document_type": state.JOB,
		"document_name": change.name,
		"subject": subject,
		"email_content": body,
		"from_user": frappe.session.user,
	}
	enqueue_create_notification(emails, entry)  # in tests Frappe runs it at once, in this transaction
	frappe.db.commit()  # the bell's entries do not wait on (nor fall with) the email
	if frappe.conf.get(EMAIL_SETTING):
		send_email(change, emails, subject, body)


def send_email(change: state.Change, emails: list[str], subject: str, body: str) -> None:
	"""Queue the notice's email; a site without an outgoing Email Account (Frappe raises
	``OutgoingEmailError``) or any other failure is logged, and the entries already made stay."""
	try:
		frappe.sendmail(
			recipients=emails,
			subject=subject,
			message=body,
			reference_doctype=state.JOB,
			reference_name=change.name,
		)
		frappe.db.commit()
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"Dead-letter notice email for job {change.name} not queued")


def notice_text(change: state.Change, window: int) -> tuple[str, str]:
	job: Any = change.job
	error = ": ".join(part for part in (job.get("error_type"), job.get("error_message")) if part)
	subject = _("Job {0} of type {1} ({2}) is in the dead letter queue").format(
		change.name, change.job_type, change.organization
	)
	grouped = _(
		"Further dead letters of {0} in the next {1} minutes are not notified one by one: "
		"see the dead letter queue."
	).format(escape_html(change.job_type), max(window // 60, 1))
	body = f"<p>{escape_html(error or change.message or '')}</p><p>{grouped}</p>"
	return subject, body


def _emails(users: Iterable[str]) -> list[str]:
	names = tuple(users)
	if not names:
		return []
	return frappe.db.sql_list(
		"SELECT email FROM `tabUser` WHERE name IN %(names)s AND IFNULL(email, '') != '' ORDER BY name",
		{"names": names},
	)
