"""`console --site S`: an interactive Python with the site connected as Administrator, like
`bench console` (``frappe`` is imported; nothing is committed unless you call frappe.db.commit())."""

import argparse
import code
import os

import benchless

HELP = "Interactive python shell with the site connected"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", required=True)


def run(args: argparse.Namespace) -> int:
	from benchless.site import SetupError, connected_site

	if os.path.isdir(benchless.SITES_PATH):
		os.chdir(benchless.SITES_PATH)
	try:
		with connected_site(args.site):
			import frappe

			banner = f"benchless console: site {args.site}, user {frappe.session.user} (frappe is imported)"
			code.InteractiveConsole(locals={"frappe": frappe}).interact(banner=banner, exitmsg="")
	except SetupError as exc:
		print(f"console failed: {exc}")
		return 1
	return 0
