"""The engine's own handler timeout (``context.HandlerDeadline``) and what it leaves of RQ's alarm."""

import signal
import threading
import time
import unittest

from dartwing.dartwing_core.background_jobs.context import HandlerDeadline
from dartwing.dartwing_core.background_jobs.errors import JobTimedOut


def _rq_like_alarm(signum, frame):
	raise AssertionError("the outer alarm fired")


class TestHandlerDeadline(unittest.TestCase):
	def setUp(self):
		# a test runner may have its own alarm running (pytest-timeout does): keep it
		self.runner_handler = signal.getsignal(signal.SIGALRM)
		self.runner_timer = signal.getitimer(signal.ITIMER_REAL)

	def tearDown(self):
		signal.signal(signal.SIGALRM, self.runner_handler)
		signal.setitimer(signal.ITIMER_REAL, *self.runner_timer)

	def assert_alarm_as_before(self):
		remaining, interval = signal.getitimer(signal.ITIMER_REAL)
		self.assertIs(signal.getsignal(signal.SIGALRM), self.runner_handler)
		self.assertLessEqual(remaining, self.runner_timer[0])
		self.assertGreater(remaining, self.runner_timer[0] - 5 if self.runner_timer[0] else -1)

	def test_a_handler_over_its_time_gets_job_timed_out_and_the_outer_alarm_is_put_back(self):
		signal.signal(signal.SIGALRM, _rq_like_alarm)
		signal.setitimer(signal.ITIMER_REAL, 30)  # what RQ arms for the work horse
		started = time.monotonic()
		with self.assertRaises(JobTimedOut), HandlerDeadline(0.2):
			while time.monotonic() - started < 10:  # stands for a handler that overruns
				time.sleep(0.01)
		self.assertLess(time.monotonic() - started, 5)
		self.assertIs(signal.getsignal(signal.SIGALRM), _rq_like_alarm)
		remaining, _interval = signal.getitimer(signal.ITIMER_REAL)
		self.assertGreater(remaining, 25)
		self.assertLessEqual(remaining, 30)

	def test_a_handler_within_its_time_is_not_interrupted_and_no_alarm_is_left_behind(self):
		with HandlerDeadline(5):
			time.sleep(0.05)
		self.assert_alarm_as_before()

	def test_off_the_main_thread_it_arms_nothing(self):
		seen = {}

		def run():
			with HandlerDeadline(0.01):
				time.sleep(0.1)
			seen["done"] = True

		thread = threading.Thread(target=run)
		thread.start()
		thread.join()
		self.assertEqual(seen, {"done": True})
		self.assert_alarm_as_before()
