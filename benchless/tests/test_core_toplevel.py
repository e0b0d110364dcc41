"""The frappe top level without documents: site config, messages, exceptions, JSON, callbacks, cache."""

import datetime
import json
import os
import threading
from decimal import Decimal

import frappe
import pytest
from frappe.utils import (
	CallbackManager,
	add_to_date,
	cint,
	flt,
	get_datetime,
	getdate,
	sbool,
	time_diff_in_seconds,
)


def test_site_config_overlays_common_config(tmp_path):
	(tmp_path / "common_site_config.json").write_text(json.dumps({"bench_id": "common", "webserver_port": 1}))
	(tmp_path / "s1").mkdir()
	(tmp_path / "s1" / "site_config.json").write_text(json.dumps({"bench_id": "site", "db_name": "x"}))

	conf = frappe.get_site_config(sites_path=str(tmp_path), site_path=str(tmp_path / "s1"))

	assert conf.bench_id == "site"
	assert conf.webserver_port == 1
	assert conf.db_name == "x"
	assert conf.db_type == "mariadb"


def test_test_site_uses_its_own_bench_id_and_redis_databases():
	from benchless.site import db_name_for, test_site_overrides, test_slot

	expected = test_site_overrides(test_slot())
	assert frappe.local.site == "test_site"
	assert frappe.conf.bench_id == expected["bench_id"]
	assert frappe.conf.redis_queue == expected["redis_queue"]
	assert frappe.conf.redis_cache == expected["redis_cache"]
	assert frappe.conf.db_name == db_name_for("test_site", test_slot())
	assert frappe.conf.redis_queue != "redis://127.0.0.1:6379/1"  # never the run site's queues


def test_each_test_slot_has_its_own_database_queues_and_cache():
	from benchless.site import MAX_TEST_SLOT, db_name_for, test_site_overrides

	slots = range(MAX_TEST_SLOT + 1)
	for key in ("bench_id", "redis_queue", "redis_cache"):
		assert len({test_site_overrides(slot)[key] for slot in slots}) == len(slots), key
	assert len({db_name_for("test_site", slot) for slot in slots}) == len(slots)
	queues_and_caches = [test_site_overrides(s)[k] for s in slots for k in ("redis_queue", "redis_cache")]
	assert len(set(queues_and_caches)) == len(queues_and_caches)


def test_an_existing_test_site_made_for_another_slot_is_refused(tmp_path):
	from benchless.site import (
		MAX_TEST_SLOT,
		TEST_SITE,
		RootCredentials,
		SetupError,
		db_name_for,
		ensure_database,
		test_slot,
	)

	other = (test_slot() + 1) % (MAX_TEST_SLOT + 1)
	(tmp_path / TEST_SITE).mkdir()
	config = {"db_name": db_name_for(TEST_SITE, other), "db_password": "unused"}
	(tmp_path / TEST_SITE / "site_config.json").write_text(json.dumps(config))
	with pytest.raises(SetupError, match=f"slot {test_slot()} would share its database"):
		ensure_database(TEST_SITE, str(tmp_path), RootCredentials.from_env())
	assert json.loads((tmp_path / TEST_SITE / "site_config.json").read_text()) == config  # left as it was


def test_a_thread_holds_its_own_site_context():
	seen = {}

	def worker():
		seen["before"] = getattr(frappe.local, "site", None)
		frappe.init("test_site")
		seen["site"] = frappe.local.site
		frappe.destroy()

	thread = threading.Thread(target=worker)
	thread.start()
	thread.join()

	assert seen == {"before": None, "site": "test_site"}
	assert frappe.local.site == "test_site"


def test_throw_logs_a_message_and_raises_the_given_exception():
	frappe.clear_messages()
	with pytest.raises(frappe.DuplicateEntryError) as info:
		frappe.throw(frappe._("Already there: {0}").format("x"), frappe.DuplicateEntryError, title="Dup")

	message = frappe.message_log[-1]
	assert str(info.value) == "Already there: x"
	assert message.title == "Dup"
	assert message.indicator == "red"
	assert message.raise_exception == 1
	assert getattr(info.value, "__frappe_exc_id") == message["__frappe_exc_id"]


def test_msgprint_without_exception_only_logs():
	frappe.clear_messages()
	frappe.msgprint("hello")
	assert frappe.message_log == [{"message": "hello", "title": "Message"}]


def test_exception_http_codes_and_hierarchy_match_frappe():
	assert frappe.ValidationError.http_status_code == 417
	assert frappe.PermissionError.http_status_code == 403
	assert frappe.DoesNotExistError.http_status_code == 404
	assert issubclass(frappe.DoesNotExistError, frappe.ValidationError)
	assert issubclass(frappe.DuplicateEntryError, frappe.NameError)
	assert frappe.DuplicateEntryError.http_status_code == 409
	assert frappe.AuthenticationError.http_status_code == 401
	assert issubclass(frappe.FrappeTypeError, TypeError)
	assert not hasattr(frappe.QueryDeadlockError, "http_status_code")


def test_as_json_serialises_dates_decimals_and_parse_json_reads_them_back():
	value = {
		"date": datetime.date(2024, 2, 29),
		"at": datetime.datetime(2024, 2, 29, 13, 5, 7, 123456),
		"time": datetime.time(1, 2, 3),
		"delta": datetime.timedelta(hours=26),
		"amount": Decimal("12.50"),
		"b": 1,
	}

	text = frappe.as_json(value)
	parsed = frappe.parse_json(text)

	assert list(json.loads(text)) == sorted(value)
	assert isinstance(parsed, frappe._dict)
	assert getdate(parsed.date) == value["date"]
	assert get_datetime(parsed.at) == value["at"]
	assert parsed.time == "01:02:03"
	assert parsed.delta == "1 day, 2:00:00"
	assert parsed.amount == 12.5


def test_dict_reads_missing_attributes_as_none_and_update_chains():
	d = frappe._dict(a=1)
	assert d.missing is None
	assert d.update(b=2) is d
	assert d.b == 2


def test_data_helpers_follow_frappe_semantics():
	assert cint("1.9") == 1
	assert cint(None) == 0
	assert cint("a") == 0
	assert flt("1,234.567", 2) == 1234.57
	assert flt("x") == 0.0
	assert sbool("true") is True
	assert sbool("0") is False
	assert sbool("maybe") == "maybe"
	assert add_to_date("2024-01-31", months=1) == "2024-02-29"
	assert add_to_date("2024-01-01 10:00:00", hours=2) == "2024-01-01 12:00:00.000000"
	assert time_diff_in_seconds("2024-01-01 00:01:00", "2024-01-01 00:00:00") == 60
	assert getdate("0000-00-00") is None
	with pytest.raises(frappe.ValidationError):
		getdate("not a date")


def test_callback_manager_runs_fifo_including_callbacks_added_while_running():
	calls = []
	manager = CallbackManager()
	manager.add(lambda: calls.append(1))
	manager(lambda: (calls.append(2), manager.add(lambda: calls.append(3))))
	manager.run()
	manager.run()
	assert calls == [1, 2, 3]


def test_callback_manager_reset_drops_pending_callbacks():
	calls = []
	manager = CallbackManager()
	manager.add(lambda: calls.append(1))
	manager.reset()
	manager.run()
	assert calls == []


def test_cache_keys_are_site_prefixed_and_values_pickled():
	frappe.cache.set_value("h1b-key", {"n": Decimal("1.5")})
	raw_key = f"{frappe.conf.db_name}|h1b-key".encode()
	try:
		assert frappe.cache.exists("h1b-key") == 1
		assert frappe.cache.get_value("h1b-key", expires=True) == {"n": Decimal("1.5")}
		assert frappe.cache().get(raw_key) is not None
		frappe.cache.delete_value("h1b-key")
		assert frappe.cache.get_value("h1b-key", expires=True) is None
	finally:
		frappe.cache.delete(raw_key)


def test_cache_get_value_fills_a_miss_from_the_generator():
	try:
		assert frappe.cache.get_value("h1b-gen", generator=lambda: 42) == 42
		assert frappe.cache.get_value("h1b-gen", expires=True) == 42
	finally:
		frappe.cache.delete_value("h1b-gen")


def test_cache_hash_helpers_round_trip():
	try:
		frappe.cache.hset("h1b-hash", "k", [1, 2])
		frappe.local.cache = {}
		assert frappe.cache.hget("h1b-hash", "k") == [1, 2]
		assert frappe.cache.hgetall("h1b-hash") == {b"k": [1, 2]}
		frappe.cache.hdel("h1b-hash", "k")
		assert frappe.cache.hget("h1b-hash", "k") is None
	finally:
		frappe.cache.delete_value("h1b-hash")


def test_cache_lock_excludes_a_second_holder():
	lock = frappe.cache.lock("h1b-lock", timeout=5)
	assert lock.acquire(blocking=False)
	try:
		assert not frappe.cache.lock("h1b-lock", timeout=5).acquire(blocking=False)
	finally:
		lock.release()
	assert frappe.cache.lock("h1b-lock", timeout=5).acquire(blocking=False)
	frappe.cache.delete("h1b-lock")


def test_hooks_merge_frappe_then_dartwing():
	assert frappe.get_hooks("app_name") == ["frappe", "dartwing"]
	assert "dartwing.install.after_install" in frappe.get_hooks("after_install")
	assert frappe.get_hooks("no_such_hook") == []
	assert frappe.get_hooks("no_such_hook", default=None) is None


def test_get_newargs_drops_unknown_kwargs_and_ignore_permissions():
	def fn(a, b=None):
		return a, b

	assert frappe.call(fn, a=1, b=2, c=3, ignore_permissions=True) == (1, 2)


def test_whitelist_registers_methods_and_http_methods():
	@frappe.whitelist(methods=["POST"])
	def only_post(x: int) -> int:
		return x

	@frappe.whitelist(allow_guest=True)
	def for_guests() -> str:
		return "ok"

	assert only_post in frappe.whitelisted
	assert frappe.allowed_http_methods_for_whitelisted_func[only_post] == ["POST"]
	assert for_guests in frappe.guest_methods
	assert only_post not in frappe.guest_methods
	frappe.is_whitelisted(only_post)

	with pytest.raises(frappe.PermissionError):
		frappe.is_whitelisted(test_whitelist_registers_methods_and_http_methods)


def test_logger_writes_to_the_site_log_file():
	logger = frappe.logger("h1b.test")
	logger.info("hello from h1b")
	for handler in logger.handlers:
		handler.flush()
	with open(os.path.join(frappe.local.site_path, "logs", "h1b.test.log")) as f:
		assert "hello from h1b" in f.read()


def test_generate_hash_length_and_randomness():
	assert len(frappe.generate_hash()) == 56
	assert len(frappe.generate_hash(length=15)) == 15
	assert frappe.generate_hash() != frappe.generate_hash()


def test_sendmail_needs_an_outgoing_account_as_frappe_does(monkeypatch):
	"""Frappe's ``EmailAccount.find_outgoing``: no account (benchless has no Email Account rows, no
	``mail_server`` in the site config, emails not muted) raises and queues nothing."""

	def queued() -> int:
		return frappe.db.count("Email Queue", {"reference_name": "bench-sendmail-probe"})

	def send() -> None:
		frappe.sendmail(
			recipients=["a@example.test"], subject="s", message="m", reference_name="bench-sendmail-probe"
		)

	monkeypatch.delitem(frappe.local.conf, "mail_server", raising=False)
	monkeypatch.setitem(frappe.local.conf, "mute_emails", 0)
	monkeypatch.setattr(frappe.flags, "mute_emails", False)
	try:
		with pytest.raises(frappe.OutgoingEmailError):
			send()
		assert queued() == 0
		monkeypatch.setitem(frappe.local.conf, "mail_server", "smtp.invalid")
		send()
		assert queued() == 1
	finally:
		frappe.db.rollback()
