"""`python -m benchless <command>`: the bench commands benchless offers.

Each command is a module in ``benchless.commands`` exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Errors a user can act on are printed in one line, never as a traceback.
"""

import argparse
import importlib
import sys

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


def main(argv: list[str] | None = None) -> int:
	benchless.activate()
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
