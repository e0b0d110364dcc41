"""ProgressThrottle: first update at once, the latest one per window, 100 % always. No database."""

import unittest

from dartwing.dartwing_core.background_jobs.progress import ProgressThrottle, ProgressUpdate


class FakeClock:
	def __init__(self) -> None:
		self.now = 1000.0

	def __call__(self) -> float:
		return self.now


class TestProgressThrottle(unittest.TestCase):
	def setUp(self):
		self.clock = FakeClock()

	def test_the_first_update_is_sent_at_once_and_the_next_ones_wait_for_the_window(self):
		throttle = ProgressThrottle(0.25, clock=self.clock)
		self.assertEqual(throttle.offer(1, "a"), ProgressUpdate(1, "a"))
		self.assertIsNone(throttle.offer(2, "b"))
		self.assertIsNone(throttle.offer(3, "c"))
		self.assertIsNone(throttle.due())  # window not over yet
		self.clock.now += 0.25
		self.assertEqual(throttle.due(), ProgressUpdate(3, "c"))  # only the latest of the window
		self.assertIsNone(throttle.due())

	def test_an_update_after_a_quiet_window_goes_out_at_once(self):
		throttle = ProgressThrottle(0.25, clock=self.clock)
		throttle.offer(10, "x")
		self.clock.now += 1
		self.assertEqual(throttle.offer(20, "y"), ProgressUpdate(20, "y"))

	def test_one_hundred_percent_is_never_held_back_and_drops_the_kept_update(self):
		throttle = ProgressThrottle(0.25, clock=self.clock)
		throttle.offer(10, "x")
		self.assertIsNone(throttle.offer(50, "half"))
		self.assertEqual(throttle.offer(100, "done"), ProgressUpdate(100, "done"))
		self.clock.now += 1
		self.assertIsNone(throttle.due())

	def test_drain_returns_the_kept_update_regardless_of_the_window(self):
		throttle = ProgressThrottle(10, clock=self.clock)
		throttle.offer(1, "first")
		throttle.offer(2, "kept")
		self.assertEqual(throttle.drain(), ProgressUpdate(2, "kept"))
		self.assertIsNone(throttle.drain())

	def test_a_flood_of_updates_becomes_one_event_per_window(self):
		throttle = ProgressThrottle(0.25, clock=self.clock)
		sent = []
		for i in range(1000):  # 1000 updates over one second
			self.clock.now += 0.001
			update = throttle.offer(i / 10, str(i))
			sent.extend([update] if update else [])
			due = throttle.due()
			sent.extend([due] if due else [])
		self.assertTrue(4 <= len(sent) <= 6, f"{len(sent)} events sent")
