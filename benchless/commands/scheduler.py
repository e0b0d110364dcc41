"""`scheduler [--site S] [--tick SECONDS] [--once]`: enqueue due `scheduler_events`, like bench's scheduler.

Without ``--site`` every site under sites/ is scheduled, as Frappe's scheduler does. ``--once`` runs a
single pass right away, prints what it enqueued and exits. SIGINT/SIGTERM stop the loop between passes.
Last execution times live in Redis (see ``frappe.utils.scheduler``).
"""

import argparse
import os
import signal
import threading

import benchless
from benchless.commands.worker import enter_sites_dir, resolve_site

HELP = "Enqueue due scheduler_events hooks every tick (default 60 s)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--site", help="schedule only this site (default: every site)")
	parser.add_argument("--tick", type=float, help="seconds between passes (default conf or 60)")
	parser.add_argument("--once", action="store_true", help="enqueue due events once and exit")


def all_sites() -> list[str]:
	return sorted(
		name
		for name in os.listdir(benchless.SITES_PATH)
		if os.path.exists(os.path.join(benchless.SITES_PATH, name, "site_config.json"))
	)


def run(args: argparse.Namespace) -> int:
	sites = [resolve_site(args.site)] if args.site else all_sites()
	enter_sites_dir()

	from frappe.utils import scheduler

	if args.once:
		for site in sites:
			enqueued = scheduler.enqueue_events_for_site(site)
			print(f"{site}: enqueued {len(enqueued)} event(s){': ' if enqueued else ''}{', '.join(enqueued)}")
		return 0

	stop = threading.Event()
	for signum in (signal.SIGINT, signal.SIGTERM):
		signal.signal(signum, lambda *_: stop.set())
	tick = args.tick or _configured_tick(sites)
	print(f"scheduler: {', '.join(sites) or 'no sites'} every {tick:g} s", flush=True)
	scheduler.start_scheduler(sites, tick, stop)
	print("scheduler: stopped", flush=True)
	return 0


def _configured_tick(sites: list[str]) -> float:
	from benchless.commands.worker import read_site_config

	conf = read_site_config(sites[0] if sites else "")
	return float(conf.get("scheduler_tick_interval") or 60)
