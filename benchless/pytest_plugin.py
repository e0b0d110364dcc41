"""pytest plugin (``-p benchless.pytest_plugin``): runs the test session inside ``test_site``, as
``bench run-tests`` does.

Contract: before collection the stand-in is activated, the working directory becomes ``sites/``,
``test_site`` is created or migrated (idempotent), and ``frappe.init("test_site"); frappe.connect()``
runs once with ``frappe.flags.in_test`` set and Administrator as the session user. ``frappe.destroy()``
runs at the end. A site that cannot be set up stops the session with one readable line.
"""

import os

import pytest

import benchless

TEST_SITE = "test_site"

_connected = False


def pytest_configure(config: pytest.Config) -> None:
	global _connected
	if not benchless.activate():
		# a real Frappe is importable: its own test runner owns the site context
		return
	_anchor_paths(config)
	os.makedirs(benchless.SITES_PATH, exist_ok=True)
	os.chdir(benchless.SITES_PATH)

	from benchless.site import SetupError, setup_site

	try:
		setup_site(TEST_SITE, sites_path=".")
	except SetupError as exc:
		pytest.exit(f"benchless: cannot prepare {TEST_SITE}: {exc}", returncode=3)

	import frappe

	frappe.init(TEST_SITE, sites_path=".", force=True)
	frappe.connect()
	frappe.flags.in_test = True
	frappe.set_user("Administrator")
	_connected = True


def _anchor_paths(config: pytest.Config) -> None:
	"""``--ignore`` / ``--ignore-glob`` are resolved against the working directory at collection time,
	which is ``sites/`` by then: make them absolute from where pytest was invoked, so they keep meaning
	what the caller wrote."""
	invocation = str(config.invocation_params.dir)
	for option in ("ignore", "ignore_glob"):
		values = getattr(config.option, option, None)
		if values:
			setattr(config.option, option, [os.path.join(invocation, value) for value in values])


def pytest_unconfigure(config: pytest.Config) -> None:
	global _connected
	if not _connected:
		return
	import frappe

	frappe.destroy()
	_connected = False
