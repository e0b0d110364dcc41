"""`setup --site S [--admin-password P] [--demo]`: create or migrate a site, like `bench new-site` +
`install-app` (idempotent: an existing site is migrated). `--demo` then runs
``dartwing.install.create_demo_data``. Fixable problems print one line and exit 1.
"""

import argparse
import os

import benchless

HELP = "Create a site (database, user, tables, apps) or migrate it if it exists"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", required=True, help="site name, e.g. dartwing.localhost or test_site")
	parser.add_argument("--admin-password", default="admin", help="Administrator's password (new sites)")
	parser.add_argument("--demo", action="store_true", help="also create the demo data")
	parser.add_argument("--db-root-user", default=None, help="MariaDB root user (default root)")
	parser.add_argument("--db-root-password", default=None, help="MariaDB root password (default empty)")
	parser.add_argument("--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
	from benchless.site import RootCredentials, SetupError, connected_site, setup_site

	os.makedirs(benchless.SITES_PATH, exist_ok=True)
	os.chdir(benchless.SITES_PATH)
	root = RootCredentials.from_env(args.db_root_user, args.db_root_password)
	try:
		created = setup_site(args.site, admin_password=args.admin_password, root=root, verbose=args.verbose)
		if args.demo:
			with connected_site(args.site):
				_create_demo_data()
	except SetupError as exc:
		print(f"setup failed: {exc}")
		return 1
	print(f"Site {args.site} {'created' if created else 'migrated'}{' with demo data' if args.demo else ''}")
	return 0


def _create_demo_data() -> None:
	import frappe

	try:
		create_demo_data = frappe.get_attr("dartwing.install.create_demo_data")
	except (ImportError, AttributeError):
		print("no demo data: dartwing.install.create_demo_data does not exist")
		return
	create_demo_data()
	frappe.db.commit()
