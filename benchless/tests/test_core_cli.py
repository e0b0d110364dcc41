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


def test_every_command_first_imports_the_apps_commands_modules(tmp_path):
	"""As Frappe's bench (``bench_helper.get_app_commands``): ``<app>.commands`` of each app in apps.txt
	is imported before the command runs; an app without one is skipped."""
	(tmp_path / "apps.txt").write_text("dartwing\nbenchmarks\n")  # benchmarks: a package without one
	script = (
		"import sys, benchless; benchless.activate(); import benchless.__main__ as m; "
		f"benchless.SITES_PATH = {str(tmp_path)!r}; m.import_app_commands(); "
		"print('dartwing.commands' in sys.modules, 'dartwing.dartwing_core.background_jobs.executor' in sys.modules)"
	)
	result = subprocess.run(
		[sys.executable, "-c", script], cwd=benchless.REPO_ROOT, capture_output=True, text=True, timeout=60
	)
	assert result.returncode == 0, result.stderr
	assert result.stdout.split() == ["True", "True"]
	assert "Traceback" not in result.stderr  # an app without a commands module is not an error
