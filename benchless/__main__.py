"""`python -m benchless <command>`: the bench commands benchless offers.

Each command is a module in ``benchless.commands`` exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Errors a user can act on are printed in one line, never as a traceback.
Before any command, each app's ``commands`` module is imported, as Frappe's bench does
(``frappe.utils.bench_helper.get_app_commands``); the commands those modules list are not offered here.
"""

import argparse
import importlib
import sys
import traceback

import benchless

COMMANDS = (
	"setup",
	"migrate",
	"execute",
	"console",
	"worker",
	"scheduler",
	"serve",
	"realtime",
	"start",
)


def import_app_commands() -> None:
	"""Import ``<app>.commands`` of every app on the bench (sites/apps.txt), as ``bench`` does before it
	runs a command: an app without one is skipped, one that fails to import is printed and skipped."""
	import frappe

	for app in frappe.get_all_apps(with_internal_apps=False, sites_path=benchless.SITES_PATH):
		try:
			importlib.import_module(f"{app}.commands")
		except ModuleNotFoundError as exc:
			if exc.name != f"{app}.commands":
				traceback.print_exc()
		except Exception:
			traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
	benchless.activate()
	import_app_commands()
	parser = argparse.ArgumentParser(prog="python -m benchless", description=__doc__.splitlines()[0])
	subparsers = parser.add_subparsers(dest="command", required=True)
	for name in COMMANDS:
		try:
			module = importlib.import_module(f"benchless.commands.{name}")
		except ModuleNotFoundError as exc:
			if exc.name != f"benchless.commands.{name}":
				raise
			continue
		sub = subparsers.add_parser(name, help=module.HELP)
		module.add_arguments(sub)
		sub.set_defaults(_run=module.run)
	args = parser.parse_args(argv)
	return args._run(args)


if __name__ == "__main__":
	sys.exit(main())
