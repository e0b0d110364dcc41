"""The defaults table and the priority → queue mapping."""

import pytest

from dartwing.dartwing_core.background_jobs import config


def test_every_priority_maps_to_a_standard_queue():
	assert set(config.PRIORITY_QUEUES) == set(config.PRIORITIES)
	for queue, at_front in config.PRIORITY_QUEUES.values():
		assert queue in config.QUEUES
		assert isinstance(at_front, bool)


@pytest.mark.parametrize(
	"priority, expected",
	[
		("Critical", ("short", True)),
		("High", ("short", False)),
		("Normal", ("default", False)),
		("Low", ("long", False)),
	],
)
def test_queue_for_follows_the_priority_table(priority, expected):
	assert config.queue_for(priority) == expected


def test_job_type_queue_override_wins_over_priority_queue():
	assert config.queue_for("Low", "short") == ("short", False)
	assert config.queue_for("Critical", "long") == ("long", True)


def test_queue_for_rejects_unknown_priority_and_queue():
	with pytest.raises(ValueError, match="Unknown priority"):
		config.queue_for("Urgent")
	with pytest.raises(ValueError, match="Unknown queue"):
		config.queue_for("Normal", "fast")


def test_priority_table_is_read_only():
	with pytest.raises(TypeError):
		config.PRIORITY_QUEUES["Low"] = ("short", True)


def test_defaults_sit_inside_their_bounds():
	assert 1 <= config.DEFAULT_TIMEOUT_SECONDS <= config.BULK_TIMEOUT_SECONDS <= config.MAX_TIMEOUT_SECONDS
	assert 0 <= config.DEFAULT_MAX_RETRIES <= config.MAX_RETRIES_LIMIT
	assert config.DEFAULT_BACKOFF_BASE_SECONDS <= config.DEFAULT_BACKOFF_MAX_SECONDS
	assert 0 <= config.DEFAULT_BACKOFF_JITTER <= 1
	assert 0 <= config.DEFAULT_DEDUP_WINDOW_SECONDS <= config.MAX_DEDUP_WINDOW_SECONDS
	assert 1 <= config.DEFAULT_RATE_LIMIT_WINDOW_SECONDS <= config.MAX_RATE_LIMIT_WINDOW_SECONDS
	assert config.LIST_LIMIT_DEFAULT <= config.LIST_LIMIT_MAX
	assert config.MAX_PARAMETERS_BYTES == 262144
	assert config.HEARTBEAT_INTERVAL_SECONDS < config.STALE_HEARTBEAT_SECONDS
