"""publish_realtime: Frappe's room selection, the exact Redis payload, and after_commit semantics."""

import json
import uuid

import frappe
import pytest
from frappe.realtime import publish_realtime

from benchless.testing import redis_queue_conn

RECEIVE_TIMEOUT = 2.0  # seconds to wait for a published message


@pytest.fixture
def events_channel():
	"""A Redis subscriber on ``events`` returning this site's messages for one unique event name."""
	pubsub = redis_queue_conn("test_site").pubsub()
	pubsub.subscribe("events")
	pubsub.get_message(timeout=RECEIVE_TIMEOUT)  # the subscribe confirmation

	def received(event: str, wait: float = RECEIVE_TIMEOUT) -> list[dict]:
		out = []
		while (item := pubsub.get_message(timeout=wait)) is not None:
			if item["type"] != "message":
				continue
			payload = json.loads(item["data"])
			if payload["namespace"] == "test_site" and payload["event"] == event:
				out.append(payload)
			wait = 0.2
		return out

	yield received
	pubsub.close()


def unique_event() -> str:
	return f"bl_evt_{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
	("kwargs", "room"),
	[
		({"user": "alice@example.com"}, "user:alice@example.com"),
		({"doctype": "Error Log", "docname": "x1"}, "doc:Error Log/x1"),
		({}, "all"),
		({"room": "custom:room", "user": "ignored@example.com"}, "custom:room"),
		({"task_id": "t-1"}, "task_progress:t-1"),
	],
)
def test_room_selection(events_channel, kwargs, room):
	event = unique_event()
	publish_realtime(event, {"n": 1}, **kwargs)
	[payload] = events_channel(event)
	assert payload["room"] == room
	assert payload["namespace"] == "test_site"


def test_task_id_is_added_to_the_message():
	pubsub = redis_queue_conn("test_site").pubsub()
	pubsub.subscribe("events")
	pubsub.get_message(timeout=RECEIVE_TIMEOUT)
	publish_realtime("progress_x", {"p": 5}, task_id="t-9", after_commit=True)  # task_id forces immediate
	item = pubsub.get_message(timeout=RECEIVE_TIMEOUT)
	pubsub.close()
	assert json.loads(item["data"])["message"] == {"p": 5, "task_id": "t-9"}


def test_payload_is_frappe_as_json():
	event = unique_event()
	pubsub = redis_queue_conn("test_site").pubsub()
	pubsub.subscribe("events")
	pubsub.get_message(timeout=RECEIVE_TIMEOUT)
	publish_realtime(event, {"b": 2, "a": 1}, user="u@example.com")
	raw = pubsub.get_message(timeout=RECEIVE_TIMEOUT)["data"].decode()
	pubsub.close()
	expected = {
		"event": event,
		"message": {"b": 2, "a": 1},
		"room": "user:u@example.com",
		"namespace": "test_site",
	}
	assert raw == frappe.as_json(expected)


def test_list_update_goes_to_the_doctype_room(events_channel):
	name = unique_event()
	publish_realtime("list_update", {"doctype": "Error Log", "name": name}, room="ignored")
	ours = [p for p in events_channel("list_update") if p["message"].get("name") == name]
	assert [p["room"] for p in ours] == ["doctype:Error Log"]


def test_after_commit_waits_for_commit(events_channel):
	event = unique_event()
	publish_realtime(event, {"n": 1}, user="u@example.com", after_commit=True)
	publish_realtime(event, {"n": 1}, user="u@example.com", after_commit=True)  # deduplicated
	assert events_channel(event, wait=0.5) == []
	frappe.db.commit()
	assert [p["message"] for p in events_channel(event)] == [{"n": 1}]


def test_after_commit_is_dropped_on_rollback(events_channel):
	event = unique_event()
	publish_realtime(event, {"n": 1}, user="u@example.com", after_commit=True)
	frappe.db.rollback()
	frappe.db.commit()
	assert events_channel(event, wait=0.5) == []


def test_redis_down_is_silent(monkeypatch):
	monkeypatch.setitem(frappe.local.conf, "redis_queue", "redis://127.0.0.1:1/0")
	publish_realtime(unique_event(), {"n": 1})  # must not raise
