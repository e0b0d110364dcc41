"""Entry points that tests run in another process (``python -m benchless execute …``) and then kill.

Not tests themselves; nothing here runs unless a test starts it.
"""

import time
from pathlib import Path
from unittest import mock

import frappe

HANG_SECONDS = 600  # the test kills the process long before


def claim_occurrence_and_hang(schedule: str, marker: str) -> None:
	"""Claim the schedule's due occurrence, then hang where its job would be submitted (the claim is
	held, uncommitted); ``marker`` is created once the claim is made."""
	from dartwing.dartwing_core.background_jobs import schedules

	def hang(*_args, **_kwargs):
		Path(marker).touch()
		time.sleep(HANG_SECONDS)

	occurrence = frappe.db.get_value("Job Schedule", schedule, "next_run_at")
	with mock.patch.object(schedules, "_submit_as_owner", hang):
		schedules.run_occurrence(schedule, occurrence)
