"""The Socket.IO server over real HTTP: Frappe's connect checks, rooms, permission-checked doc rooms, relay.

Starts ``serve`` and ``realtime`` on free ports; clients are python-socketio clients sending a Cookie
header, an Origin matching the Host and naming the web server (as a browser on a page of the site does),
and token or sid credentials.
"""

import uuid

import frappe
import pytest
import requests
import socketio
from frappe.realtime import publish_realtime

from benchless.testing import start_realtime, start_server, wait_for

pytestmark = pytest.mark.web

NAMESPACE = "/test_site"
EVENT_TIMEOUT = 10  # seconds to wait for an event that must arrive
PLAIN_PASSWORD = "Rt-test-pass-42!"


@pytest.fixture(scope="module")
def servers():
	with start_server("test_site") as web_url, start_realtime("test_site", webserver_url=web_url) as rt_url:
		Client.default_origin = web_url  # the page a browser client would be on
		yield web_url, rt_url


@pytest.fixture(scope="module")
def admin_token():
	from frappe.core.doctype.user.user import generate_keys

	secret = generate_keys("Administrator")["api_secret"]
	api_key = frappe.db.get_value("User", "Administrator", "api_key")
	frappe.db.commit()
	return f"token {api_key}:{secret}"


@pytest.fixture(scope="module")
def plain_user():
	email = f"bl-rt-{uuid.uuid4().hex[:8]}@example.com"
	frappe.get_doc(
		{
			"doctype": "User",
			"email": email,
			"first_name": "Realtime",
			"user_type": "Website User",
			"new_password": PLAIN_PASSWORD,
		}
	).insert(ignore_permissions=True)
	frappe.db.commit()
	return email


@pytest.fixture(scope="module")
def plain_sid(servers, plain_user):
	web_url, _ = servers
	res = requests.post(f"{web_url}/api/method/login", data={"usr": plain_user, "pwd": PLAIN_PASSWORD})
	assert res.status_code == 200, res.text
	return res.cookies["sid"]


@pytest.fixture(scope="module")
def error_log_name():
	"""A document only System Managers may read."""
	doc = frappe.log_error(title=f"bl-rt-{uuid.uuid4().hex[:8]}", message="realtime test document")
	frappe.db.commit()
	return doc.name


class Client:
	"""A socketio client that records events and connect errors of the site namespace."""

	default_origin: str | None = None

	def __init__(self, url: str, *, cookie="io=1", authorization=None, origin=None, namespace=NAMESPACE):
		self.namespace = namespace
		self.sio = socketio.Client(reconnection=False)
		self.received: list[tuple[str, object]] = []
		self.errors: list[object] = []
		self.sio.on("connect_error", self.errors.append, namespace=namespace)
		self.sio.on("*", self._record, namespace=namespace)
		headers = {"Origin": origin or self.default_origin}
		if cookie:
			headers["Cookie"] = cookie
		if authorization:
			headers["Authorization"] = authorization
		self.sio.connect(url, headers=headers, namespaces=[namespace], wait_timeout=EVENT_TIMEOUT)

	def _record(self, event: str, *data) -> None:
		self.received.append((event, data[0] if data else None))

	def emit(self, event: str, *args) -> None:
		self.sio.emit(event, args, namespace=self.namespace)

	def settle(self) -> None:
		"""``ping`` and wait for its ``pong``: the server has handled everything this socket sent before."""
		pongs = len(self.events("pong"))
		self.sio.emit("ping", namespace=self.namespace)
		wait_for(lambda: len(self.events("pong")) > pongs, timeout=EVENT_TIMEOUT)

	def wait_joined(self, **room) -> None:
		"""Publish probes to the room (``publish_realtime`` room arguments) until one arrives."""
		probe = unique_event()

		def arrived() -> list:
			publish_realtime(probe, {}, **room)
			return self.events(probe)

		wait_for(arrived, timeout=EVENT_TIMEOUT, interval=0.2)

	def events(self, name: str) -> list:
		return [data for event, data in self.received if event == name]

	def wait_event(self, name: str) -> list:
		return wait_for(lambda: self.events(name), timeout=EVENT_TIMEOUT)

	def close(self) -> None:
		self.sio.disconnect()


def connect_error(url: str, **kwargs) -> str:
	errors: list = []
	sio = socketio.Client(reconnection=False)
	namespace = kwargs.pop("namespace", NAMESPACE)
	sio.on("connect_error", errors.append, namespace=namespace)
	headers = {"Origin": kwargs.pop("origin", Client.default_origin)}
	if kwargs.get("cookie"):
		headers["Cookie"] = kwargs["cookie"]
	if kwargs.get("authorization"):
		headers["Authorization"] = kwargs["authorization"]
	with pytest.raises(socketio.exceptions.ConnectionError):
		sio.connect(url, headers=headers, namespaces=[namespace], wait_timeout=EVENT_TIMEOUT)
	sio.disconnect()
	assert errors, "no connect_error received"
	data = errors[0]
	return data.get("message") if isinstance(data, dict) else str(data)


def unique_event() -> str:
	return f"bl_rt_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- refusals
def test_wrong_namespace_is_refused(servers, admin_token):
	_, rt_url = servers
	message = connect_error(rt_url, namespace="/other_site", authorization=admin_token, cookie="io=1")
	assert message == "Invalid namespace"


def test_missing_cookie_is_refused(servers, admin_token):
	_, rt_url = servers
	assert connect_error(rt_url, authorization=admin_token) == "No cookie transmitted."


def test_foreign_origin_is_refused(servers, admin_token):
	_, rt_url = servers
	message = connect_error(rt_url, origin="http://evil.example", authorization=admin_token, cookie="io=1")
	assert message == "Invalid origin"


def test_origin_naming_the_socketio_port_is_refused_even_with_valid_credentials(servers, admin_token):
	"""Frappe asks ``<Origin>/api/method/frappe.realtime.get_user_info``: the Socket.IO server is no web
	server, so a client that sends its own URL as Origin (the quickstart's old mistake) is refused."""
	web_url, rt_url = servers
	message = connect_error(rt_url, origin=rt_url, authorization=admin_token, cookie="io=1")
	assert message.startswith("Unauthorized"), message
	# the same credentials with Origin = the web server connect
	client = Client(rt_url, origin=web_url, authorization=admin_token)
	try:
		assert client.sio.connected
	finally:
		client.close()


def test_bad_token_is_refused(servers):
	_, rt_url = servers
	message = connect_error(rt_url, authorization="token nope:nope", cookie="io=1")
	assert message.startswith("Unauthorized")


# ---------------------------------------------------------------- rooms
def test_user_room_events_reach_only_that_user(servers, admin_token, plain_sid, plain_user):
	_, rt_url = servers
	admin = Client(rt_url, authorization=admin_token)
	plain = Client(rt_url, cookie=f"sid={plain_sid}")
	try:
		for_plain, for_admin = unique_event(), unique_event()
		publish_realtime(for_plain, {"to": "plain"}, user=plain_user)
		publish_realtime(for_admin, {"to": "admin"}, user="Administrator")
		assert plain.wait_event(for_plain) == [{"to": "plain"}]
		assert admin.wait_event(for_admin) == [{"to": "admin"}]
		assert not admin.events(for_plain)
		assert not plain.events(for_admin)
	finally:
		admin.close()
		plain.close()


def test_doc_room_requires_read_permission(servers, admin_token, plain_sid, plain_user, error_log_name):
	_, rt_url = servers
	admin = Client(rt_url, authorization=admin_token)
	plain = Client(rt_url, cookie=f"sid={plain_sid}")
	try:
		before, relayed = unique_event(), unique_event()
		publish_realtime(before, {"n": 0}, doctype="Error Log", docname=error_log_name)
		publish_realtime(relayed, {}, user="Administrator")
		admin.wait_event(relayed)  # `before` has been relayed (to nobody) by now

		admin.emit("doc_subscribe", "Error Log", error_log_name)
		plain.emit("doc_subscribe", "Error Log", error_log_name)
		admin.wait_joined(doctype="Error Log", docname=error_log_name)
		plain.settle()  # its refused subscription has been handled

		doc_event, marker = unique_event(), unique_event()
		publish_realtime(doc_event, {"n": 1}, doctype="Error Log", docname=error_log_name)
		publish_realtime(marker, {}, user=plain_user)  # published after doc_event: arrives after it

		assert admin.wait_event(doc_event) == [{"n": 1}]
		plain.wait_event(marker)
		assert not plain.events(doc_event), "a refused subscriber must not get doc events"
		assert not admin.events(before), "events before subscribing must not arrive"
	finally:
		admin.close()
		plain.close()


def test_doc_unsubscribe_stops_doc_events(servers, admin_token, error_log_name):
	_, rt_url = servers
	admin = Client(rt_url, authorization=admin_token)
	try:
		admin.emit("doc_subscribe", "Error Log", error_log_name)
		admin.wait_joined(doctype="Error Log", docname=error_log_name)
		admin.emit("doc_unsubscribe", "Error Log", error_log_name)
		admin.settle()
		doc_event, marker = unique_event(), unique_event()
		publish_realtime(doc_event, {}, doctype="Error Log", docname=error_log_name)
		publish_realtime(marker, {}, user="Administrator")
		admin.wait_event(marker)
		assert not admin.events(doc_event)
	finally:
		admin.close()


def test_system_user_joins_the_site_room_and_ping_pongs(servers, admin_token, plain_sid):
	_, rt_url = servers
	admin = Client(rt_url, authorization=admin_token)
	plain = Client(rt_url, cookie=f"sid={plain_sid}")
	try:
		site_event, marker = unique_event(), unique_event()
		publish_realtime(site_event, {"all": True})  # room "all": System Users only
		publish_realtime(marker, {}, room="website")
		assert admin.wait_event(site_event) == [{"all": True}]
		plain.wait_event(marker)
		assert not plain.events(site_event)

		admin.settle()  # ping answered by pong
	finally:
		admin.close()
		plain.close()


def test_task_subscribe_joins_the_task_room(servers, admin_token):
	_, rt_url = servers
	admin = Client(rt_url, authorization=admin_token)
	try:
		admin.emit("task_subscribe", "task-42")
		admin.wait_joined(task_id="task-42")
		event = unique_event()
		publish_realtime(event, {"p": 1}, task_id="task-42")
		assert admin.wait_event(event) == [{"p": 1, "task_id": "task-42"}]
	finally:
		admin.close()


def test_guest_gets_only_the_website_room(servers):
	_, rt_url = servers
	guest = Client(rt_url, cookie="sid=Guest")
	try:
		private, public = unique_event(), unique_event()
		publish_realtime(private, {}, user="Guest")
		publish_realtime(public, {"hello": "world"}, room="website")
		assert guest.wait_event(public) == [{"hello": "world"}]
		assert not guest.events(private)
	finally:
		guest.close()


def test_the_web_server_asked_is_the_origin_or_in_developer_mode_the_origins_host_at_webserver_port():
	"""realtime/utils.js get_url: ``<Origin><path>``; under developer_mode the port becomes webserver_port."""
	from benchless.realtime_server import RealtimeServer

	production = RealtimeServer("test_site", "redis://127.0.0.1:6379/0", webserver_port=8000)
	assert production.web_url("https://site.example:8443") == "https://site.example:8443"
	developer = RealtimeServer(
		"test_site", "redis://127.0.0.1:6379/0", developer_mode=True, webserver_port=8000
	)
	assert developer.web_url("http://127.0.0.1:9000") == "http://127.0.0.1:8000"
