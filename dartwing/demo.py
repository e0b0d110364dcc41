"""Demo job handlers: the smallest useful examples of each engine behaviour.

Contract: every handler takes one argument, the engine's JobContext (`ctx.parameters`, `ctx.organization`,
`ctx.attempt`, `ctx.snoozes`, `ctx.update_progress(percent, message="")`, `ctx.checkpoint()`,
`ctx.snooze(seconds, reason)`); the demo Job Types created
by dartwing.install point here. Handlers are idempotent, as every handler must be (delivery is
at-least-once).
"""

import time
from typing import Any

from dartwing.dartwing_core.background_jobs.errors import PermanentError, TransientError


def demo_noop(ctx: Any) -> None:
	"""Does nothing; measures the engine's own overhead."""
	return None


def demo_echo(ctx: Any) -> dict:
	"""Returns its parameters as the result."""
	return ctx.parameters


def demo_sleep(ctx: Any) -> dict:
	"""Sleeps `seconds` (default 5) in `steps` (default 10) slices, reporting progress after each;
	progress updates also check for cancellation, so a cancel stops it at the next slice."""
	seconds = float(ctx.parameters.get("seconds", 5))
	steps = max(1, int(ctx.parameters.get("steps", 10)))
	for step in range(1, steps + 1):
		time.sleep(seconds / steps)
		ctx.update_progress(100 * step / steps, f"Step {step} of {steps}")
	return {"slept": seconds}


def demo_sleep_uncooperative(ctx: Any) -> dict:
	"""Sleeps `seconds` (default 5) in one call with no checkpoint: only a forced stop or the timeout
	can end it early."""
	seconds = float(ctx.parameters.get("seconds", 5))
	time.sleep(seconds)
	return {"slept": seconds}


def demo_flaky(ctx: Any) -> dict:
	"""Fails with a TransientError on the first `fail_times` attempts (default 2), then succeeds."""
	fail_times = int(ctx.parameters.get("fail_times", 2))
	if ctx.attempt <= fail_times:
		raise TransientError(f"demo_flaky fails attempt {ctx.attempt} of the first {fail_times}")
	return {"attempt": ctx.attempt}


def demo_fail(ctx: Any) -> None:
	"""Always fails permanently: the job goes straight to Dead Letter."""
	raise PermanentError("demo_fail always fails")


def demo_batch_item(ctx: Any) -> dict:
	"""One item of the demo batch: ``demo_sleep`` for ``seconds`` (default 2), then fails permanently
	when ``fail`` is set (the batch then ends "Completed with failures")."""
	result = demo_sleep(ctx)
	if ctx.parameters.get("fail"):
		raise PermanentError(f"demo_batch_item {ctx.parameters.get('n')} fails on purpose")
	return result


def demo_snooze(ctx: Any) -> dict:
	"""Not ready the first `times` runs (default 2): snoozes `seconds` (default 5) each time, spending no
	retry, then completes. As a handler waiting for a document another system has not produced yet."""
	times = int(ctx.parameters.get("times", 2))
	if ctx.snoozes < times:
		ctx.snooze(float(ctx.parameters.get("seconds", 5)), f"not ready yet ({ctx.snoozes + 1} of {times})")
	return {"snoozed": ctx.snoozes, "attempt": ctx.attempt}


def demo_retry_after(ctx: Any) -> dict:
	"""A vendor answering 429 with Retry-After: the first `fail_times` attempts (default 1) fail with a
	TransientError asking to come back in `retry_after` seconds (default 10), instead of the backoff."""
	fail_times = int(ctx.parameters.get("fail_times", 1))
	if ctx.attempt <= fail_times:
		seconds = float(ctx.parameters.get("retry_after", 10))
		raise TransientError(f"vendor busy (429), Retry-After: {seconds:g}", retry_after=seconds)
	return {"attempt": ctx.attempt}
