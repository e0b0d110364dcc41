"""ProgressThrottle: first update at once, the latest one per window, 100 % always. No database."""

from dartwing.dartwing_core.background_jobs.progress import ProgressThrottle, ProgressUpdate


class FakeClock:
	def __init__(self) -> None:
		self.now = 1000.0

	def __call__(self) -> float:
		return self.now


def test_the_first_update_is_sent_at_once_and_the_next_ones_wait_for_the_window():
	clock = FakeClock()
	throttle = ProgressThrottle(0.25, clock=clock)
	assert throttle.offer(1, "a") == ProgressUpdate(1, "a")
	assert throttle.offer(2, "b") is None
	assert throttle.offer(3, "c") is None
	assert throttle.due() is None  # window not over yet
	clock.now += 0.25
	assert throttle.due() == ProgressUpdate(3, "c")  # only the latest of the window
	assert throttle.due() is None


def test_an_update_after_a_quiet_window_goes_out_at_once():
	clock = FakeClock()
	throttle = ProgressThrottle(0.25, clock=clock)
	throttle.offer(10, "x")
	clock.now += 1
	assert throttle.offer(20, "y") == ProgressUpdate(20, "y")


def test_one_hundred_percent_is_never_held_back_and_drops_the_kept_update():
	clock = FakeClock()
	throttle = ProgressThrottle(0.25, clock=clock)
	throttle.offer(10, "x")
	assert throttle.offer(50, "half") is None
	assert throttle.offer(100, "done") == ProgressUpdate(100, "done")
	clock.now += 1
	assert throttle.due() is None


def test_drain_returns_the_kept_update_regardless_of_the_window():
	clock = FakeClock()
	throttle = ProgressThrottle(10, clock=clock)
	throttle.offer(1, "first")
	throttle.offer(2, "kept")
	assert throttle.drain() == ProgressUpdate(2, "kept")
	assert throttle.drain() is None


def test_a_flood_of_updates_becomes_one_event_per_window():
	clock = FakeClock()
	throttle = ProgressThrottle(0.25, clock=clock)
	sent = []
	for i in range(1000):  # 1000 updates over one second
		clock.now += 0.001
		update = throttle.offer(i / 10, str(i))
		sent.extend([update] if update else [])
		due = throttle.due()
		sent.extend([due] if due else [])
	assert 4 <= len(sent) <= 6
