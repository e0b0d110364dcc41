"""`start`: every bench process comes up, answers, and all stop cleanly on SIGTERM with exit code 0."""

import signal
import subprocess

import pytest
import requests

from benchless.testing import free_port, spawn, wait_for

pytestmark = pytest.mark.workers

START_TIMEOUT = 60  # seconds for all children to come up


def answers(url: str) -> bool:
	try:
		return requests.get(url, timeout=2).status_code == 200
	except requests.ConnectionError:
		return False


def test_start_runs_all_processes_and_stops_cleanly():
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
