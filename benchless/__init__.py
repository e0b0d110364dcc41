"""benchless: a stand-in for the parts of Frappe 15's server that dartwing uses.

It runs on the services a bench runs on (MariaDB, Redis, RQ workers, Socket.IO) so the app can be
installed, run and tested on machines where Frappe itself cannot be installed. The stand-in package
lives in ``benchless/standin/frappe`` and is importable as ``frappe`` only when no real Frappe is.
"""

import importlib.util
import os
import sys

STANDIN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITES_PATH = os.path.join(REPO_ROOT, "sites")


def activate() -> bool:
	"""Make ``import frappe`` resolve to the stand-in, unless a real Frappe is importable.

	The stand-in is appended to the end of ``sys.path``, so a real Frappe anywhere on the path wins.
	Returns True when the stand-in is the ``frappe`` that will be imported.
	"""
	if STANDIN_PATH not in sys.path:
		if importlib.util.find_spec("frappe") is not None:
			return False
		sys.path.append(STANDIN_PATH)
	elif not _standin_is_frappe():
		return False
	if REPO_ROOT not in sys.path:
		sys.path.append(REPO_ROOT)
	return True


def _standin_is_frappe() -> bool:
	"""With the stand-in already on the path, a real Frappe found first still wins."""
	spec = importlib.util.find_spec("frappe")
	return spec is None or (spec.origin or "").startswith(STANDIN_PATH)
