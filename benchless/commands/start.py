"""`start --site S [--workers N]`: every process of a bench, like `bench start` with its Procfile.

Runs ``serve``, ``realtime``, N ``worker``s and ``scheduler`` as child processes, prefixes and forwards
their output, prints the web and Socket.IO addresses, and on Ctrl-C / SIGTERM stops all children
(SIGTERM, then SIGKILL after a grace period) and exits 0. If a child dies on its own, the others are
stopped and start exits non-zero. When ``dartwing.install.submit_demo_jobs`` exists it is run once via
``execute`` after the workers registered, so a newcomer sees jobs run.
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", help="site to serve (default: default_site)")
	parser.add_argument("--workers", type=int, default=2, help="number of RQ workers (default 2)")
	parser.add_argument("--no-demo-jobs", action="store_true", help="do not submit the demo jobs")
	parser.add_argument("--webserver-port", type=int, help="web port (default: conf.webserver_port)")
	parser.add_argument("--socketio-port", type=int, help="Socket.IO port (default: conf.socketio_port)")


class Child:
	"""One child process whose output is forwarded line by line with a name prefix."""

	def __init__(self, name: str, argv: list[str]):
		self.name = name
		self.proc = subprocess.Popen(
			argv,
			cwd=benchless.SITES_PATH,
			stdout=subprocess.PIPE,
			stderr=subprocess.STDOUT,
			start_new_session=True,  # our signals reach it only through us; its horses die with its group
			env=benchless_env(),
		)
		self.reader = threading.Thread(target=self._forward, daemon=True)
		self.reader.start()

	def _forward(self) -> None:
		for raw in self.proc.stdout:
			line = raw.decode(errors="replace").rstrip("\n")
			print(f"{self.name:<10} | {line}", flush=True)

	def signal(self, signum: int) -> None:
		if self.proc.poll() is None:
			try:
				os.killpg(self.proc.pid, signum)
			except ProcessLookupError:
				pass


def benchless_env() -> dict[str, str]:
	"""Children run from sites/, so the repository must be on their path."""
	paths = [benchless.REPO_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
	return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONUNBUFFERED": "1"}


def benchless_cmd(*args: str) -> list[str]:
	return [sys.executable, "-m", "benchless", *args]


def start_children(site: str, workers: int, web_port: int, socketio_port: int) -> list[Child]:
	children = [
		Child("web", benchless_cmd("serve", "--site", site, "--port", str(web_port))),
		Child(
			"socketio",
			benchless_cmd(
				"realtime", "--site", site, "--port", str(socketio_port), "--webserver-port", str(web_port)
			),
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

	died = None
	while not stop.wait(0.5):
		died = next((c for c in children if c.proc.poll() is not None), None)
		if died:
			print(f"start      | {died.name} exited with code {died.proc.returncode}; stopping", flush=True)
			break
	stop_children(children)
	print("start      | stopped", flush=True)
	return 1 if died else 0
