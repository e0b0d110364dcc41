"""`migrate --site S`: sync every installed app's doctype tables and run after_migrate hooks, like
`bench migrate`. Fixable problems print one line and exit 1."""

import argparse
import os

import benchless

HELP = "Create/alter the site's tables from the doctype JSON and run after_migrate hooks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", required=True)


def run(args: argparse.Namespace) -> int:
	from benchless.site import SetupError, connected_site

	if os.path.isdir(benchless.SITES_PATH):
		os.chdir(benchless.SITES_PATH)
	try:
		with connected_site(args.site):
			from frappe.migrate import migrate

			migrate()
	except SetupError as exc:
		print(f"migrate failed: {exc}")
		return 1
	print(f"Site {args.site} migrated")
	return 0
