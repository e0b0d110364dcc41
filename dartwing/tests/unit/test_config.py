"""The defaults table and the priority → queue mapping."""

import unittest

from dartwing.dartwing_core.background_jobs import config


class TestPriorityToQueueMapping(unittest.TestCase):
	def test_every_priority_maps_to_a_standard_queue(self):
		self.assertEqual(set(config.PRIORITY_QUEUES), set(config.PRIORITIES))
		for queue, at_front in config.PRIORITY_QUEUES.values():
			self.assertIn(queue, config.QUEUES)
			self.assertIsInstance(at_front, bool)

	def test_queue_for_follows_the_priority_table(self):
		for priority, expected in [
			("Critical", ("short", True)),
			("High", ("short", False)),
			("Normal", ("default", False)),
			("Low", ("long", False)),
		]:
			with self.subTest(priority=priority, expected=expected):
				self.assertEqual(config.queue_for(priority), expected)

	def test_job_type_queue_override_wins_over_priority_queue(self):
		self.assertEqual(config.queue_for("Low", "short"), ("short", False))
		self.assertEqual(config.queue_for("Critical", "long"), ("long", True))

	def test_queue_for_rejects_unknown_priority_and_queue(self):
		with self.assertRaisesRegex(ValueError, "Unknown priority"):
			config.queue_for("Urgent")
		with self.assertRaisesRegex(ValueError, "Unknown queue"):
			config.queue_for("Normal", "fast")

	def test_priority_table_is_read_only(self):
		with self.assertRaises(TypeError):
			config.PRIORITY_QUEUES["Low"] = ("short", True)


class TestBackgroundJobDefaults(unittest.TestCase):
	def test_defaults_sit_inside_their_bounds(self):
		self.assertTrue(
			1 <= config.DEFAULT_TIMEOUT_SECONDS <= config.BULK_TIMEOUT_SECONDS <= config.MAX_TIMEOUT_SECONDS
		)
		self.assertTrue(0 <= config.DEFAULT_MAX_RETRIES <= config.MAX_RETRIES_LIMIT)
		self.assertLessEqual(config.DEFAULT_BACKOFF_BASE_SECONDS, config.DEFAULT_BACKOFF_MAX_SECONDS)
		self.assertTrue(0 <= config.DEFAULT_BACKOFF_JITTER <= 1)
		self.assertTrue(0 <= config.DEFAULT_DEDUP_WINDOW_SECONDS <= config.MAX_DEDUP_WINDOW_SECONDS)
		self.assertTrue(1 <= config.DEFAULT_RATE_LIMIT_WINDOW_SECONDS <= config.MAX_RATE_LIMIT_WINDOW_SECONDS)
		self.assertLessEqual(config.LIST_LIMIT_DEFAULT, config.LIST_LIMIT_MAX)
		self.assertEqual(config.MAX_PARAMETERS_BYTES, 262144)
		self.assertLess(config.HEARTBEAT_INTERVAL_SECONDS, config.STALE_HEARTBEAT_SECONDS)
