"""Who is making the request: sessions, login/logout, API keys, CSRF and cookies.

Mirrors ``frappe/auth.py`` (Frappe 15):
- ``HTTPRequest`` (built by ``frappe.app.init_request``): sets ``frappe.local.request_ip``, the
  ``CookieManager`` and the ``LoginManager`` (login for ``/api/method/login``, else resume the ``sid``
  session), then ``validate_csrf_token`` (a cookie session must send ``X-Frappe-CSRF-Token`` with
  POST/PUT/DELETE/PATCH unless ``conf.ignore_csrf``; else ``CSRFTokenError`` 400).
- ``LoginManager.login``: ``usr``/``pwd`` checked with ``frappe.utils.password.check_password``; unknown,
  wrong or disabled -> ``AuthenticationError`` 401 with ``response.message``; success -> a new session,
  body ``{"message": "Logged In", "home_page": "/app", "full_name": ...}`` and the cookies ``sid``
  (HttpOnly, SameSite=Lax), ``system_user``, ``full_name``, ``user_id``, ``user_image``.
- ``validate_auth``: ``Authorization: token key:secret`` or ``Basic base64(key:secret)`` against an
  enabled User's ``api_key`` / ``api_secret`` (no session is created); any failure -> 401.
OAuth bearer tokens, 2FA, login attempt tracking and IP restrictions are not implemented.
"""

import base64
import binascii
import datetime
from urllib.parse import quote

from werkzeug.wrappers import Response

import frappe
from frappe import _
from frappe.sessions import Session, clear_sessions, delete_session, get_expiry_in_seconds

SAFE_HTTP_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
UNSAFE_HTTP_METHODS = frozenset(("POST", "PUT", "DELETE", "PATCH"))
MAX_PASSWORD_SIZE = 512
SESSION_COOKIES = ("full_name", "user_id", "sid", "user_image", "system_user")


def get_request_header(key: str, default: str | None = None) -> str | None:
	request = getattr(frappe.local, "request", None)
	if request is None:
		return default
	return request.headers.get(key, default)


class HTTPRequest:
	"""Authenticates the request and sets ``frappe.local.session``."""

	def __init__(self):
		self.set_request_ip()
		frappe.local.cookie_manager = CookieManager()
		frappe.local.login_manager = LoginManager()
		self.validate_csrf_token()
		frappe.local.cookie_manager.init_cookies()

	def set_request_ip(self) -> None:
		forwarded = get_request_header("X-Forwarded-For")
		request = getattr(frappe.local, "request", None)
		if forwarded:
			frappe.local.request_ip = forwarded.split(",", 1)[0].strip()
		elif request is not None and request.remote_addr:
			frappe.local.request_ip = request.remote_addr
		else:
			frappe.local.request_ip = "127.0.0.1"

	def validate_csrf_token(self) -> None:
		request = getattr(frappe.local, "request", None)
		session = getattr(frappe.local, "session", None)
		login_manager = getattr(frappe.local, "login_manager", None)
		if (
			not request
			or request.method not in UNSAFE_HTTP_METHODS
			# the login request itself cannot know the token of the session it creates
			or (login_manager is not None and login_manager.resume is False)
			or frappe.local.conf.get("ignore_csrf")
			or not session
			or not (saved_token := (session.get("data") or {}).get("csrf_token"))
			or (get_request_header("X-Frappe-CSRF-Token") or frappe.local.form_dict.pop("csrf_token", None))
			== saved_token
		):
			return
		frappe.local.flags.disable_traceback = True
		frappe.throw(_("Invalid Request"), frappe.CSRFTokenError)


class LoginManager:
	"""Logs in (``/api/method/login``) or resumes the request's session."""

	__slots__ = ("full_name", "info", "resume", "user", "user_type")

	def __init__(self):
		self.user = None
		self.info = None
		self.full_name = None
		self.user_type = None
		request = getattr(frappe.local, "request", None)
		if frappe.local.form_dict.get("cmd") == "login" or (
			request is not None and request.path == "/api/method/login"
		):
			self.resume = False
			self.login()
			return
		try:
			self.resume = True
			self.make_session(resume=True)
			self.get_user_info()
			self.set_user_info(resume=True)
		except AttributeError:
			# the session user vanished: continue as Guest, as Frappe does
			self.user = "Guest"
			self.make_session()
			self.get_user_info()
			self.set_user_info(resume=True)

	def login(self) -> None:
		self.authenticate()
		frappe.local.form_dict.pop("pwd", None)
		self.post_login()

	def post_login(self) -> None:
		self.run_trigger("on_login")
		self.get_user_info()
		self.make_session()
		self.set_user_info()

	def authenticate(self, user: str | None = None, pwd: str | None = None) -> None:
		"""Check ``usr``/``pwd``; AuthenticationError 401 (with ``response.message``) when they fail."""
		from frappe.utils.password import check_password

		if not (user and pwd):
			user, pwd = frappe.local.form_dict.get("usr"), frappe.local.form_dict.get("pwd")
		if not (user and pwd):
			self.fail(_("Incomplete login details"), user=user)
		if len(pwd) > MAX_PASSWORD_SIZE:
			self.fail(_("Password size exceeded the maximum allowed size"), user=user)

		name = frappe.db.get_value("User", user, "name")
		if not name:
			self.fail("Invalid login credentials", user=user)
		try:
			name = check_password(name, pwd) or name
		except frappe.AuthenticationError:
			self.fail("Invalid login credentials", user=name)
		if not (name == "Administrator" or frappe.db.get_value("User", name, "enabled")):
			self.fail("User disabled or missing", user=name)
		self.user = name

	def fail(self, message: str, user: str | None = None):
		frappe.local.response["message"] = message
		raise frappe.AuthenticationError

	def get_user_info(self) -> None:
		self.info = frappe.db.get_value(
			"User", self.user, ["user_type", "first_name", "last_name", "full_name"], as_dict=True
		)
		self.user_type = self.info.user_type

	def make_session(self, resume: bool = False) -> None:
		frappe.local.session_obj = Session(
			user=self.user, resume=resume, full_name=self.full_name, user_type=self.user_type
		)
		self.user = frappe.local.session_obj.user
		frappe.local.session = frappe.local.session_obj.data
		if not resume:
			self.run_trigger("on_session_creation")

	def set_user_info(self, resume: bool = False) -> None:
		cookies = frappe.local.cookie_manager
		cookies.init_cookies()
		info = self.info or frappe._dict()
		self.full_name = " ".join(filter(None, [info.get("first_name"), info.get("last_name")])) or info.get(
			"full_name"
		)
		website_user = info.get("user_type") == "Website User" or self.user == "Guest"
		cookies.set_cookie("system_user", "no" if website_user else "yes")
		if not resume:
			frappe.local.response["message"] = "No App" if website_user else "Logged In"
			frappe.local.response["home_page"] = "/me" if website_user else "/app"
			frappe.local.response["full_name"] = self.full_name
		cookies.set_cookie("full_name", self.full_name or "")
		cookies.set_cookie("user_id", self.user)
		cookies.set_cookie("user_image", "")

	def run_trigger(self, event: str = "on_login") -> None:
		for method in frappe.get_hooks(event, []) or []:
			frappe.call(frappe.get_attr(method), login_manager=self)

	def login_as_guest(self) -> None:
		self.user = "Guest"
		self.info = frappe._dict(user_type="Website User")
		self.make_session()

	def logout(self, arg: str = "", user: str | None = None) -> None:
		"""End ``user``'s session (the current one), clear the cookies, continue as Guest."""
		user = user or frappe.session.user
		self.run_trigger("on_logout")
		if user == frappe.session.user:
			delete_session(frappe.session.sid, user=user, reason="User Manually Logged Out")
			self.clear_cookies()
			if getattr(frappe.local, "request", None) is not None:
				self.login_as_guest()
		else:
			clear_sessions(user)

	def clear_cookies(self) -> None:
		clear_cookies()


class CookieManager:
	"""Cookies to set or delete on the response (flushed by ``frappe.app.process_response``)."""

	def __init__(self):
		self.cookies: dict[str, dict] = {}
		self.to_delete: list[str] = []

	def init_cookies(self) -> None:
		session = getattr(frappe.local, "session", None)
		if session and session.get("sid"):
			self.set_cookie("sid", session.sid, max_age=get_expiry_in_seconds(), httponly=True)

	def set_cookie(
		self, key, value, expires=None, secure=False, httponly=False, samesite="Lax", max_age=None
	) -> None:
		request = getattr(frappe.local, "request", None)
		if not secure and request is not None:
			secure = request.scheme == "https"
		# the last of set/delete wins, as it does for the browser reading Frappe's Set-Cookie headers
		self.to_delete = [k for k in self.to_delete if k != key]
		self.cookies[key] = {
			"value": value,
			"expires": expires,
			"secure": secure,
			"httponly": httponly,
			"samesite": samesite,
			"max_age": max_age,
		}

	def delete_cookie(self, to_delete) -> None:
		if not isinstance(to_delete, list | tuple):
			to_delete = [to_delete]
		for key in to_delete:
			self.cookies.pop(key, None)
		self.to_delete.extend(to_delete)

	def flush_cookies(self, response: Response) -> None:
		for key, opts in self.cookies.items():
			response.set_cookie(
				key,
				quote((opts.get("value") or "").encode("utf-8")),
				expires=opts.get("expires"),
				secure=opts.get("secure"),
				httponly=opts.get("httponly"),
				samesite=opts.get("samesite"),
				max_age=opts.get("max_age"),
			)
		yesterday = datetime.datetime.now() - datetime.timedelta(days=1)
		for key in set(self.to_delete):
			response.set_cookie(key, "", expires=yesterday)


def clear_cookies() -> None:
	if getattr(frappe.local, "session", None) is not None:
		frappe.local.session.sid = ""
	cookie_manager = getattr(frappe.local, "cookie_manager", None)
	if cookie_manager is not None:
		cookie_manager.delete_cookie(list(SESSION_COOKIES))


def validate_auth() -> None:
	"""Authenticate by the Authorization header; a header that does not yield a user -> 401."""
	authorization_header = (get_request_header("Authorization", "") or "").split(" ")
	if len(authorization_header) == 2:
		validate_auth_via_api_keys(authorization_header)
	validate_auth_via_hooks()
	if len(authorization_header) == 2 and frappe.session.user in ("", "Guest"):
		raise frappe.AuthenticationError


def validate_auth_via_api_keys(authorization_header: list[str]) -> None:
	"""``token key:secret`` or ``basic base64(key:secret)``; malformed values fall through to 401."""
	try:
		auth_type, auth_token = authorization_header
		source = get_request_header("Frappe-Authorization-Source")
		if auth_type.lower() == "basic":
			api_key, api_secret = base64.b64decode(auth_token).decode().split(":")
			validate_api_key_secret(api_key, api_secret, source)
		elif auth_type.lower() == "token":
			api_key, api_secret = auth_token.split(":")
			validate_api_key_secret(api_key, api_secret, source)
	except binascii.Error:
		frappe.throw(
			_("Failed to decode token, please provide a valid base64-encoded token."),
			frappe.InvalidAuthorizationToken,
		)
	except (AttributeError, TypeError, ValueError):
		pass


def validate_api_key_secret(
	api_key: str, api_secret: str, frappe_authorization_source: str | None = None
) -> None:
	"""Set the user whose enabled record holds ``api_key`` and whose ``api_secret`` matches; else 401."""
	from frappe.utils.password import get_decrypted_password

	if not api_key or not api_secret:
		raise frappe.AuthenticationError
	doctype = frappe_authorization_source or "User"
	docname = frappe.db.get_value(doctype, {"api_key": api_key, "enabled": 1}, "name")
	if not docname:
		raise frappe.AuthenticationError
	form_dict = frappe.local.form_dict
	try:
		doc_secret = get_decrypted_password(doctype, docname, fieldname="api_secret")
	except frappe.AuthenticationError:
		doc_secret = None
	if not doc_secret or api_secret != doc_secret:
		raise frappe.AuthenticationError
	user = docname if doctype == "User" else frappe.db.get_value(doctype, docname, "user")
	if frappe.local.login_manager.user in ("", "Guest", None):
		frappe.set_user(user)
	frappe.local.form_dict = form_dict


def validate_auth_via_hooks() -> None:
	for auth_hook in frappe.get_hooks("auth_hooks", []) or []:
		frappe.get_attr(auth_hook)()
