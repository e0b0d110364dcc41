"""`start --site S [--workers N]`: every process of a bench, like `bench start` with its Procfile, kept
alive as supervisor keeps a production bench's.

Runs ``serve``, ``realtime``, N ``worker``s and ``scheduler`` as child processes, prefixes and forwards
their output, and prints the web and Socket.IO addresses. A child that dies is restarted after a back-off
(1 s, doubling up to 30 s; reset once it has stayed up 30 s), and each death and restart is logged. Only
Ctrl-C / SIGTERM (exit 0) or a web or Socket.IO server that cannot start (it dies within its first
STARTUP_SECONDS; exit 1) stop everything: SIGTERM to all children, SIGKILL after a grace period. When
``dartwing.install.submit_demo_jobs`` exists it is run once via ``execute`` after the workers registered,
so a newcomer sees jobs run.
"""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import threading
import time

import benchless
from benchless.commands.worker import read_site_config, resolve_site

HELP = "Run the web server, Socket.IO, workers and scheduler together"

STOP_GRACE_SECONDS = 10  # how long children get to stop after SIGTERM before SIGKILL
WORKER_READY_TIMEOUT = 30  # seconds to wait for workers to register before submitting demo jobs
DEMO_JOBS_METHOD = "dartwing.install.submit_demo_jobs"
BACKOFF_FIRST_SECONDS = 1  # delay before the first restart of a dead child
BACKOFF_MAX_SECONDS = 30  # the delay doubles per quick death up to this
STABLE_SECONDS = 30  # a child up this long is healthy again: its back-off starts over
STARTUP_SECONDS = 5  # a web or Socket.IO server dying this soon after starting cannot start


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", help="site to serve (default: default_site)")
	parser.add_argument("--workers", type=int, default=2, help="number of RQ workers (default 2)")
	parser.add_argument("--no-demo-jobs", action="store_true", help="do not submit the demo jobs")
	parser.add_argument("--webserver-port", type=int, help="web port (default: conf.webserver_port)")
	parser.add_argument("--socketio-port", type=int, help="Socket.IO port (default: conf.socketio_port)")


class Child:
	"""One child process whose output is forwarded line by line with a name prefix; ``spawn`` (re)starts it."""

	def __init__(self, name: str, argv: list[str], *, server: bool = False):
		self.name = name
		self.argv = argv
		self.server = server  # web / Socket.IO: if it cannot start, the stack cannot run
		self.backoff = 0.0  # seconds before the next restart; 0 until it dies
		self.restart_at: float | None = None  # monotonic time of a pending restart
		self.spawn()

	def spawn(self) -> None:
		self.started_at = time.monotonic()
		self.restart_at = None
		self.proc = subprocess.Popen(
			self.argv,
			cwd=benchless.SITES_PATH,
			stdout=subprocess.PIPE,
			stderr=subprocess.STDOUT,
			start_new_session=True,  # our signals reach it only through us; its horses die with its group
			env=benchless_env(),
		)
		self.reader = threading.Thread(target=self._forward, daemon=True)
		self.reader.start()

	def schedule_restart(self, now: float) -> float:
		"""Note the death, kill what is left of its process group, return the delay before respawning."""
		self.signal(signal.SIGKILL, even_if_exited=True)  # a dead worker's work horse must not linger
		healthy = now - self.started_at >= STABLE_SECONDS
		self.backoff = BACKOFF_FIRST_SECONDS if healthy or not self.backoff else self.backoff * 2
		self.backoff = min(self.backoff, BACKOFF_MAX_SECONDS)
		self.restart_at = now + self.backoff
		return self.backoff

	def _forward(self) -> None:
		for raw in self.proc.stdout:
			line = raw.decode(errors="replace").rstrip("\n")
			print(f"{self.name:<10} | {line}", flush=True)

	def signal(self, signum: int, *, even_if_exited: bool = False) -> None:
		if self.proc.poll() is None or even_if_exited:
			try:
				os.killpg(self.proc.pid, signum)
			except (ProcessLookupError, PermissionError):
				pass


def benchless_env() -> dict[str, str]:
	"""Children run from sites/, so the repository must be on their path."""
	paths = [benchless.REPO_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
	return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONUNBUFFERED": "1"}


def benchless_cmd(*args: str) -> list[str]:
	return [sys.executable, "-m", "benchless", *args]


def start_children(site: str, workers: int, web_port: int, socketio_port: int) -> list[Child]:
	children = [
		Child("web", benchless_cmd("serve", "--site", site, "--port", str(web_port)), server=True),
		Child(
			"socketio",
			benchless_cmd(
				"realtime", "--site", site, "--port", str(socketio_port), "--webserver-port", str(web_port)
			),
			server=True,
		),
	]
	children += [Child(f"worker.{i + 1}", benchless_cmd("worker", "--site", site)) for i in range(workers)]
	children.append(Child("schedule", benchless_cmd("scheduler", "--site", site)))
	return children


def stop_children(children: list[Child], grace: float = STOP_GRACE_SECONDS) -> None:
	"""SIGTERM everyone, wait up to ``grace`` seconds, SIGKILL whoever is left."""
	for child in children:
		child.signal(signal.SIGTERM)
	deadline = time.monotonic() + grace
	for child in children:
		try:
			child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
		except subprocess.TimeoutExpired:
			child.signal(signal.SIGKILL)
			child.proc.wait()
	for child in children:
		child.reader.join(timeout=1)


def wait_for_workers(site: str, count: int, timeout: float = WORKER_READY_TIMEOUT) -> bool:
	from benchless.testing import registered_worker_count

	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if registered_worker_count(site) >= count:
			return True
		time.sleep(0.5)
	return False


def has_demo_jobs() -> bool:
	module_name, _, attr = DEMO_JOBS_METHOD.rpartition(".")
	try:
		return hasattr(importlib.import_module(module_name), attr)
	except ImportError:
		return False


def submit_demo_jobs(site: str, workers: int) -> None:
	if not has_demo_jobs():
		return
	if not wait_for_workers(site, workers):
		print("start      | workers did not register; demo jobs not submitted", flush=True)
		return
	Child("demo", benchless_cmd("execute", DEMO_JOBS_METHOD, "--site", site)).proc.wait()


def run(args: argparse.Namespace) -> int:
	site = resolve_site(args.site)
	conf = read_site_config(site)
	stop = threading.Event()
	for signum in (signal.SIGINT, signal.SIGTERM):
		signal.signal(signum, lambda *_: stop.set())

	web_port = args.webserver_port or int(conf.get("webserver_port") or 8000)
	socketio_port = args.socketio_port or int(conf.get("socketio_port") or 9000)
	children = start_children(site, args.workers, web_port, socketio_port)
	print(f"start      | web:       http://127.0.0.1:{web_port}", flush=True)
	print(f"start      | socket.io: http://127.0.0.1:{socketio_port}/{site}", flush=True)
	print("start      | press Ctrl-C to stop", flush=True)
	if not args.no_demo_jobs:
		threading.Thread(target=submit_demo_jobs, args=(site, args.workers), daemon=True).start()

	failed = supervise(children, stop)
	stop_children(children)
	print("start      | stopped", flush=True)
	return 1 if failed else 0


def supervise(children: list[Child], stop: threading.Event) -> bool:
	"""Restart dead children with back-off until ``stop`` is set; True when a server could not start."""
	while not stop.wait(0.5):
		now = time.monotonic()
		for child in children:
			if child.restart_at is not None:
				if now >= child.restart_at:
					print(f"start      | restarting {child.name}", flush=True)
					child.spawn()
				continue
			code = child.proc.poll()
			if code is None:
				continue
			if child.server and now - child.started_at < STARTUP_SECONDS:
				print(f"start      | {child.name} could not start (exit code {code}); stopping", flush=True)
				return True
			delay = child.schedule_restart(now)
			print(f"start      | {child.name} exited with code {code}; restarting in {delay:g} s", flush=True)
	return False
