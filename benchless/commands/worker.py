"""`worker [--queue short,default,long] [--burst] [--site S]`: an RQ worker, like `bench worker`.

The site only selects whose ``redis_queue`` and ``bench_id`` to use; every job carries its own site
(``execute_job`` initialises it), as in Frappe. RQ handles SIGTERM/SIGINT: the first asks for a warm
shutdown (the running job finishes), a second one stops at once.

Also holds the small site helpers the other benchless process commands share.
"""

import argparse
import json
import os

import benchless

HELP = "Start an RQ worker for the bench's queues (drains short, default, long in that order)"


def read_site_config(site: str) -> dict:
	"""common_site_config.json merged with sites/<site>/site_config.json, as ``frappe.get_site_config``."""
	conf: dict = {}
	for path in (
		os.path.join(benchless.SITES_PATH, "common_site_config.json"),
		os.path.join(benchless.SITES_PATH, site, "site_config.json"),
	):
		if os.path.exists(path):
			with open(path) as f:
				conf.update(json.load(f))
	return conf


def resolve_site(site: str | None) -> str:
	"""The requested site, else ``default_site`` of common_site_config; raises SystemExit with one line."""
	if not site:
		common = read_site_config("")
		site = os.environ.get("FRAPPE_SITE") or common.get("default_site")
	if not site:
		raise SystemExit("No site given: pass --site or set default_site in sites/common_site_config.json")
	if not os.path.exists(os.path.join(benchless.SITES_PATH, site, "site_config.json")):
		raise SystemExit(f"Site {site} does not exist (run `python -m benchless setup --site {site}`)")
	return site


def enter_sites_dir() -> None:
	"""Processes run from sites/, as bench runs them."""
	os.chdir(benchless.SITES_PATH)


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", help="site whose redis_queue / bench_id to use (default: default_site)")
	parser.add_argument("--queue", help="comma separated queues, in priority order (default: all)")
	parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
	parser.add_argument("--quiet", action="store_true", help="log warnings only")
	parser.add_argument(
		"--strategy", choices=("default", "round_robin", "random"), default="default", help="dequeue strategy"
	)


def run(args: argparse.Namespace) -> int:
	site = resolve_site(args.site)
	enter_sites_dir()

	import frappe
	from frappe.utils.background_jobs import start_worker
	from rq.worker import DequeueStrategy

	frappe.init(site=site)
	try:
		start_worker(
			queue=args.queue,
			quiet=args.quiet,
			burst=args.burst,
			strategy=DequeueStrategy(args.strategy),
		)
	except frappe.ValidationError as exc:
		print(f"worker: {exc}")
		return 1
	return 0
