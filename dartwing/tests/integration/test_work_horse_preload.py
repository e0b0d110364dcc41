"""A work horse inherits the engine from the worker that forks it.

``bench`` imports every app's ``commands`` module before it runs a command (``bench worker`` too), and
``dartwing.commands`` imports what running a Background Job needs (``executor.preload``). Here a fresh
Python process does exactly that, then runs one real job the way a forked horse does (``run_job`` on a
Queued job, real MariaDB and Redis): it must not import a single module of the engine or its doctypes on
the way, else every horse of a real worker would import it again (a fork per job).
"""

import json
import os
import subprocess
import sys

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.tests.engine_utils import fresh_row, make_job_type, make_tenant, submit_as

HORSE = """
import importlib, json, sys
try:
	import benchless
	benchless.activate()
except ImportError:
	pass
import frappe

importlib.import_module("dartwing.commands")  # what bench does before it starts `bench worker`
preloaded = sorted(m for m in sys.modules if m.startswith("dartwing.dartwing_core"))
before = set(sys.modules)
frappe.init(sys.argv[1], sites_path=".")
frappe.connect()
from dartwing.dartwing_core.background_jobs import executor

executor.run_job(sys.argv[2], sys.argv[3])
frappe.db.commit()
frappe.destroy()
imported = sorted(m for m in set(sys.modules) - before if m.startswith("dartwing.dartwing_core"))
print(json.dumps({"preloaded": preloaded, "imported_by_the_job": imported}))
"""


class TestWorkHorsePreload(FrappeTestCase):
	def test_a_job_run_after_the_app_commands_import_imports_no_engine_module(self):
		user, org = make_tenant()
		job_type = make_job_type("dartwing.demo.demo_echo")
		frappe.db.commit()
		job = submit_as(user, job_type, org, {"x": 1})
		row = fresh_row(job, ("status", "rq_job_id"))
		self.assertEqual(row.status, "Queued")
		self._forget_rq_job(row.rq_job_id)  # no worker runs it: the process below does

		done = subprocess.run(
			[sys.executable, "-c", HORSE, frappe.local.site, job, row.rq_job_id],
			cwd=os.getcwd(),
			capture_output=True,
			text=True,
			timeout=120,
		)
		self.assertEqual(done.returncode, 0, done.stderr)
		seen = json.loads(done.stdout.strip().splitlines()[-1])

		after = fresh_row(job, ("status", "result"))
		self.assertEqual(after.status, "Completed")
		self.assertEqual(json.loads(after.result), {"x": 1})
		self.assertIn("dartwing.dartwing_core.background_jobs.executor", seen["preloaded"])
		self.assertIn("dartwing.dartwing_core.background_jobs.dispatcher", seen["preloaded"])
		self.assertEqual(seen["imported_by_the_job"], [])

	@staticmethod
	def _forget_rq_job(rq_job_id: str) -> None:
		from frappe.utils.background_jobs import get_redis_conn
		from rq.job import Job

		Job.fetch(rq_job_id, connection=get_redis_conn()).delete()
