"""The demo handlers against a minimal stand-in JobContext (no engine, no database)."""

import unittest
from dataclasses import dataclass, field

from dartwing import demo
from dartwing.dartwing_core.background_jobs.errors import PermanentError, Snooze, TransientError


@dataclass
class Context:
	parameters: dict = field(default_factory=dict)
	organization: str = "Acme Corp"
	attempt: int = 1
	snoozes: int = 0
	progress: list = field(default_factory=list)

	def snooze(self, seconds: float, reason: str = "") -> None:
		raise Snooze(seconds, reason)

	def update_progress(self, percent: float, message: str = "") -> None:
		self.progress.append((percent, message))

	def checkpoint(self) -> None:
		pass


class TestDemoHandlers(unittest.TestCase):
	def test_noop_and_echo(self):
		self.assertIsNone(demo.demo_noop(Context()))
		self.assertEqual(demo.demo_echo(Context(parameters={"a": [1, 2]})), {"a": [1, 2]})

	def test_batch_item_sleeps_then_fails_only_when_asked(self):
		self.assertEqual(
			demo.demo_batch_item(Context(parameters={"seconds": 0.01, "steps": 2})), {"slept": 0.01}
		)
		with self.assertRaises(PermanentError):
			demo.demo_batch_item(Context(parameters={"seconds": 0.01, "steps": 1, "fail": True}))

	def test_sleep_reports_progress_every_step_up_to_100(self):
		ctx = Context(parameters={"seconds": 0.01, "steps": 4})
		self.assertEqual(demo.demo_sleep(ctx), {"slept": 0.01})
		self.assertEqual([p for p, _ in ctx.progress], [25, 50, 75, 100])
		self.assertEqual(ctx.progress[-1][1], "Step 4 of 4")

	def test_sleep_stops_when_progress_reports_a_cancel(self):
		class Canceled(Exception):
			pass

		class CancelingContext(Context):
			def update_progress(self, percent: float, message: str = "") -> None:
				super().update_progress(percent, message)
				raise Canceled

		ctx = CancelingContext(parameters={"seconds": 0.01, "steps": 10})
		with self.assertRaises(Canceled):
			demo.demo_sleep(ctx)
		self.assertEqual(len(ctx.progress), 1)

	def test_uncooperative_sleep_never_reports_progress(self):
		ctx = Context(parameters={"seconds": 0.01})
		self.assertEqual(demo.demo_sleep_uncooperative(ctx), {"slept": 0.01})
		self.assertEqual(ctx.progress, [])

	def test_flaky_fails_transiently_then_succeeds(self):
		for attempt in (1, 2):
			with self.subTest(attempt=attempt), self.assertRaises(TransientError):
				demo.demo_flaky(Context(attempt=attempt))
		self.assertEqual(demo.demo_flaky(Context(attempt=3)), {"attempt": 3})
		self.assertEqual(demo.demo_flaky(Context(attempt=1, parameters={"fail_times": 0})), {"attempt": 1})

	def test_fail_is_permanent(self):
		with self.assertRaisesRegex(PermanentError, "demo_fail always fails"):
			demo.demo_fail(Context())

	def test_snooze_waits_the_given_times_then_completes(self):
		with self.assertRaises(Snooze) as caught:
			demo.demo_snooze(Context(parameters={"times": 2, "seconds": 7}, snoozes=1))
		self.assertEqual((caught.exception.seconds, caught.exception.reason), (7.0, "not ready yet (2 of 2)"))
		self.assertEqual(
			demo.demo_snooze(Context(parameters={"times": 2}, snoozes=2)), {"snoozed": 2, "attempt": 1}
		)

	def test_retry_after_asks_for_its_time_then_succeeds(self):
		with self.assertRaises(TransientError) as caught:
			demo.demo_retry_after(Context(parameters={"retry_after": 3}))
		self.assertEqual(caught.exception.retry_after, 3.0)
		self.assertEqual(demo.demo_retry_after(Context(attempt=2)), {"attempt": 2})
