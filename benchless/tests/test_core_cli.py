"""CLI commands fail with one clear line, never a traceback."""

import json
import os
import subprocess
import sys

import benchless


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
	return subprocess.run(
		[sys.executable, "-m", "benchless", *args],
		cwd=benchless.REPO_ROOT,
		capture_output=True,
		text=True,
		env={**os.environ, **(env or {})},
		timeout=60,
	)


def test_unknown_site_is_one_line_and_non_zero():
	result = _run("migrate", "--site", "no-such-site.localhost")
	assert result.returncode != 0
	assert "Traceback" not in result.stdout + result.stderr
	assert "does not exist" in result.stdout


def test_unreachable_database_is_one_line_and_non_zero():
	# FRAPPE_DB_PORT overrides the configured port, as in Frappe; nothing listens on port 1
	result = _run("execute", "frappe.ping", "--site", "test_site", env={"FRAPPE_DB_PORT": "1"})
	assert result.returncode != 0
	assert "Traceback" not in result.stdout + result.stderr
	assert "unreachable" in result.stdout


def test_setup_with_wrong_root_credentials_is_one_line_and_non_zero():
	result = _run("setup", "--site", "h1b-never-created.localhost", "--db-root-password", "definitely-wrong")
	assert result.returncode != 0
	assert "Traceback" not in result.stdout + result.stderr
	assert "refused" in result.stdout
	# the half-made site directory must not make the site look usable later
	assert not os.path.exists(os.path.join(benchless.SITES_PATH, "h1b-never-created.localhost"))


def test_execute_commits_and_prints_the_json_result():
	result = _run("execute", "frappe.ping", "--site", "test_site")
	assert result.returncode == 0, result.stdout + result.stderr
	assert json.loads(result.stdout.strip().splitlines()[-1]) == "pong"
