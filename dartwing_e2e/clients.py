"""Clients for end-to-end tests: the whitelisted job API over real HTTP and Frappe's realtime protocol over
a real python-socketio client.

Contract:
- ``ApiClient`` calls ``/api/method/<prefix>.<name>`` on a running web server as one caller (token
  ``Authorization`` header, a ``sid`` cookie session with its CSRF token, or nobody = Guest) and returns
  the raw ``requests.Response``: tests assert exact statuses and bodies themselves.
- ``RealtimeClient`` connects to the site namespace ``/<site>`` the way Frappe's Socket.IO server requires
  (frappe/realtime: middlewares/authenticate.js): a Cookie header, an Origin whose host equals the Host
  and which is the *web server's* URL (the realtime server authenticates the client by calling
  ``<Origin>/api/method/frappe.realtime.get_user_info``), and token or sid credentials. It records every event; waits are bounded.
- Token and session helpers commit what they write, because the servers are other processes.
"""

import json
import re
import threading
from collections.abc import Callable
from typing import Any

import frappe
import requests
import socketio

from benchless.testing import wait_for

API = "dartwing.jobs"  # the public REST surface (contracts/api.md)
API_LONG = "dartwing.dartwing_core.api.jobs"  # the same functions at their module path
HTTP_TIMEOUT = 15  # s for one HTTP call
EVENT_TIMEOUT = 20  # s for a realtime event that must arrive (a demo job runs for a few seconds)


def token_for(user: str) -> str:
	"""A fresh ``token <api_key>:<api_secret>`` header value for ``user`` (committed)."""
	from frappe.core.doctype.user.user import generate_keys

	current = frappe.session.user
	frappe.set_user("Administrator")  # generate_keys is System Manager only
	try:
		secret = generate_keys(user)["api_secret"]
		api_key = frappe.db.get_value("User", user, "api_key")
		frappe.db.commit()
	finally:
		frappe.set_user(current)
	return f"token {api_key}:{secret}"


def server_messages(response: requests.Response) -> list[str]:
	"""The ``message`` texts of Frappe's ``_server_messages`` (a JSON list of JSON-encoded dicts)."""
	raw = response.json().get("_server_messages")
	if not raw:
		return []
	return [json.loads(item).get("message", "") for item in json.loads(raw)]


class ApiClient:
	"""One caller of the job API on one web server."""

	def __init__(self, base_url: str, authorization: str | None = None, prefix: str = API) -> None:
		self.base_url = base_url.rstrip("/")
		self.prefix = prefix
		self.http = requests.Session()
		self.csrf_token: str | None = None
		if authorization:
			self.http.headers["Authorization"] = authorization

	def url(self, method: str) -> str:
		return f"{self.base_url}/api/method/{self.prefix}.{method}"

	def post(self, method: str, **kwargs: Any) -> requests.Response:
		"""POST with a JSON body (``Content-Type: application/json``)."""
		return self.http.post(self.url(method), json=kwargs, headers=self._csrf(), timeout=HTTP_TIMEOUT)

	def post_form(self, method: str, **kwargs: Any) -> requests.Response:
		"""POST as a form; dicts and lists are sent JSON-encoded, as frappe.call does."""
		data = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in kwargs.items()}
		return self.http.post(self.url(method), data=data, headers=self._csrf(), timeout=HTTP_TIMEOUT)

	def get(self, method: str, **params: Any) -> requests.Response:
		return self.http.get(self.url(method), params=params, timeout=HTTP_TIMEOUT)

	def login(self, user: str, password: str) -> str:
		"""Switch to a cookie session; returns its ``sid`` and keeps the CSRF token for POSTs (read from a
		rendered page, where Frappe puts it for its own JavaScript)."""
		res = self.http.post(
			f"{self.base_url}/api/method/login", data={"usr": user, "pwd": password}, timeout=HTTP_TIMEOUT
		)
		assert res.status_code == 200, f"login failed: {res.status_code} {res.text[:500]}"
		page = self.http.get(f"{self.base_url}/me", timeout=HTTP_TIMEOUT)
		match = re.search(r'frappe\.csrf_token = "([0-9a-f]+)"', page.text)
		self.csrf_token = match.group(1) if match else None
		return self.http.cookies["sid"]

	def _csrf(self) -> dict[str, str]:
		return {"X-Frappe-CSRF-Token": self.csrf_token} if self.csrf_token else {}

	def message(self, response: requests.Response) -> Any:
		"""The ``message`` of a successful reply; fails with the body otherwise."""
		assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
		return response.json()["message"]


class RealtimeClient:
	"""A python-socketio client on ``/<site>`` that records events (thread-safe) for later assertions."""

	def __init__(
		self,
		url: str,
		site: str = "test_site",
		*,
		origin: str,
		authorization: str | None = None,
		sid: str | None = None,
	) -> None:
		self.namespace = f"/{site}"
		self.received: list[tuple[str, Any]] = []
		self._lock = threading.Lock()
		self.sio = socketio.Client(reconnection=False)
		self.sio.on("*", self._record, namespace=self.namespace)
		# Frappe's server wants a Cookie header even for token clients, Origin host == Host host, and
		# Origin = the web server it authenticates against (not the Socket.IO URL).
		headers = {"Origin": origin, "Cookie": f"sid={sid}" if sid else "io=1"}
		if authorization:
			headers["Authorization"] = authorization
		self.sio.connect(url, headers=headers, namespaces=[self.namespace], wait_timeout=EVENT_TIMEOUT)

	def _record(self, event: str, *data: Any) -> None:
		with self._lock:
			self.received.append((event, data[0] if data else None))

	def subscribe_doc(self, doctype: str, name: str) -> None:
		"""``doc_subscribe``, then wait until the socket is in ``doc:<doctype>/<name>``: Frappe sends no
		acknowledgement, so probes are published to the room until one arrives."""
		self.sio.emit("doc_subscribe", (doctype, name), namespace=self.namespace)
		probe = f"probe_{frappe.generate_hash(length=10)}"

		def arrived() -> list:
			frappe.publish_realtime(probe, {}, doctype=doctype, docname=name)
			return self.events(probe)

		wait_for(arrived, timeout=EVENT_TIMEOUT, interval=0.2)

	def subscription_refused(self, doctype: str, name: str) -> bool:
		"""``doc_subscribe``; True when the server kept the socket out of ``doc:<doctype>/<name>``.

		A ``ping``'s ``pong`` shows the subscription was handled (benchless handles one socket's events in
		order); then a probe to the room and a later marker to every socket are published: the probe
		must not have come before the marker."""
		self.sio.emit("doc_subscribe", (doctype, name), namespace=self.namespace)
		pongs = len(self.events("pong"))
		self.sio.emit("ping", namespace=self.namespace)
		self.wait(lambda c: len(c.events("pong")) > pongs)
		probe, marker = (f"{kind}_{frappe.generate_hash(length=10)}" for kind in ("probe", "marker"))
		frappe.publish_realtime(probe, {}, doctype=doctype, docname=name)
		frappe.publish_realtime(marker, {}, room="website")
		self.wait(lambda c: c.events(marker))
		return not self.events(probe)

	def events(self, name: str, job: str | None = None) -> list[Any]:
		with self._lock:
			found = [data for event, data in self.received if event == name]
		if job is not None:
			found = [data for data in found if isinstance(data, dict) and data.get("job") == job]
		return found

	def job_events(self, job: str) -> list[tuple[str, Any]]:
		"""Every job_progress / job_status_changed event about ``job``, in arrival order."""
		with self._lock:
			return [
				(event, data)
				for event, data in self.received
				if event in ("job_progress", "job_status_changed")
				and isinstance(data, dict)
				and data.get("job") == job
			]

	def wait(self, predicate: Callable[["RealtimeClient"], Any], timeout: float = EVENT_TIMEOUT) -> Any:
		return wait_for(lambda: predicate(self), timeout=timeout, interval=0.05)

	def wait_status(self, job: str, to_status: str, timeout: float = EVENT_TIMEOUT) -> dict:
		"""Wait for ``job_status_changed`` of ``job`` to ``to_status``; returns that event."""

		def arrived(client: "RealtimeClient") -> dict | None:
			return next(
				(e for e in client.events("job_status_changed", job) if e.get("to") == to_status), None
			)

		return self.wait(arrived, timeout)

	def close(self) -> None:
		self.sio.disconnect()
