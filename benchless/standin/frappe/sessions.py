"""Login sessions.

Mirrors ``frappe/sessions.py`` (Frappe 15): a session is identified by ``sid`` (the ``sid`` form argument
or cookie; ``"Guest"`` when absent), stored in the table ``tabSessions`` (user, sid, sessiondata,
lastupdate, device, status) and cached in the Redis hash ``session``. ``Session(user, resume=...)``
either resumes the request's session (an unknown or expired sid becomes a Guest session and sets
``frappe.response["session_expired"] = 1``) or starts a new one (``sid = frappe.generate_hash()``).
Sessions expire ``session_expiry`` ("HHH:MM:SS", default "240:00:00" = 864000 s) after their last
update. Every non-Guest session carries a ``csrf_token`` in its data (Frappe creates it on first page
load; benchless creates it at login so cookie clients always need it for unsafe methods).

Differences from Frappe, by design: session data is stored as JSON (not a Python repr), and
``tabSessions`` is created here on first use (Frappe creates it with its framework tables).
"""

import ast
import json
from datetime import datetime, timedelta
from urllib.parse import unquote

import frappe
from frappe import _

DEFAULT_SESSION_EXPIRY = "240:00:00"
DB_UPDATE_INTERVAL_SECONDS = 600  # persist lastupdate at most every 10 minutes, as Frappe does
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_tables_ready: set[str] = set()

SESSIONS_DDL = """CREATE TABLE IF NOT EXISTS `tabSessions` (
	`user` varchar(255) DEFAULT NULL,
	`sid` varchar(255) DEFAULT NULL,
	`sessiondata` longtext,
	`ipaddress` varchar(16) DEFAULT NULL,
	`lastupdate` datetime(6) DEFAULT NULL,
	`device` varchar(255) DEFAULT 'desktop',
	`status` varchar(20) DEFAULT NULL,
	KEY `sid` (`sid`),
	KEY `user` (`user`)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""


def ensure_sessions_table() -> None:
	"""Create ``tabSessions`` once per site and process (DDL commits, so call it between transactions)."""
	site = getattr(frappe.local, "site", None)
	if site in _tables_ready:
		return
	sql_ddl = getattr(frappe.db, "sql_ddl", None) or frappe.db.sql
	sql_ddl(SESSIONS_DDL)
	_tables_ready.add(site)


def get_expiry_period() -> str:
	expiry = str(frappe.local.conf.get("session_expiry") or DEFAULT_SESSION_EXPIRY)
	if len(expiry.split(":")) == 2:
		expiry += ":00"
	return expiry


def get_expiry_in_seconds(expiry: str | None = None) -> int:
	"""Session lifetime in seconds (``"240:00:00"`` -> 864000)."""
	hours, minutes, seconds = (int(part or 0) for part in (expiry or get_expiry_period()).split(":"))
	return hours * 3600 + minutes * 60 + seconds


def get_expired_threshold() -> str:
	"""Sessions last updated before this moment have expired."""
	return (_now() - timedelta(seconds=get_expiry_in_seconds())).strftime(_TIMESTAMP_FORMAT)


def get_csrf_token() -> str:
	"""The session's CSRF token, created on first use."""
	if not frappe.local.session.data.get("csrf_token"):
		generate_csrf_token()
	return frappe.local.session.data.csrf_token


def generate_csrf_token() -> None:
	frappe.local.session.data.csrf_token = frappe.generate_hash()
	session_obj = getattr(frappe.local, "session_obj", None)
	if session_obj and frappe.local.session.get("user") != "Guest":
		session_obj.update(force=True)


def delete_session(sid: str | None = None, user: str | None = None, reason: str = "Session Expired") -> None:
	"""Remove a session from the table and the cache (commits, as Frappe does)."""
	if not sid or sid == "Guest":
		return
	frappe.db.sql("delete from `tabSessions` where sid=%s", (sid,))
	frappe.db.commit()
	_cache().hdel("session", sid)
	_cache().hdel("last_db_session_update", sid)


def clear_sessions(user: str | None = None, keep_current: bool = False, force: bool = False) -> None:
	"""End every session of ``user`` (the current user by default), optionally keeping the current one."""
	user = user or frappe.session.user
	current = frappe.session.sid if keep_current else None
	for (sid,) in frappe.db.sql("select sid from `tabSessions` where user=%s", (user,)):
		if sid != current:
			delete_session(sid, reason="Logged In From Another Session")


class Session:
	"""The request's session: ``frappe.local.session`` is its ``data`` (user, sid, data)."""

	__slots__ = ("_update_in_cache", "data", "full_name", "sid", "time_diff", "user", "user_type")

	def __init__(
		self, user: str, resume: bool = False, full_name: str | None = None, user_type: str | None = None
	):
		self.sid = _request_sid()
		self.user = user
		self.user_type = user_type
		self.full_name = full_name
		self.data = frappe._dict({"data": frappe._dict({})})
		self.time_diff = None
		self._update_in_cache = False
		frappe.local.session = self.data

		if resume:
			self.resume()
		elif self.user:
			self.validate_user()
			self.start()

	def validate_user(self) -> None:
		if self.user == "Guest":
			return
		if not frappe.db.get_value("User", self.user, "enabled"):
			frappe.throw(
				_("User {0} is disabled. Please contact your System Manager.").format(self.user),
				frappe.ValidationError,
			)

	def start(self) -> None:
		"""Start a new session: a fresh sid for a user, the shared ``Guest`` sid for guests."""
		sid = "Guest" if self.user == "Guest" else frappe.generate_hash()
		self.data.user = self.user
		self.sid = self.data.sid = sid
		self.data.data.user = self.user
		self.data.data.session_ip = getattr(frappe.local, "request_ip", None)
		if self.user == "Guest":
			return
		self.data.data.update(
			{
				"last_updated": _now().strftime(_TIMESTAMP_FORMAT),
				"session_expiry": get_expiry_period(),
				"full_name": self.full_name,
				"user_type": self.user_type,
				"csrf_token": frappe.generate_hash(),
			}
		)
		self.insert_session_record()
		frappe.db.commit()

	def insert_session_record(self) -> None:
		frappe.db.sql(
			"insert into `tabSessions` (sessiondata, user, lastupdate, sid, status, ipaddress)"
			" values (%s, %s, %s, %s, 'Active', %s)",
			(
				_dumps(self.data.data),
				self.data.user,
				_now().strftime(_TIMESTAMP_FORMAT),
				self.data.sid,
				(self.data.data.session_ip or "")[:16],
			),
		)
		_cache().hset("session", self.data.sid, _dumps(self.data))

	def resume(self) -> None:
		"""Load the request's session, or fall back to Guest when it is unknown or expired."""
		data = self.get_session_record()
		if data:
			self.data.update({"data": data, "user": data.user, "sid": self.sid})
			self.user = data.user
			self.validate_user()
		else:
			self.start_as_guest()

	def get_session_record(self) -> frappe._dict | None:
		data = self.get_session_data()
		if not data:
			frappe.local.response["session_expired"] = 1
			from frappe.auth import clear_cookies

			clear_cookies()
			self.sid = "Guest"
			data = self.get_session_data()
		return data

	def get_session_data(self) -> frappe._dict | None:
		if self.sid == "Guest":
			return frappe._dict({"user": "Guest"})
		data = self.get_session_data_from_cache()
		if not data:
			self._update_in_cache = True
			data = self.get_session_data_from_db()
		return data

	def get_session_data_from_cache(self) -> frappe._dict | None:
		cached = _loads(_cache().hget("session", self.sid))
		if not cached:
			return None
		session_data = frappe._dict(cached.get("data") or {})
		last_updated = _parse_time(session_data.get("last_updated"))
		self.time_diff = (_now() - last_updated).total_seconds() if last_updated else None
		expiry = get_expiry_in_seconds(session_data.get("session_expiry"))
		if self.time_diff is None or self.time_diff > expiry:
			delete_session(self.sid, reason="Session Expired")
			return None
		return session_data

	def get_session_data_from_db(self) -> frappe._dict | None:
		rows = frappe.db.sql(
			"select user, sessiondata from `tabSessions` where sid=%s and lastupdate > %s",
			(self.sid, get_expired_threshold()),
		)
		if not rows:
			delete_session(self.sid, reason="Session Expired")
			return None
		data = frappe._dict(_loads(rows[0][1]) or {})
		data.user = rows[0][0]
		return data

	def start_as_guest(self) -> None:
		self.user = "Guest"
		self.start()

	def update(self, force: bool = False) -> bool:
		"""Extend the session's life (database at most every 10 minutes); True when the DB was written."""
		if frappe.session.user == "Guest" or self.sid == "Guest" or self.data.get("user") in (None, "Guest"):
			return False
		cache = _cache()
		now = _now()
		last_db_update = _parse_time(_loads(cache.hget("last_db_session_update", self.sid)))
		stale = last_db_update is None or (now - last_db_update).total_seconds() > DB_UPDATE_INTERVAL_SECONDS
		if not (force or stale or self._update_in_cache):
			return False
		stamp = now.strftime(_TIMESTAMP_FORMAT)
		self.data.data.last_updated = stamp
		frappe.db.sql(
			"update `tabSessions` set sessiondata=%s, lastupdate=%s where sid=%s",
			(_dumps(self.data.data), stamp, self.data.sid),
		)
		frappe.db.commit()
		cache.hset("last_db_session_update", self.sid, _dumps(stamp))
		cache.hset("session", self.sid, _dumps(self.data))
		self._update_in_cache = False
		return True


def _request_sid() -> str:
	form_sid = frappe.local.form_dict.get("sid") if getattr(frappe.local, "form_dict", None) else None
	request = getattr(frappe.local, "request", None)
	cookie_sid = request.cookies.get("sid") if request is not None else None
	return str(form_sid or unquote(cookie_sid or "Guest"))


def _cache():
	cache = frappe.cache
	return cache if hasattr(cache, "hget") else cache()


def _now() -> datetime:
	return datetime.now()


def _parse_time(value) -> datetime | None:
	if not value:
		return None
	if isinstance(value, datetime):
		return value
	try:
		return datetime.fromisoformat(str(value))
	except ValueError:
		return None


def _dumps(value) -> str:
	from frappe.utils.response import json_handler

	return json.dumps(value, default=json_handler)


def _loads(value) -> dict | str | None:
	"""Session data as stored: JSON (benchless), a Python repr (Frappe's table format) or a cached dict."""
	if value is None or isinstance(value, dict):
		return frappe._dict(value) if isinstance(value, dict) else None
	if isinstance(value, bytes):
		value = value.decode()
	try:
		loaded = json.loads(value)
	except ValueError:
		try:
			loaded = ast.literal_eval(value)
		except (ValueError, SyntaxError):
			return None
	return frappe._dict(loaded) if isinstance(loaded, dict) else loaded
