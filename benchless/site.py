"""Creating and migrating a benchless site: what ``bench new-site`` + ``install-app`` + ``migrate`` do.

Contract:
- ``setup_site(site, ...)`` is idempotent. A new site gets a MariaDB database and a user of the same name
  (``_`` + sha1(site)[:16]) with a random password, created with the root credentials; then
  ``sites/<site>/site_config.json``, the tables of every app on the bench, the standard roles and users
  (Administrator with the given password, Guest), and the apps installed in order (frappe, then dartwing,
  whose ``after_install`` runs). An existing site is only migrated.
- ``sites/common_site_config.json`` and ``sites/apps.txt`` are created when absent, never overwritten.
- Problems a user can fix (database unreachable, wrong root credentials) raise ``SetupError`` with one
  readable line; callers print it.
"""

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
from cryptography.fernet import Fernet

import benchless

TEST_SITE = "test_site"
RUN_SITE = "dartwing.localhost"
BENCH_APPS = ("frappe", "dartwing")
STANDARD_ROLES = ("Administrator", "System Manager", "Guest", "All")

COMMON_SITE_CONFIG = {
	"db_host": "127.0.0.1",
	"db_port": 3306,
	"redis_cache": "redis://127.0.0.1:6379/0",
	"redis_queue": "redis://127.0.0.1:6379/1",
	"webserver_port": 8000,
	"socketio_port": 9000,
	"bench_id": "dartwing-bench",
	"default_site": RUN_SITE,
}

# test_site keeps its queues, cache and ports apart from the run site's
TEST_SITE_OVERRIDES = {
	"bench_id": "dartwing-test",
	"redis_cache": "redis://127.0.0.1:6379/2",
	"redis_queue": "redis://127.0.0.1:6379/3",
	"webserver_port": 8010,
	"socketio_port": 9010,
}

MAX_TEST_SLOT = 6  # slot 6 uses Redis databases 14 and 15, the last of Redis's default 16

MYSQL_UNREACHABLE = 2003
MYSQL_ACCESS_DENIED = 1045
MYSQL_UNKNOWN_DATABASE = 1049


class SetupError(Exception):
	"""A problem the operator can fix; the message is one line."""


@dataclass
class RootCredentials:
	user: str = "root"
	password: str = ""
	host: str | None = None
	port: int | None = None

	@classmethod
	def from_env(cls, user: str | None = None, password: str | None = None) -> "RootCredentials":
		return cls(
			user=user or os.environ.get("BENCHLESS_DB_ROOT_USER") or "root",
			password=password if password is not None else os.environ.get("BENCHLESS_DB_ROOT_PASSWORD", ""),
		)


def test_slot() -> int:
	"""``BENCHLESS_TEST_SLOT`` (0-6): a checkout's own test_site database, queues and cache, so that two
	checkouts on one machine can run their suites at once (0, the default, is the usual test_site)."""
	slot = int(os.environ.get("BENCHLESS_TEST_SLOT") or 0)
	if not 0 <= slot <= MAX_TEST_SLOT:
		raise SetupError(f"BENCHLESS_TEST_SLOT must be between 0 and {MAX_TEST_SLOT}")
	return slot


def test_site_overrides(slot: int = 0) -> dict:
	if not slot:
		return dict(TEST_SITE_OVERRIDES)
	return {
		**TEST_SITE_OVERRIDES,
		"bench_id": f"dartwing-test-{slot}",
		"redis_cache": f"redis://127.0.0.1:6379/{2 + 2 * slot}",
		"redis_queue": f"redis://127.0.0.1:6379/{3 + 2 * slot}",
	}


def db_name_for(site: str, slot: int = 0) -> str:
	return "_" + hashlib.sha1((site if not slot else f"{site}#{slot}").encode()).hexdigest()[:16]


def site_exists(site: str, sites_path: str = benchless.SITES_PATH) -> bool:
	return os.path.isfile(os.path.join(sites_path, site, "site_config.json"))


def ensure_bench_files(sites_path: str = benchless.SITES_PATH) -> None:
	"""sites/, common_site_config.json and apps.txt, created only when missing."""
	os.makedirs(os.path.join(sites_path, "logs"), exist_ok=True)
	common = os.path.join(sites_path, "common_site_config.json")
	if not os.path.exists(common):
		_write_json(common, COMMON_SITE_CONFIG)
	apps_txt = os.path.join(sites_path, "apps.txt")
	if not os.path.exists(apps_txt):
		with open(apps_txt, "w") as f:
			f.write("\n".join(BENCH_APPS) + "\n")


def _write_json(path: str, data: dict) -> None:
	with open(path, "w") as f:
		f.write(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _read_json(path: str) -> dict:
	with open(path) as f:
		return json.load(f)


def _common_config(sites_path: str) -> dict:
	path = os.path.join(sites_path, "common_site_config.json")
	return _read_json(path) if os.path.exists(path) else dict(COMMON_SITE_CONFIG)


def _connect_mysql(host: str, port: int, user: str, password: str, database: str | None = None):
	try:
		return pymysql.connect(
			host=host, port=int(port), user=user, password=password, database=database, connect_timeout=5
		)
	except pymysql.err.OperationalError as exc:
		code = exc.args[0] if exc.args else None
		if code == MYSQL_UNREACHABLE:
			raise SetupError(f"MariaDB is unreachable at {host}:{port} (is it running?)") from None
		if code == MYSQL_ACCESS_DENIED:
			raise SetupError(f"MariaDB refused the credentials of user '{user}' at {host}:{port}") from None
		if code == MYSQL_UNKNOWN_DATABASE:
			raise SetupError(f"MariaDB database '{database}' does not exist at {host}:{port}") from None
		raise SetupError(f"MariaDB error at {host}:{port}: {exc.args[-1]}") from None


def create_database(site_config: dict, host: str, port: int, root: RootCredentials) -> None:
	"""Create the site's database and user (or reset the user's password to the configured one)."""
	db_name, password = site_config["db_name"], site_config["db_password"]
	conn = _connect_mysql(root.host or host, root.port or port, root.user, root.password)
	try:
		with conn.cursor() as cur:
			cur.execute(
				f"create database if not exists `{db_name}` character set utf8mb4 collate utf8mb4_unicode_ci"
			)
			# 'localhost' too: an anonymous ''@'localhost' account would otherwise shadow 'user'@'%'
			for user_host in ("%", "localhost"):
				account = f"'{db_name}'@'{user_host}'"
				escaped = account.replace("%", "%%")  # these statements take a parameter
				cur.execute(f"create user if not exists {escaped} identified by %s", (password,))
				cur.execute(f"alter user {escaped} identified by %s", (password,))
				cur.execute(f"grant all privileges on `{db_name}`.* to {account}")
			cur.execute("flush privileges")
		conn.commit()
	finally:
		conn.close()


def _site_can_connect(site_config: dict, host: str, port: int) -> bool:
	try:
		conn = _connect_mysql(
			host, port, site_config["db_name"], site_config["db_password"], site_config["db_name"]
		)
	except SetupError:
		return False
	conn.close()
	return True


def write_site_config(site: str, sites_path: str) -> dict:
	"""A fresh site_config.json with new credentials and encryption key."""
	site_dir = os.path.join(sites_path, site)
	os.makedirs(os.path.join(site_dir, "logs"), exist_ok=True)
	slot = test_slot() if site == TEST_SITE else 0
	config = {
		"db_name": db_name_for(site, slot),
		"db_password": secrets.token_hex(16),
		"db_type": "mariadb",
		"encryption_key": Fernet.generate_key().decode(),
	}
	if site == TEST_SITE:
		config.update(test_site_overrides(slot))
	_write_json(os.path.join(site_dir, "site_config.json"), config)
	return config


def _check_slot(site: str, config: dict) -> None:
	"""An existing test_site keeps the slot it was made for (its database, queues and cache are in its
	site_config.json): another BENCHLESS_TEST_SLOT would silently share them, so it is refused."""
	if site != TEST_SITE:
		return
	slot = test_slot()
	if config.get("db_name") != db_name_for(site, slot):
		raise SetupError(
			f"{site} here was made for another BENCHLESS_TEST_SLOT (database {config.get('db_name')}); "
			f"slot {slot} would share its database and queues: use that slot, or remove "
			f"sites/{site} to make it again for slot {slot}"
		)


def ensure_database(site: str, sites_path: str, root: RootCredentials) -> bool:
	"""Make the site's database reachable with its own credentials; True when the site is new."""
	common = _common_config(sites_path)
	host, port = common.get("db_host", "127.0.0.1"), int(common.get("db_port", 3306))
	config_path = os.path.join(sites_path, site, "site_config.json")
	is_new = not os.path.exists(config_path)
	if is_new:
		# prove the root credentials before anything is written, so a failure leaves no half-made site
		_connect_mysql(root.host or host, root.port or port, root.user, root.password).close()
		config = write_site_config(site, sites_path)
	else:
		config = _read_json(config_path)
		_check_slot(site, config)
	merged = {**common, **config}
	host, port = merged.get("db_host", host), int(merged.get("db_port", port))
	if is_new or not _site_can_connect(merged, host, port):
		# root is needed only to create what is missing; a working site never needs it
		try:
			create_database(merged, host, port, root)
		except SetupError:
			if is_new:
				shutil.rmtree(os.path.join(sites_path, site), ignore_errors=True)
			raise
	return is_new


def setup_site(
	site: str,
	*,
	admin_password: str = "admin",
	root: RootCredentials | None = None,
	sites_path: str = benchless.SITES_PATH,
	verbose: bool = False,
) -> bool:
	"""Create (or just migrate) ``site``; returns True when it was created. Leaves frappe.local released."""
	benchless.activate()
	root = root or RootCredentials.from_env()
	ensure_bench_files(sites_path)
	is_new = ensure_database(site, sites_path, root)

	import frappe

	frappe.init(site, sites_path=sites_path, force=True)
	try:
		frappe.connect()
		_install_or_migrate(admin_password, is_new, verbose)
	finally:
		frappe.destroy()
	return is_new


def _install_or_migrate(admin_password: str, is_new: bool, verbose: bool) -> None:
	import frappe
	from frappe.installer import install_app, is_installed
	from frappe.migrate import migrate

	_say(verbose, "migrating tables")
	migrate()
	if not is_installed("frappe"):
		frappe.flags.in_install = "frappe"
		_create_standard_roles_and_users(admin_password)
		install_app("frappe")
	for app in frappe.get_all_apps():
		if app != "frappe" and not is_installed(app):
			_say(verbose, f"installing {app}")
			install_app(app)
	frappe.db.commit()


def _say(verbose: bool, message: str) -> None:
	if verbose:
		print(message)


def _create_standard_roles_and_users(admin_password: str) -> None:
	"""Roles Administrator, System Manager, Guest, All; users Administrator and Guest."""
	import frappe
	from frappe.utils.password import update_password

	for role in STANDARD_ROLES:
		if not frappe.db.exists("Role", role):
			frappe.get_doc({"doctype": "Role", "role_name": role}).insert(ignore_permissions=True)
	standard_users = (
		(
			"Administrator",
			"admin@example.com",
			{"is_admin": 1},
			("Administrator", "System Manager"),
			"System User",
		),
		("Guest", "guest@example.com", {"is_guest": 1}, ("Guest",), "Website User"),
	)
	for name, email, flag, roles, user_type in standard_users:
		if not frappe.db.exists("User", name):
			user = frappe.get_doc(
				{
					"doctype": "User",
					"name": name,
					"email": email,
					"first_name": name,
					"enabled": 1,
					"user_type": user_type,
					"roles": [{"role": role} for role in roles],
				}
			)
			user.update(flag)
			user.insert(ignore_permissions=True)
	update_password("Administrator", admin_password)
	frappe.db.commit()


@contextlib.contextmanager
def connected_site(site: str, sites_path: str = benchless.SITES_PATH) -> Iterator[None]:
	"""``frappe.init`` + ``connect`` for an existing site, the connection proven; destroy afterwards.

	Unknown site, unreachable database and refused credentials become one-line ``SetupError``s.
	"""
	benchless.activate()
	if not site_exists(site, sites_path):
		raise SetupError(f"Site {site} does not exist (run `python -m benchless setup --site {site}`)")

	import frappe

	frappe.init(site, sites_path=sites_path, force=True)
	try:
		frappe.connect()
		_prove_connection()
		yield
	finally:
		frappe.destroy()


def _prove_connection() -> None:
	import frappe

	try:
		frappe.db.sql("select 1")
	except Exception as exc:
		code = _mysql_error_code(exc)
		if code is None:
			raise
		host, port = frappe.conf.db_host, frappe.conf.db_port
		if code == MYSQL_UNREACHABLE:
			raise SetupError(f"MariaDB is unreachable at {host}:{port} (is it running?)") from None
		if code in (MYSQL_ACCESS_DENIED, MYSQL_UNKNOWN_DATABASE):
			raise SetupError(
				f"MariaDB refused site {frappe.local.site}'s credentials at {host}:{port} "
				"(re-run `python -m benchless setup` to repair them)"
			) from None
		raise SetupError(f"MariaDB error at {host}:{port}: {exc}") from None


def _mysql_error_code(exc: BaseException | None) -> int | None:
	"""The MariaDB client error code of ``exc`` or of the exception it wraps (the Database may wrap it)."""
	seen = 0
	while exc is not None and seen < 5:
		if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
			return exc.args[0]
		exc = exc.__cause__ or exc.__context__
		seen += 1
	return None
