"""`start`: every bench process comes up, answers, and all stop cleanly on SIGTERM with exit code 0; a
worker killed with SIGKILL is replaced while the rest of the stack keeps serving."""

import os
import signal
import subprocess
import threading

import pytest
import requests

from benchless.testing import bench_workers, free_port, spawn, wait_for

pytestmark = pytest.mark.workers

START_TIMEOUT = 60  # seconds for all children to come up


def answers(url: str) -> bool:
	try:
		return requests.get(url, timeout=2).status_code == 200
	except requests.ConnectionError:
		return False


def start_stack() -> tuple[subprocess.Popen, int, int]:
	"""``python -m benchless start`` with one worker on free ports: (process, web port, Socket.IO port)."""
	web_port, socketio_port = free_port(), free_port()
	proc = spawn(
		"start",
		"--site",
		"test_site",
		"--workers",
		"1",
		"--no-demo-jobs",
		"--webserver-port",
		str(web_port),
		"--socketio-port",
		str(socketio_port),
		stdout=subprocess.PIPE,
		stderr=subprocess.STDOUT,
		text=True,
	)
	return proc, web_port, socketio_port


def test_start_runs_all_processes_and_stops_cleanly():
	proc, web_port, socketio_port = start_stack()
	try:
		wait_for(lambda: answers(f"http://127.0.0.1:{web_port}/api/method/ping"), timeout=START_TIMEOUT)
		wait_for(
			lambda: answers(f"http://127.0.0.1:{socketio_port}/socket.io/?EIO=4&transport=polling"),
			timeout=START_TIMEOUT,
		)
		proc.send_signal(signal.SIGTERM)
		output, _ = proc.communicate(timeout=START_TIMEOUT)
	finally:
		if proc.poll() is None:
			proc.kill()
	assert proc.returncode == 0, output
	for prefix in ("web ", "socketio ", "worker.1 ", "schedule "):
		assert any(line.startswith(prefix) for line in output.splitlines()), f"no output from {prefix}"
	assert f"http://127.0.0.1:{web_port}" in output
	assert output.rstrip().endswith("start      | stopped")
	assert not answers(f"http://127.0.0.1:{web_port}/api/method/ping")


def child_pids(parent: int, command: str) -> set[int]:
	"""Pids of ``parent``'s children running ``python -m benchless <command>`` (read from /proc)."""
	found = set()
	for entry in os.listdir("/proc"):
		if not entry.isdigit():
			continue
		try:
			with open(f"/proc/{entry}/stat") as f:
				ppid = int(f.read().rsplit(")", 1)[1].split()[1])
			with open(f"/proc/{entry}/cmdline", "rb") as f:
				argv = f.read().split(b"\0")
		except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
			continue
		if ppid == parent and b"benchless" in argv and command.encode() in argv:
			found.add(int(entry))
	return found


def registered(pid: int) -> bool:
	"""RQ lists a worker of this bench whose name carries ``pid``."""
	return any(f".{pid}." in worker.name for worker in bench_workers("test_site"))


def test_a_killed_worker_is_restarted_and_the_stack_keeps_serving():
	proc, web_port, socketio_port = start_stack()
	lines: list[str] = []
	reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
	reader.start()
	try:
		first = wait_for(lambda: child_pids(proc.pid, "worker"), timeout=START_TIMEOUT)
		(old,) = first
		wait_for(lambda: registered(old), timeout=START_TIMEOUT)
		os.kill(old, signal.SIGKILL)

		replacement = wait_for(lambda: child_pids(proc.pid, "worker") - {old}, timeout=START_TIMEOUT)
		(new,) = replacement
		wait_for(lambda: registered(new), timeout=START_TIMEOUT)
		assert proc.poll() is None, "start must not stop when a worker dies"
		assert answers(f"http://127.0.0.1:{web_port}/api/method/ping")
		assert answers(f"http://127.0.0.1:{socketio_port}/socket.io/?EIO=4&transport=polling")
		proc.send_signal(signal.SIGTERM)
		proc.wait(timeout=START_TIMEOUT)
		reader.join(timeout=5)
	finally:
		if proc.poll() is None:
			proc.kill()
	output = "".join(lines)
	assert proc.returncode == 0, output
	assert "worker.1 exited with code -9; restarting in 1 s" in output
	assert "restarting worker.1" in output
