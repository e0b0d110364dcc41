"""`python -m benchless serve --site S [--port P]`: the HTTP server (``bench serve``).

Runs ``frappe.app.application`` on werkzeug's threaded development server (``run_simple``,
threaded=True) bound to 127.0.0.1, with the current directory set to ``sites/`` as bench does. The port
defaults to the site's ``webserver_port``. SIGINT and SIGTERM stop it cleanly (exit 0).
"""

import argparse
import json
import logging
import os
import signal
import sys

import benchless

HELP = "serve /api/method/*, www pages and /assets over HTTP for one site"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", required=True, help="site to serve (a folder under sites/)")
	parser.add_argument("--port", type=int, default=None, help="port (default: the site's webserver_port)")
	parser.add_argument("--quiet", action="store_true", help="do not log every request")


def run(args: argparse.Namespace) -> int:
	if os.path.isdir(benchless.SITES_PATH):
		os.chdir(benchless.SITES_PATH)
	config = _site_config(args.site)
	if config is None:
		print(
			f"serve: site '{args.site}' does not exist (no sites/{args.site}/site_config.json)",
			file=sys.stderr,
		)
		return 1
	port = int(args.port or config.get("webserver_port") or 8000)

	import frappe.app
	from werkzeug.serving import run_simple

	frappe.app._site = args.site
	frappe.app._sites_path = "."
	if args.quiet:
		logging.getLogger("werkzeug").setLevel(logging.WARNING)

	# run_simple stops on KeyboardInterrupt; SIGTERM is turned into one so both signals exit cleanly
	signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
	print(f"serve: {args.site} on http://127.0.0.1:{port}", flush=True)
	try:
		run_simple("127.0.0.1", port, frappe.app.application, threaded=True, use_reloader=False)
	except KeyboardInterrupt:
		pass
	except OSError as e:
		print(f"serve: cannot listen on 127.0.0.1:{port}: {e.strerror or e}", file=sys.stderr)
		return 1
	print("serve: stopped", flush=True)
	return 0


def _site_config(site: str) -> dict | None:
	"""The common config merged under the site's own, or None when the site does not exist."""
	site_file = os.path.join(site, "site_config.json")
	if not os.path.isfile(site_file):
		return None
	config: dict = {}
	if os.path.isfile("common_site_config.json"):
		with open("common_site_config.json") as f:
			config.update(json.load(f))
	with open(site_file) as f:
		config.update(json.load(f))
	return config


def _raise_keyboard_interrupt(signum, frame) -> None:
	raise KeyboardInterrupt
