"""The HTTP server over real HTTP: ``/api/method`` rules, errors, auth, sessions, transactions, pages.

A real ``python -m benchless serve --site test_site`` runs as a subprocess for the module; requests go
through ``requests``. The endpoints live in ``benchless.tests.web_endpoints``.
"""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid

import frappe
import pytest
import requests

import benchless
from benchless.testing import site_config
from benchless.tests.web_endpoints import WEB_TEST_TABLE

pytestmark = pytest.mark.web

EP = "/api/method/benchless.tests.web_endpoints"
PASSWORD = "Web-Test-Pass-1!"
USER = "web.tester@example.com"
DISABLED_USER = "web.disabled@example.com"
JSON = {"Accept": "application/json"}


# ---------------------------------------------------------------- fixtures


def _free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def _ensure_user(email: str, enabled: int) -> None:
	from frappe.utils.password import update_password

	if frappe.db.exists("User", email):
		user = frappe.get_doc("User", email)
	else:
		user = frappe.get_doc(
			{
				"doctype": "User",
				"email": email,
				"first_name": "Web",
				"last_name": "Tester",
				"user_type": "System User",
			}
		)
		user.append("roles", {"role": "System Manager"})
		user.insert(ignore_permissions=True)
	user.enabled = enabled
	user.save(ignore_permissions=True)
	update_password(email, PASSWORD)


def _set_api_keys(email: str) -> tuple[str, str]:
	from frappe.utils.password import set_encrypted_password

	api_key, api_secret = frappe.generate_hash(length=15), frappe.generate_hash(length=15)
	frappe.db.set_value("User", email, "api_key", api_key)
	set_encrypted_password("User", email, api_secret, "api_secret")
	return api_key, api_secret


@pytest.fixture(scope="module")
def site_data():
	frappe.db.sql_ddl(
		f"create table if not exists `{WEB_TEST_TABLE}` (marker varchar(140) not null, key marker (marker))"
	)
	_ensure_user(USER, 1)
	_ensure_user(DISABLED_USER, 1)
	keys = _set_api_keys(USER)
	disabled_keys = _set_api_keys(DISABLED_USER)
	frappe.db.set_value("User", DISABLED_USER, "enabled", 0)
	frappe.db.commit()
	return {"keys": keys, "disabled_keys": disabled_keys}


@pytest.fixture(scope="module")
def server(site_data, tmp_path_factory):
	port = _free_port()
	log = open(tmp_path_factory.mktemp("web") / "serve.log", "w+")
	proc = subprocess.Popen(
		[sys.executable, "-m", "benchless", "serve", "--site", "test_site", "--port", str(port), "--quiet"],
		cwd=benchless.REPO_ROOT,
		stdout=log,
		stderr=subprocess.STDOUT,
		env={**os.environ, "PYTHONUNBUFFERED": "1"},
	)
	url = f"http://127.0.0.1:{port}"
	try:
		_wait_until_up(url, proc, log)
		yield url
	finally:
		proc.terminate()
		proc.wait(timeout=10)
		log.close()


def _wait_until_up(url: str, proc: subprocess.Popen, log) -> None:
	deadline = time.monotonic() + 30
	while time.monotonic() < deadline:
		if proc.poll() is not None:
			log.seek(0)
			pytest.fail(f"serve exited with {proc.returncode}:\n{log.read()[-3000:]}")
		try:
			requests.get(f"{url}/api/method/ping", timeout=2)
			return
		except requests.ConnectionError:
			time.sleep(0.1)
	pytest.fail("serve did not answer within 30 s")


@pytest.fixture
def token(site_data) -> dict:
	key, secret = site_data["keys"]
	return {"Authorization": f"token {key}:{secret}", **JSON}


def _login(server: str) -> requests.Session:
	session = requests.Session()
	response = session.post(f"{server}/api/method/login", json={"usr": USER, "pwd": PASSWORD})
	assert response.status_code == 200, response.text
	return session


def _csrf_token(server: str, session: requests.Session) -> str:
	page = session.get(f"{server}/me")
	assert page.status_code == 200, page.text
	return re.search(r'frappe\.csrf_token = "([0-9a-f]+)"', page.text).group(1)


def _server_messages(body: dict) -> list[dict]:
	return [json.loads(m) for m in json.loads(body["_server_messages"])]


def _markers(marker: str) -> int:
	frappe.db.rollback()  # see rows other connections committed
	return frappe.db.sql(f"select count(*) from `{WEB_TEST_TABLE}` where marker=%s", (marker,))[0][0]


# ---------------------------------------------------------------- /api/method basics


def test_whitelisted_function_returns_message_and_guest_is_guest(server):
	response = requests.get(f"{server}{EP}.whoami")
	assert response.status_code == 200
	assert response.json() == {"message": "Guest"}
	assert response.headers["Content-Type"].startswith("application/json")


def test_v1_prefix_and_none_result_omits_message_key(server, token):
	assert requests.get(
		f"{server}/api/v1/method/benchless.tests.web_endpoints.whoami", headers=token
	).json() == {"message": USER}
	response = requests.get(f"{server}{EP}.nothing", headers=token)
	assert response.status_code == 200
	assert "message" not in response.json()


def test_not_whitelisted_function_is_403(server, token):
	response = requests.get(f"{server}{EP}.not_whitelisted", headers=token)
	assert response.status_code == 403
	assert response.json()["exc_type"] == "PermissionError"


def test_guest_cannot_call_a_method_without_allow_guest(server):
	response = requests.get(f"{server}{EP}.add", params={"a": 1}, headers=JSON)
	assert response.status_code == 403


def test_get_on_a_post_only_method_is_403_and_post_works(server, token):
	response = requests.get(f"{server}{EP}.post_only", headers=token)
	assert response.status_code == 403
	assert "Not permitted" in response.text
	assert requests.post(f"{server}{EP}.post_only", headers=token).json() == {"message": "posted"}


def test_unknown_method_path_is_417_failed_to_get_method(server, token):
	response = requests.get(f"{server}{EP}.does_not_exist", headers=token)
	assert response.status_code == 417
	assert "Failed to get method for command" in _server_messages(response.json())[0]["message"]


def test_unknown_api_route_is_404(server, token):
	assert requests.get(f"{server}/api/nothing/here", headers=token).status_code == 404


# ---------------------------------------------------------------- typed arguments


def test_query_string_arguments_are_converted_to_annotated_types(server, token):
	response = requests.get(
		f"{server}{EP}.add", params={"a": "2", "b": "3", "scale": "1.5", "verbose": "true"}, headers=token
	)
	assert response.status_code == 200, response.text
	assert response.json()["message"] == {"sum": 7.5, "verbose": True, "types": ["int", "float"]}


def test_json_body_and_json_string_arguments_for_dict_and_list(server, token):
	body = {"options": {"depth": 2}, "tags": ["a", "b"], "mode": "slow"}
	assert requests.post(f"{server}{EP}.describe", json=body, headers=token).json()["message"] == body
	# A form value is a string, and Frappe 15 (pydantic lax mode) refuses a string for a dict.
	form = {"options": '{"depth": 3}', "tags": '["x"]'}
	response = requests.post(f"{server}{EP}.describe", data=form, headers=token)
	assert (response.status_code, response.json()["exc_type"]) == (417, "FrappeTypeError")


def test_wrong_argument_type_is_417_frappe_type_error(server, token):
	response = requests.get(f"{server}{EP}.add", params={"a": "two"}, headers=token)
	assert response.status_code == 417
	body = response.json()
	assert body["exc_type"] == "FrappeTypeError"
	response = requests.post(f"{server}{EP}.describe", json={"options": [1, 2]}, headers=token)
	assert response.status_code == 417
	assert response.json()["exc_type"] == "FrappeTypeError"


# ---------------------------------------------------------------- errors


def test_throw_is_417_with_server_messages_and_no_traceback(server, token):
	response = requests.get(f"{server}{EP}.fail_validation", headers=token)
	assert response.status_code == 417
	body = response.json()
	assert body["exc_type"] == "ValidationError"
	messages = _server_messages(body)
	assert messages[0]["message"] == "The thing is not valid"
	assert messages[0]["title"] == "Invalid Thing"
	assert "exc" not in body and "exception" not in body
	assert "Traceback" not in response.text


def test_error_traceback_reaches_the_body_only_when_system_settings_allow_it(server, token):
	"""Frappe 15 (utils/response.py): with allow_error_traceback on, error bodies carry ``exception`` (the
	traceback's last line) and ``exc`` (JSON list of tracebacks); off (a new site's default), neither."""
	url = f"{server}{EP}.fail_validation"
	with site_config(system_settings={"allow_error_traceback": 1}):
		body = requests.get(url, headers=token).json()
	assert body["exc_type"] == "ValidationError"
	assert body["exception"] == "frappe.exceptions.ValidationError: The thing is not valid"
	tracebacks = json.loads(body["exc"])
	assert (
		len(tracebacks) == 1 and tracebacks[0].startswith("Traceback") and "fail_validation" in tracebacks[0]
	)
	with site_config(system_settings={"allow_error_traceback": 0}):
		off = requests.get(url, headers=token)
	assert "exc" not in off.json() and "exception" not in off.json() and "Traceback" not in off.text


def test_a_404_shows_its_traceback_only_with_logging_on(server, token):
	url = f"{server}{EP}.fail_missing"
	with site_config(system_settings={"allow_error_traceback": 1}):
		quiet = requests.get(url, headers=token).json()
		with site_config(logging=1):
			logged = requests.get(url, headers=token).json()
	assert (quiet["exc_type"], "exc" in quiet, "exception" in quiet) == ("DoesNotExistError", False, False)
	assert "exc" in logged and "exception" in logged


@pytest.mark.parametrize(
	("endpoint", "status", "exc_type"),
	[
		("fail_permission", 403, "PermissionError"),
		("fail_missing", 404, "DoesNotExistError"),
		("fail_duplicate", 409, "DuplicateEntryError"),
	],
)
def test_exception_classes_map_to_their_http_status(server, token, endpoint, status, exc_type):
	response = requests.get(f"{server}{EP}.{endpoint}", headers=token)
	assert response.status_code == status
	assert response.json()["exc_type"] == exc_type


def test_unexpected_exception_is_500_without_details_and_is_logged(server, token):
	response = requests.get(f"{server}{EP}.fail_crash", headers=token)
	assert response.status_code == 500
	assert response.json() == {"exc_type": "ZeroDivisionError"}
	frappe.db.rollback()
	logged = frappe.get_all(
		"Error Log", filters={"method": ["like", "%ZeroDivisionError%"]}, fields=["error"], limit=1
	)
	assert logged and "secret internal detail" in logged[0].error


def test_rate_limit_refuses_the_call_over_the_limit_with_429(server):
	bucket = uuid.uuid4().hex
	url = f"{server}{EP}.limited"
	assert [requests.get(url, params={"bucket": bucket}).status_code for _ in range(2)] == [200, 200]
	response = requests.get(url, params={"bucket": bucket}, headers=JSON)
	assert response.status_code == 429
	assert response.json()["exc_type"] == "RateLimitExceededError"
	assert "You hit the rate limit" in _server_messages(response.json())[0]["message"]


# ---------------------------------------------------------------- transactions


def test_post_success_is_committed(server, token):
	marker = uuid.uuid4().hex
	response = requests.post(f"{server}{EP}.write_marker", json={"marker": marker}, headers=token)
	assert response.status_code == 200, response.text
	assert _markers(marker) == 1


def test_post_error_is_rolled_back(server, token):
	marker = uuid.uuid4().hex
	response = requests.post(
		f"{server}{EP}.write_marker", json={"marker": marker, "fail": True}, headers=token
	)
	assert response.status_code == 417
	assert _markers(marker) == 0


def test_get_writes_are_rolled_back(server, token):
	marker = uuid.uuid4().hex
	assert (
		requests.get(f"{server}{EP}.write_marker", params={"marker": marker}, headers=token).status_code
		== 200
	)
	assert _markers(marker) == 0


# ---------------------------------------------------------------- token auth


def test_token_and_basic_auth_authenticate_the_user(server, site_data):
	key, secret = site_data["keys"]
	basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
	for header in (f"token {key}:{secret}", f"Basic {basic}"):
		response = requests.get(f"{server}{EP}.whoami", headers={"Authorization": header})
		assert response.json() == {"message": USER}, header


@pytest.mark.parametrize("header", ["token nokey:nosecret", "token {key}:wrong", "token malformed"])
def test_bad_token_is_401(server, site_data, header):
	key, _secret = site_data["keys"]
	response = requests.get(f"{server}{EP}.whoami", headers={"Authorization": header.format(key=key), **JSON})
	assert response.status_code == 401
	assert response.json()["exc_type"] == "AuthenticationError"


def test_disabled_user_token_is_401(server, site_data):
	key, secret = site_data["disabled_keys"]
	response = requests.get(f"{server}{EP}.whoami", headers={"Authorization": f"token {key}:{secret}"})
	assert response.status_code == 401


# ---------------------------------------------------------------- login, sessions, CSRF


def test_login_sets_session_cookies_and_the_session_authenticates(server):
	session = requests.Session()
	response = session.post(f"{server}/api/method/login", data={"usr": USER, "pwd": PASSWORD})
	assert response.status_code == 200, response.text
	assert response.json() == {"message": "Logged In", "home_page": "/app", "full_name": "Web Tester"}
	sid_header = next(h for h in response.raw.headers.getlist("Set-Cookie") if h.startswith("sid="))
	assert "HttpOnly" in sid_header and "SameSite=Lax" in sid_header and "Max-Age=864000" in sid_header
	assert session.cookies["user_id"] == "web.tester%40example.com"
	assert session.cookies["system_user"] == "yes"
	assert session.get(f"{server}{EP}.whoami").json() == {"message": USER}


@pytest.mark.parametrize(
	"credentials", [{"usr": USER, "pwd": "wrong"}, {"usr": "nobody@example.com", "pwd": "x"}]
)
def test_wrong_credentials_are_401(server, credentials):
	response = requests.post(f"{server}/api/method/login", json=credentials)
	assert response.status_code == 401
	assert response.json()["message"] == "Invalid login credentials"
	assert response.json()["exc_type"] == "AuthenticationError"
	assert "sid" not in response.cookies or not response.cookies["sid"]


def test_disabled_user_cannot_log_in(server):
	response = requests.post(f"{server}/api/method/login", json={"usr": DISABLED_USER, "pwd": PASSWORD})
	assert response.status_code == 401


def test_cookie_session_needs_the_csrf_token_for_unsafe_methods(server):
	session = _login(server)
	refused = session.post(f"{server}{EP}.post_only")
	assert refused.status_code == 400
	assert refused.json()["exc_type"] == "CSRFTokenError"
	csrf = _csrf_token(server, session)
	accepted = session.post(f"{server}{EP}.post_only", headers={"X-Frappe-CSRF-Token": csrf})
	assert accepted.json() == {"message": "posted"}


def test_logout_ends_the_session(server):
	session = _login(server)
	old_sid = session.cookies["sid"]
	csrf = _csrf_token(server, session)
	assert (
		session.post(f"{server}/api/method/logout", headers={"X-Frappe-CSRF-Token": csrf}).status_code == 200
	)
	assert session.get(f"{server}{EP}.whoami").json() == {"message": "Guest"}
	stale = requests.get(f"{server}{EP}.whoami", cookies={"sid": old_sid})
	assert stale.json() == {"message": "Guest", "session_expired": 1}


def test_unknown_sid_is_guest_with_session_expired(server):
	response = requests.get(f"{server}{EP}.whoami", cookies={"sid": "not-a-session"})
	assert response.json() == {"message": "Guest", "session_expired": 1}


# ---------------------------------------------------------------- www pages and assets


def test_guest_is_redirected_from_a_protected_page_to_login(server):
	response = requests.get(f"{server}/me", allow_redirects=False)
	assert response.status_code == 302
	assert response.headers["Location"].endswith("/login?redirect-to=/me")


def test_login_page_renders_for_guests_and_redirects_users(server):
	page = requests.get(f"{server}/login")
	assert page.status_code == 200
	assert "/api/method/login" in page.text and 'id="login-form"' in page.text
	session = _login(server)
	response = session.get(f"{server}/login?redirect-to=/me", allow_redirects=False)
	assert response.status_code == 302 and response.headers["Location"].endswith("/me")


def test_www_page_renders_with_context_for_a_user(server):
	session = _login(server)
	page = session.get(f"{server}/me")
	assert page.status_code == 200
	assert '<p id="me-user">Web Tester</p>' in page.text
	assert page.headers["Cache-Control"].startswith("no-cache")


def test_unknown_page_is_404(server):
	assert requests.get(f"{server}/no-such-page").status_code == 404


def test_static_assets_are_served_and_traversal_is_refused(server):
	response = requests.get(f"{server}/assets/frappe/js/frappe-web.js")
	assert response.status_code == 200
	assert "frappe.call" in response.text
	assert requests.get(f"{server}/assets/frappe/../hooks.py").status_code == 404
	assert requests.get(f"{server}/assets/frappe/%2e%2e/hooks.py").status_code == 404
	assert requests.get(f"{server}/assets/frappe/missing.js").status_code == 404
	assert requests.get(f"{server}/assets/os/x.py").status_code == 404
