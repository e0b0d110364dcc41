"""The status table in transitions.py must be exactly the one in data-model.md."""

import unittest

from dartwing.dartwing_core.background_jobs.transitions import (
	ACTIVE,
	ALLOWED,
	CANCELABLE,
	FINAL,
	RETRYABLE_BY_USER,
	InvalidTransition,
	JobStatus,
	check_transition,
	is_allowed,
)

# data-model.md, "Statuses and transitions", written out independently of the module.
EXPECTED = {
	None: {"Pending", "Scheduled"},
	"Scheduled": {"Pending", "Canceled"},
	"Pending": {"Queued", "Canceled", "Dead Letter"},
	"Queued": {"Pending", "Running", "Canceled", "Dead Letter"},
	"Running": {"Completed", "Failed", "Timed Out", "Canceled", "Dead Letter", "Scheduled"},  # snooze
	"Failed": {"Pending", "Canceled", "Dead Letter"},
	"Timed Out": {"Pending", "Canceled", "Dead Letter"},
	"Canceled": {"Pending"},
	"Dead Letter": {"Pending"},
	"Completed": set(),
}
ORIGINS = [None, *(s.value for s in JobStatus)]


class TestJobStatusTable(unittest.TestCase):
	def test_status_values_match_the_doctype_options(self):
		self.assertEqual(
			[s.value for s in JobStatus],
			[
				"Scheduled",
				"Pending",
				"Queued",
				"Running",
				"Completed",
				"Failed",
				"Timed Out",
				"Canceled",
				"Dead Letter",
			],
		)
		self.assertEqual(JobStatus.TIMED_OUT, "Timed Out")

	def test_allowed_table_matches_the_data_model(self):
		self.assertEqual(
			{(k.value if k else None): {s.value for s in v} for k, v in ALLOWED.items()}, EXPECTED
		)

	def test_every_pair_is_allowed_exactly_when_the_table_says(self):
		for origin in ORIGINS:
			for target in [s.value for s in JobStatus]:
				with self.subTest(origin=origin, target=target):
					expected = target in EXPECTED[origin]
					self.assertIs(is_allowed(origin, target), expected)
					if expected:
						check_transition(origin, target)
					else:
						with self.assertRaises(InvalidTransition):
							check_transition(origin, target)

	def test_enum_and_string_forms_are_interchangeable(self):
		self.assertTrue(is_allowed(JobStatus.QUEUED, "Running"))
		self.assertTrue(is_allowed("Queued", JobStatus.RUNNING))
		self.assertTrue(is_allowed("", JobStatus.PENDING))


class TestInvalidTransitionMessages(unittest.TestCase):
	def test_completed_is_final_and_the_message_says_so(self):
		with self.assertRaisesRegex(InvalidTransition, "from 'Completed' to 'Pending'.*final"):
			check_transition(JobStatus.COMPLETED, JobStatus.PENDING)

	def test_message_names_both_statuses_and_the_legal_targets(self):
		with self.assertRaises(InvalidTransition) as caught:
			check_transition("Pending", "Running")
		self.assertEqual(
			str(caught.exception),
			"Cannot move a job from 'Pending' to 'Running'; allowed: Canceled, Dead Letter, Queued",
		)
		self.assertEqual(caught.exception.from_status, "Pending")
		self.assertIsInstance(caught.exception, ValueError)

	def test_a_new_job_can_only_start_pending_or_scheduled(self):
		with self.assertRaisesRegex(InvalidTransition, "a new job"):
			check_transition(None, "Running")
		check_transition(None, "Scheduled")

	def test_a_scheduled_job_is_only_released_to_pending_or_canceled(self):
		with self.assertRaisesRegex(InvalidTransition, "from 'Scheduled' to 'Queued'"):
			check_transition("Scheduled", "Queued")

	def test_unknown_statuses_are_refused(self):
		self.assertFalse(is_allowed("Pending", "Paused"))
		self.assertFalse(is_allowed("Sleeping", "Pending"))
		with self.assertRaisesRegex(InvalidTransition, "Unknown job status 'Sleeping'"):
			check_transition("Sleeping", "Pending")
		with self.assertRaises(InvalidTransition):
			check_transition("Pending", None)


class TestJobStatusGroups(unittest.TestCase):
	def test_status_groups(self):
		self.assertEqual({s.value for s in FINAL}, {"Completed", "Canceled", "Dead Letter"})
		self.assertEqual({s.value for s in ACTIVE}, {"Pending", "Queued", "Running"})
		self.assertEqual(
			{s.value for s in CANCELABLE},
			{"Scheduled", "Pending", "Queued", "Running", "Failed", "Timed Out"},
		)
		self.assertEqual(
			{s.value for s in RETRYABLE_BY_USER}, {"Failed", "Timed Out", "Canceled", "Dead Letter"}
		)

	def test_groups_agree_with_the_table(self):
		for status in CANCELABLE:
			with self.subTest(cancelable=status):
				self.assertTrue(is_allowed(status, JobStatus.CANCELED))
		for status in RETRYABLE_BY_USER:
			with self.subTest(retryable_by_user=status):
				self.assertTrue(is_allowed(status, JobStatus.PENDING))
		# Only Completed has no way out at all.
		self.assertEqual([s for s in JobStatus if not ALLOWED[s]], [JobStatus.COMPLETED])
