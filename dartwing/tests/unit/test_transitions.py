"""The status table in transitions.py must be exactly the one in data-model.md."""

import pytest

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
	None: {"Pending"},
	"Pending": {"Queued", "Canceled", "Dead Letter"},
	"Queued": {"Pending", "Running", "Canceled", "Dead Letter"},
	"Running": {"Completed", "Failed", "Timed Out", "Canceled", "Dead Letter"},
	"Failed": {"Pending", "Canceled", "Dead Letter"},
	"Timed Out": {"Pending", "Canceled", "Dead Letter"},
	"Canceled": {"Pending"},
	"Dead Letter": {"Pending"},
	"Completed": set(),
}
ORIGINS = [None, *(s.value for s in JobStatus)]


def test_status_values_match_the_doctype_options():
	assert [s.value for s in JobStatus] == [
		"Pending",
		"Queued",
		"Running",
		"Completed",
		"Failed",
		"Timed Out",
		"Canceled",
		"Dead Letter",
	]
	assert JobStatus.TIMED_OUT == "Timed Out"


def test_allowed_table_matches_the_data_model():
	assert {(k.value if k else None): {s.value for s in v} for k, v in ALLOWED.items()} == EXPECTED


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("target", [s.value for s in JobStatus])
def test_every_pair_is_allowed_exactly_when_the_table_says(origin, target):
	expected = target in EXPECTED[origin]
	assert is_allowed(origin, target) is expected
	if expected:
		check_transition(origin, target)
	else:
		with pytest.raises(InvalidTransition):
			check_transition(origin, target)


def test_enum_and_string_forms_are_interchangeable():
	assert is_allowed(JobStatus.QUEUED, "Running")
	assert is_allowed("Queued", JobStatus.RUNNING)
	assert is_allowed("", JobStatus.PENDING)


def test_completed_is_final_and_the_message_says_so():
	with pytest.raises(InvalidTransition, match="from 'Completed' to 'Pending'.*final"):
		check_transition(JobStatus.COMPLETED, JobStatus.PENDING)


def test_message_names_both_statuses_and_the_legal_targets():
	with pytest.raises(InvalidTransition) as caught:
		check_transition("Pending", "Running")
	assert str(caught.value) == (
		"Cannot move a job from 'Pending' to 'Running'; allowed: Canceled, Dead Letter, Queued"
	)
	assert caught.value.from_status == "Pending"
	assert isinstance(caught.value, ValueError)


def test_a_new_job_can_only_start_pending():
	with pytest.raises(InvalidTransition, match="a new job"):
		check_transition(None, "Running")


def test_unknown_statuses_are_refused():
	assert not is_allowed("Pending", "Paused")
	assert not is_allowed("Sleeping", "Pending")
	with pytest.raises(InvalidTransition, match="Unknown job status 'Sleeping'"):
		check_transition("Sleeping", "Pending")
	with pytest.raises(InvalidTransition):
		check_transition("Pending", None)


def test_status_groups():
	assert {s.value for s in FINAL} == {"Completed", "Canceled", "Dead Letter"}
	assert {s.value for s in ACTIVE} == {"Pending", "Queued", "Running"}
	assert {s.value for s in CANCELABLE} == {"Pending", "Queued", "Running", "Failed", "Timed Out"}
	assert {s.value for s in RETRYABLE_BY_USER} == {"Failed", "Timed Out", "Canceled", "Dead Letter"}


def test_groups_agree_with_the_table():
	for status in CANCELABLE:
		assert is_allowed(status, JobStatus.CANCELED)
	for status in RETRYABLE_BY_USER:
		assert is_allowed(status, JobStatus.PENDING)
	# Only Completed has no way out at all.
	assert [s for s in JobStatus if not ALLOWED[s]] == [JobStatus.COMPLETED]
