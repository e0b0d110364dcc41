"""Realtime publishing and subscription checks, mirroring Frappe 15's ``frappe/realtime.py``.

Contract:
- ``publish_realtime`` picks the room exactly as Frappe 15 does and PUBLISHes on the Redis channel ``events``
  of the ``redis_queue`` connection the JSON ``{event, message, room, namespace=<site>}`` (``frappe.as_json``).
- ``after_commit=True`` queues the message in ``frappe.local._realtime_log``; it is sent by
  ``frappe.db.after_commit`` and dropped by ``frappe.db.after_rollback``.
- Redis being down never raises: the message is lost, as in Frappe.
- ``can_subscribe_doc`` / ``can_subscribe_doctype`` / ``get_user_info`` are the whitelisted endpoints the
  Socket.IO server (``benchless/realtime_server.py``) calls over HTTP with the client's credentials.
"""

from contextlib import suppress

import redis

import frappe


def _cstr(value) -> str:
	return "" if value is None else str(value)


def publish_progress(percent, title=None, doctype=None, docname=None, description=None, task_id=None):
	publish_realtime(
		"progress",
		{"percent": percent, "title": title, "description": description},
		user=None if doctype and docname else frappe.session.user,
		doctype=doctype,
		docname=docname,
		task_id=task_id,
	)


def publish_realtime(
	event: str | None = None,
	message: dict | None = None,
	room: str | None = None,
	user: str | None = None,
	doctype: str | None = None,
	docname: str | None = None,
	task_id: str | None = None,
	after_commit: bool = False,
) -> None:
	"""Publish ``message`` as ``event`` to a Socket.IO room of the current site."""
	if message is None:
		message = {}
	if not task_id and hasattr(frappe.local, "task_id"):
		task_id = frappe.local.task_id

	if event is None:
		event = "task_progress" if task_id else "global"
	elif event == "msgprint" and not user:
		user = frappe.session.user
	elif event == "list_update":
		doctype = doctype or message.get("doctype")
		room = get_doctype_room(doctype)
	elif event == "docinfo_update":
		room = get_doc_room(doctype, docname)

	if not room:
		if task_id:
			after_commit = False  # progress of a running task must show while it runs
			message.setdefault("task_id", task_id)
			room = get_task_progress_room(task_id)
		elif user:
			room = get_user_room(user)
		elif doctype and docname:
			room = get_doc_room(doctype, docname)
		else:
			room = get_site_room()

	if after_commit:
		_queue_after_commit([event, message, room])
	else:
		emit_via_redis(event, message, room)


def _queue_after_commit(params: list) -> None:
	if not hasattr(frappe.local, "_realtime_log"):
		frappe.local._realtime_log = []
		frappe.db.after_commit.add(flush_realtime_log)
		frappe.db.after_rollback.add(clear_realtime_log)
	if params not in frappe.local._realtime_log:
		frappe.local._realtime_log.append(params)


def flush_realtime_log() -> None:
	"""after_commit callback: send what this transaction queued."""
	if not hasattr(frappe.local, "_realtime_log"):
		return
	for args in frappe.local._realtime_log:
		emit_via_redis(*args)
	clear_realtime_log()


def clear_realtime_log() -> None:
	"""after_rollback callback: what a rolled-back transaction queued is never sent."""
	if hasattr(frappe.local, "_realtime_log"):
		del frappe.local._realtime_log


def emit_via_redis(event, message, room) -> None:
	"""PUBLISH the event on channel ``events``; a Redis outage loses the message silently."""
	from frappe.utils.background_jobs import get_redis_connection_without_auth

	with suppress(redis.exceptions.ConnectionError):
		conn = get_redis_connection_without_auth()
		payload = {"event": event, "message": message, "room": room, "namespace": frappe.local.site}
		conn.publish("events", frappe.as_json(payload))


@frappe.whitelist(allow_guest=True)
def can_subscribe_doc(doctype: str, docname: str) -> bool:
	if not frappe.has_permission(doctype=doctype, doc=docname, ptype="read"):
		raise frappe.PermissionError()
	return True


@frappe.whitelist(allow_guest=True)
def can_subscribe_doctype(doctype: str) -> bool:
	if not frappe.has_permission(doctype=doctype, ptype="read"):
		raise frappe.PermissionError()
	return True


@frappe.whitelist(allow_guest=True)
def get_user_info() -> dict:
	"""Who the Socket.IO client is: the session's user and user type."""
	data = getattr(frappe.session, "data", None) or {}
	user_type = data.get("user_type")
	if not user_type:
		# token-authenticated requests carry no session data
		user_type = frappe.db.get_value("User", frappe.session.user, "user_type")
	return {"user": frappe.session.user, "user_type": user_type}


def get_doctype_room(doctype) -> str:
	return f"doctype:{doctype}"


def get_doc_room(doctype, docname) -> str:
	return f"doc:{doctype}/{_cstr(docname)}"


def get_user_room(user) -> str:
	return f"user:{user}"


def get_site_room() -> str:
	return "all"


def get_task_progress_room(task_id) -> str:
	return f"task_progress:{task_id}"


def get_website_room() -> str:
	return "website"
