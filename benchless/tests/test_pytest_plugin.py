"""The pytest plugin keeps the caller's command line meaning what it says after it moves into sites/."""

import os
import subprocess
import sys

import benchless

PYTEST = (sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")


def test_an_ignored_module_is_not_collected_although_the_session_runs_in_sites():
	ignored = "dartwing/tests/integration/test_engine_failures.py"
	reply = subprocess.run(
		[*PYTEST, "dartwing/tests/integration", f"--ignore={ignored}"],
		cwd=benchless.REPO_ROOT,
		env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
		capture_output=True,
		text=True,
		timeout=120,
	)
	assert reply.returncode == 0, reply.stdout[-2000:] + reply.stderr[-2000:]
	assert "test_engine_submit.py::" in reply.stdout  # the rest is collected
	assert "test_engine_failures.py::" not in reply.stdout
