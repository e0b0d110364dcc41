"""Helpers for tests that need real benchless processes: RQ workers, the web server, the Socket.IO server.

Contract:
- Every helper spawns ``python -m benchless <command>`` children with cwd = sites/ in their own process
  group, waits until they are really usable (RQ lists the worker / the port answers HTTP), and at exit
  stops them — SIGTERM, then SIGKILL of the whole group (so RQ work horses die too) — and unregisters
  killed workers from RQ.
- Nothing here touches ``frappe.local``: site config and Redis are read directly, so the helpers are safe
  inside a test process that already has a site connected.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
import requests
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.registry import (
	DeferredJobRegistry,
	FailedJobRegistry,
	FinishedJobRegistry,
	ScheduledJobRegistry,
	StartedJobRegistry,
)

import benchless
from benchless.commands.worker import read_site_config

STANDARD_QUEUES = ("short", "default", "long")
START_TIMEOUT = 30  # seconds for a child to become usable
STOP_GRACE = 5  # seconds a child gets after SIGTERM


def wait_for(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.1) -> Any:
	"""Poll ``predicate`` until it returns a truthy value (returned) or raise TimeoutError."""
	deadline = time.monotonic() + timeout
	while True:
		value = predicate()
		if value:
			return value
		if time.monotonic() >= deadline:
			raise TimeoutError(f"condition not met within {timeout} s: {predicate}")
		time.sleep(interval)


def redis_queue_conn(site: str) -> redis.Redis:
	return redis.Redis.from_url(read_site_config(site)["redis_queue"])


def bench_id(site: str) -> str:
	conf = read_site_config(site)
	return conf.get("bench_id") or benchless.REPO_ROOT.replace("/", "-")


def queue_names(site: str) -> list[str]:
	conf = read_site_config(site)
	return [f"{bench_id(site)}:{q}" for q in (*STANDARD_QUEUES, *(conf.get("workers") or {}))]


def bench_workers(site: str) -> list[Worker]:
	"""RQ workers listening on this bench's queues."""
	names = set(queue_names(site))
	return [w for w in Worker.all(connection=redis_queue_conn(site)) if names & set(w.queue_names())]


def registered_worker_count(site: str) -> int:
	return len(bench_workers(site))


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def benchless_env() -> dict[str, str]:
	"""Environment for ``python -m benchless`` run from sites/: the repository must be importable."""
	paths = [benchless.REPO_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
	return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONUNBUFFERED": "1"}


def spawn(*args: str, **popen_kwargs: Any) -> subprocess.Popen:
	"""``python -m benchless <args>`` in sites/, in its own process group."""
	return subprocess.Popen(
		[sys.executable, "-m", "benchless", *args],
		cwd=benchless.SITES_PATH,
		start_new_session=True,
		env=benchless_env(),
		**popen_kwargs,
	)


def stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE) -> None:
	"""SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
	for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
		if proc.poll() is not None:
			break
		with contextlib.suppress(ProcessLookupError):
			os.killpg(proc.pid, signum)
		with contextlib.suppress(subprocess.TimeoutExpired):
			proc.wait(timeout=wait)
	# work horses of a stopped worker must not outlive it
	with contextlib.suppress(ProcessLookupError, PermissionError):
		os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class WorkerProcess:
	proc: subprocess.Popen
	site: str

	@property
	def pid(self) -> int:
		return self.proc.pid

	def rq_worker(self) -> Worker | None:
		"""This process's RQ registration (worker names embed the pid)."""
		return next((w for w in bench_workers(self.site) if f".{self.pid}." in w.name), None)


@dataclass
class WorkerGroup:
	site: str
	workers: list[WorkerProcess] = field(default_factory=list)

	def kill(self, pid: int, signum: int = signal.SIGKILL) -> None:
		"""Kill one worker and its work horse (simulates a worker crash)."""
		os.killpg(pid, signum)


@contextlib.contextmanager
def start_workers(
	site: str = "test_site", count: int = 2, queues: str = ",".join(STANDARD_QUEUES)
) -> Iterator[WorkerGroup]:
	"""Run ``count`` real worker processes for ``site`` until the block exits."""
	group = WorkerGroup(site)
	try:
		for _ in range(count):
			proc = spawn("worker", "--site", site, "--queue", queues, "--quiet")
			group.workers.append(WorkerProcess(proc, site))
		wait_for(lambda: _all_registered(group), timeout=START_TIMEOUT, interval=0.2)
		yield group
	finally:
		for worker in group.workers:
			_stop_worker(worker)


def _all_registered(group: WorkerGroup) -> bool:
	for worker in group.workers:
		if worker.proc.poll() is not None:
			raise RuntimeError(f"worker {worker.pid} exited with code {worker.proc.returncode}")
	return all(w.rq_worker() for w in group.workers)


def _stop_worker(worker: WorkerProcess) -> None:
	rq_worker = worker.rq_worker()
	stop_process(worker.proc)
	if rq_worker is not None and worker.rq_worker() is not None:
		# killed before it could say goodbye: drop it from RQ's registry ourselves
		rq_worker.register_death()


def _answers(url: str) -> bool:
	try:
		requests.get(url, timeout=2)
		return True
	except requests.ConnectionError:
		return False


@contextlib.contextmanager
def _server(args: list[str], probe_path: str) -> Iterator[tuple[str, int]]:
	port = free_port()
	proc = spawn(*args, "--port", str(port))
	base_url = f"http://127.0.0.1:{port}"
	try:

		def ready() -> bool:
			if proc.poll() is not None:
				raise RuntimeError(f"{args[0]} exited with code {proc.returncode}")
			return _answers(base_url + probe_path)

		wait_for(ready, timeout=START_TIMEOUT, interval=0.2)
		yield base_url, port
	finally:
		stop_process(proc)


@contextlib.contextmanager
def start_server(site: str = "test_site") -> Iterator[str]:
	"""``python -m benchless serve`` on a free port; yields its base URL once it answers."""
	with _server(["serve", "--site", site], "/api/method/ping") as (url, _port):
		yield url


@contextlib.contextmanager
def start_realtime(site: str = "test_site", webserver_url: str | None = None) -> Iterator[str]:
	"""``python -m benchless realtime`` on a free port; yields its base URL once Socket.IO answers.

	As Frappe's, it authenticates each client at the client's Origin, so clients must send Origin = the web
	server's URL; ``webserver_url``'s port is used instead only under ``developer_mode``."""
	args = ["realtime", "--site", site]
	if webserver_url:
		args += ["--webserver-port", str(int(webserver_url.rsplit(":", 1)[1].split("/")[0]))]
	with _server(args, "/socket.io/?EIO=4&transport=polling") as (url, _port):
		yield url


@contextlib.contextmanager
def site_config(site: str = "test_site", **overrides: Any) -> Iterator[None]:
	"""Overlay ``overrides`` on the site's site_config.json until the block exits (then restore the file).

	Servers read site config per request, so a running web server sees the change at its next request.
	"""
	path = os.path.join(benchless.SITES_PATH, site, "site_config.json")
	with open(path) as f:
		original = f.read()
	with open(path, "w") as f:
		json.dump({**json.loads(original), **overrides}, f, indent=1, sort_keys=True)
	try:
		yield
	finally:
		with open(path, "w") as f:
			f.write(original)
