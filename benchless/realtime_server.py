"""The Socket.IO server, speaking Frappe 15's realtime protocol (Frappe's own is Node: ``realtime/index.js``,
``realtime/middlewares/authenticate.js``, ``realtime/handlers/frappe_handlers.js``).

Contract:
- One namespace per site, ``/{site}``; any other namespace is refused with "Invalid namespace".
- On connect: the Origin hostname must equal the Host hostname ("Invalid origin"); a Cookie header must be
  present ("No cookie transmitted."); a ``sid`` cookie or an Authorization header is needed. The user is
  then asked of the web server *at the client's Origin* (realtime/utils.js ``get_url``): GET
  ``<Origin>/api/method/frappe.realtime.get_user_info`` forwarding the Authorization header, else the sid
  (as query arg and cookie). So Origin must be the web server's URL (a browser sends the page's origin);
  a client sending the Socket.IO server's own URL is refused ("Unauthorized: ..."), as on Frappe. Only in
  ``developer_mode`` is the Origin's port replaced by ``webserver_port``. Later permission checks
  (``can_subscribe_*``) go to the same URL. The socket joins ``user:{user}`` and
  ``website``, plus ``all`` for System Users. Guests join ``website`` only (benchless deviation: Frappe
  also joins ``user:Guest``).
- Client events: ``doc_subscribe``/``doctype_subscribe`` join their room only after the web server's
  ``can_subscribe_doc``/``can_subscribe_doctype`` answers 200 for the same credentials; ``*_unsubscribe``
  leave; ``task_subscribe``/``progress_subscribe`` join ``task_progress:{id}``; ``ping`` -> ``pong``.
  As in Frappe's ``frappe_handlers.js`` no handler acknowledges anything: a client learns it joined a room
  when the room's events reach it. One socket's events are handled in the order it sent them.
- A Redis subscriber on channel ``events`` of ``redis_queue`` relays ``{event, message, room, namespace}`` to
  room ``room`` of namespace ``/{namespace}`` (to the whole namespace when room is empty).
"""

import asyncio
import json
import logging
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import socketio
from aiohttp import ClientSession, ClientTimeout, web

logger = logging.getLogger("benchless.realtime")

WEBSITE_ROOM = "website"
SITE_ROOM = "all"
HTTP_TIMEOUT = ClientTimeout(total=15)  # seconds for a call to the web server
RESUBSCRIBE_DELAY = 1.0  # seconds before reconnecting to Redis after an error


def get_hostname(url: str | None) -> str | None:
	"""Hostname of a URL or a ``host[:port]`` header, as Frappe's authenticate.js reads it."""
	if not url:
		return None
	if "://" in url:
		return urlsplit(url).hostname
	return url.split(":", 1)[0]


class RealtimeServer:
	"""Socket.IO for one bench: authenticates against the web server, relays Redis ``events``."""

	def __init__(
		self,
		site: str,
		redis_url: str,
		default_site: str | None = None,
		*,
		developer_mode: bool = False,
		webserver_port: int | None = None,
	):
		self.site = site
		self.default_site = default_site
		self.developer_mode = developer_mode
		self.webserver_port = webserver_port
		self.redis_url = redis_url
		self.sio = socketio.AsyncServer(
			async_mode="aiohttp", namespaces="*", cors_allowed_origins="*", async_handlers=False
		)
		self.app = web.Application()
		self.sio.attach(self.app)
		self.http: ClientSession | None = None
		self._register_handlers()
		self.app.on_startup.append(self._on_startup)
		self.app.on_cleanup.append(self._on_cleanup)

	# --- lifecycle -------------------------------------------------------------------------------------
	async def _on_startup(self, app: web.Application) -> None:
		self.http = ClientSession(timeout=HTTP_TIMEOUT)
		self._relay_task = asyncio.create_task(self.relay_events())

	async def _on_cleanup(self, app: web.Application) -> None:
		self._relay_task.cancel()
		await self.http.close()

	# --- authentication --------------------------------------------------------------------------------
	def site_name(self, environ: dict) -> str:
		"""The site the client addresses, by authenticate.js's order of precedence."""
		if environ.get("HTTP_X_FRAPPE_SITE_NAME"):
			return get_hostname(environ["HTTP_X_FRAPPE_SITE_NAME"])
		host = get_hostname(environ.get("HTTP_HOST"))
		if host in ("localhost", "127.0.0.1"):
			return self.default_site or self.site
		if environ.get("HTTP_ORIGIN"):
			return get_hostname(environ["HTTP_ORIGIN"])
		return host

	def credentials(self, environ: dict) -> dict:
		"""What authenticates this client: its Authorization header, else its sid cookie."""
		cookies = SimpleCookie()
		cookies.load(environ.get("HTTP_COOKIE", ""))
		sid = cookies["sid"].value if "sid" in cookies else None
		authorization = environ.get("HTTP_AUTHORIZATION")
		if not sid and not authorization:
			raise socketio.exceptions.ConnectionRefusedError(
				"No authentication method used. Use cookie or authorization header."
			)
		return {"sid": sid, "authorization": authorization}

	def web_url(self, origin: str) -> str:
		"""The web server to ask, from the client's Origin (realtime/utils.js ``get_url``)."""
		url = origin.rstrip("/")
		if self.developer_mode and self.webserver_port:
			parts = urlsplit(url)
			url = f"{parts.scheme}://{parts.hostname}:{self.webserver_port}"
		return url

	async def frappe_request(self, base_url: str, creds: dict, path: str, params: dict | None = None):
		"""GET a whitelisted method on the web server as the client; returns (status, json body or None)."""
		headers = {"Accept": "application/json"}
		params = dict(params or {})
		if creds.get("authorization"):
			headers["Authorization"] = creds["authorization"]
		elif creds.get("sid"):
			headers["Cookie"] = f"sid={creds['sid']}"
			params["sid"] = creds["sid"]
		async with self.http.get(f"{base_url}{path}", params=params, headers=headers) as res:
			try:
				body = await res.json(content_type=None)
			except ValueError:
				body = None
			return res.status, body

	async def authenticate(self, namespace: str, environ: dict) -> dict:
		site = self.site_name(environ)
		# This server authenticates against one site's web server: serving another site's namespace
		# would admit that site's events to users of this one.
		if namespace.lstrip("/") != site or site != self.site:
			raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")
		if get_hostname(environ.get("HTTP_HOST")) != get_hostname(environ.get("HTTP_ORIGIN")):
			raise socketio.exceptions.ConnectionRefusedError("Invalid origin")
		if not environ.get("HTTP_COOKIE"):
			raise socketio.exceptions.ConnectionRefusedError("No cookie transmitted.")
		creds = self.credentials(environ)
		base_url = self.web_url(environ["HTTP_ORIGIN"])
		try:
			status, body = await self.frappe_request(
				base_url, creds, "/api/method/frappe.realtime.get_user_info"
			)
		except Exception as exc:
			raise socketio.exceptions.ConnectionRefusedError(f"Unauthorized: {exc}")
		message = body.get("message") if status == 200 and isinstance(body, dict) else None
		if not isinstance(message, dict) or not message.get("user"):
			raise socketio.exceptions.ConnectionRefusedError(f"Unauthorized: HTTP {status}")
		session = {"site": site, "base_url": base_url, "user": message["user"], **creds}
		return {**session, "user_type": message.get("user_type")}

	# --- handlers --------------------------------------------------------------------------------------
	def _register_handlers(self) -> None:
		on = self.sio.on
		on("connect", namespace="*")(self.on_connect)
		on("doc_subscribe", namespace="*")(self.on_doc_subscribe)
		on("doc_unsubscribe", namespace="*")(self.on_doc_unsubscribe)
		on("doctype_subscribe", namespace="*")(self.on_doctype_subscribe)
		on("doctype_unsubscribe", namespace="*")(self.on_doctype_unsubscribe)
		on("task_subscribe", namespace="*")(self.on_task_subscribe)
		on("progress_subscribe", namespace="*")(self.on_task_subscribe)
		on("task_unsubscribe", namespace="*")(self.on_task_unsubscribe)
		on("ping", namespace="*")(self.on_ping)

	async def on_connect(self, namespace: str, sid: str, environ: dict, auth=None) -> None:
		session = await self.authenticate(namespace, environ)
		await self.sio.save_session(sid, session, namespace=namespace)
		await self.sio.enter_room(sid, WEBSITE_ROOM, namespace=namespace)
		if session["user"] == "Guest":
			return
		await self.sio.enter_room(sid, f"user:{session['user']}", namespace=namespace)
		if session["user_type"] == "System User":
			await self.sio.enter_room(sid, SITE_ROOM, namespace=namespace)

	async def _allowed(self, namespace: str, sid: str, method: str, params: dict) -> bool:
		session = await self.sio.get_session(sid, namespace=namespace)
		try:
			status, _ = await self.frappe_request(
				session["base_url"], session, f"/api/method/frappe.realtime.{method}", params
			)
		except Exception:
			logger.exception("Can't check permissions for %s %s", method, params)
			return False
		return status == 200

	async def on_doc_subscribe(self, namespace: str, sid: str, doctype=None, docname=None) -> None:
		if not doctype or not docname:
			return
		params = {"doctype": doctype, "docname": docname}
		if not await self._allowed(namespace, sid, "can_subscribe_doc", params):
			return
		await self.sio.enter_room(sid, f"doc:{doctype}/{docname}", namespace=namespace)

	async def on_doc_unsubscribe(self, namespace: str, sid: str, doctype=None, docname=None) -> None:
		await self.sio.leave_room(sid, f"doc:{doctype}/{docname}", namespace=namespace)

	async def on_doctype_subscribe(self, namespace: str, sid: str, doctype=None) -> None:
		if not doctype or not await self._allowed(
			namespace, sid, "can_subscribe_doctype", {"doctype": doctype}
		):
			return
		await self.sio.enter_room(sid, f"doctype:{doctype}", namespace=namespace)

	async def on_doctype_unsubscribe(self, namespace: str, sid: str, doctype=None) -> None:
		await self.sio.leave_room(sid, f"doctype:{doctype}", namespace=namespace)

	async def on_task_subscribe(self, namespace: str, sid: str, task_id=None) -> None:
		await self.sio.enter_room(sid, f"task_progress:{task_id}", namespace=namespace)

	async def on_task_unsubscribe(self, namespace: str, sid: str, task_id=None) -> None:
		await self.sio.leave_room(sid, f"task_progress:{task_id}", namespace=namespace)

	async def on_ping(self, namespace: str, sid: str, *args) -> None:
		await self.sio.emit("pong", to=sid, namespace=namespace)

	# --- relay -----------------------------------------------------------------------------------------
	async def relay_events(self) -> None:
		"""Forward every message published on ``events`` until cancelled; reconnect on Redis errors."""
		while True:
			try:
				conn = aioredis.from_url(self.redis_url)
				async with conn.pubsub() as pubsub:
					await pubsub.subscribe("events")
					async for item in pubsub.listen():
						if item.get("type") == "message":
							await self.relay(item["data"])
			except asyncio.CancelledError:
				raise
			except Exception:
				logger.exception("Redis subscriber failed; resubscribing")
				await asyncio.sleep(RESUBSCRIBE_DELAY)

	async def relay(self, data: bytes | str) -> None:
		try:
			payload = json.loads(data)
		except ValueError:
			logger.warning("Ignoring a non-JSON realtime message")
			return
		if payload.get("namespace") not in (None, self.site):
			return  # another site's event: Redis pub/sub is shared by every site on this Redis
		namespace = "/" + self.site
		await self.sio.emit(
			payload.get("event"),
			payload.get("message"),
			room=payload.get("room") or None,
			namespace=namespace,
		)


def run_server(server: RealtimeServer, port: int, host: str = "127.0.0.1") -> None:
	"""Serve until SIGINT/SIGTERM (aiohttp's run_app handles both and runs the cleanup)."""
	print(f"realtime: Socket.IO for /{server.site} on http://{host}:{port}", flush=True)
	web.run_app(server.app, host=host, port=port, print=None, handle_signals=True)
