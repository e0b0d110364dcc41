"""`execute <dotted.path> --site S [--args JSON] [--kwargs JSON]`: call a function inside the site, like
`bench execute`: the transaction is committed afterwards and a truthy result is printed as JSON.
Fixable problems (unknown site, database unreachable, bad JSON) print one line and exit 1."""

import argparse
import json
import os
import traceback

import benchless

HELP = "Call a python function in the site's context, commit, print its JSON result"


def add_arguments(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("method", help="dotted path, e.g. dartwing.install.create_demo_data")
	parser.add_argument("--site", required=True)
	parser.add_argument("--args", default="[]", help="JSON list of positional arguments")
	parser.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments")


def run(args: argparse.Namespace) -> int:
	from benchless.site import SetupError, connected_site

	try:
		call_args, call_kwargs = json.loads(args.args), json.loads(args.kwargs)
	except json.JSONDecodeError as exc:
		print(f"execute failed: --args/--kwargs must be JSON ({exc})")
		return 1
	if not isinstance(call_args, list) or not isinstance(call_kwargs, dict):
		print("execute failed: --args must be a JSON list and --kwargs a JSON object")
		return 1
	if os.path.isdir(benchless.SITES_PATH):
		os.chdir(benchless.SITES_PATH)
	try:
		with connected_site(args.site):
			return _call(args.method, call_args, call_kwargs)
	except SetupError as exc:
		print(f"execute failed: {exc}")
		return 1


def _call(method: str, call_args: list, call_kwargs: dict) -> int:
	import frappe

	try:
		fn = frappe.get_attr(method)
	except (ImportError, AttributeError) as exc:
		print(f"execute failed: cannot find {method} ({exc})")
		return 1
	try:
		result = fn(*call_args, **call_kwargs)
	except Exception:
		frappe.db.rollback()
		traceback.print_exc()
		return 1
	frappe.db.commit()
	if result:
		print(json.dumps(result, default=frappe.json_handler))
	return 0
