"""Submission hashing: stable across key order, safe for dates, datetimes and Decimals. No database."""

import datetime
import decimal
import unittest

from dartwing.dartwing_core.background_jobs.hashing import canonical_json, submission_hash


class TestSubmissionHash(unittest.TestCase):
	def test_key_order_does_not_change_the_hash(self):
		self.assertEqual(
			submission_hash("t", "o", {"a": 1, "b": {"x": 1, "y": 2}}),
			submission_hash("t", "o", {"b": {"y": 2, "x": 1}, "a": 1}),
		)

	def test_dates_datetimes_times_and_decimals_hash_without_error_and_by_value(self):
		params = {
			"d": datetime.date(2026, 1, 2),
			"dt": datetime.datetime(2026, 1, 2, 3, 4, 5, 6),
			"t": datetime.time(1, 2),
			"amount": decimal.Decimal("1.10"),
		}
		same = {**params, "amount": decimal.Decimal("1.1")}
		self.assertEqual(submission_hash("t", "o", params), submission_hash("t", "o", same))
		self.assertNotEqual(
			submission_hash("t", "o", params),
			submission_hash("t", "o", {**params, "amount": decimal.Decimal("1.2")}),
		)

	def test_a_date_and_its_iso_string_are_different_parameters(self):
		self.assertNotEqual(
			submission_hash("t", "o", {"d": datetime.date(2026, 1, 2)}),
			submission_hash("t", "o", {"d": "2026-01-02"}),
		)

	def test_job_type_and_organization_are_part_of_the_identity(self):
		base = submission_hash("t", "o", {})
		self.assertNotEqual(base, submission_hash("t2", "o", {}))
		self.assertNotEqual(base, submission_hash("t", "o2", {}))


class TestCanonicalJson(unittest.TestCase):
	def test_unserializable_values_are_refused_with_a_clear_type_error(self):
		with self.assertRaisesRegex(TypeError, "object"):
			canonical_json({"x": object()})


class TestCanonicalPlain(unittest.TestCase):
	def test_plain_json_is_flagged_and_equals_sorted_compact_dumps(self):
		import datetime
		import json

		from dartwing.dartwing_core.background_jobs.hashing import canonical_json, canonical_json_plain

		value = {"b": [1, 2.5, None, True], "a": {"é": "ü", "z": 'x"y'}}
		text, plain = canonical_json_plain(value)
		self.assertTrue(plain)
		self.assertEqual(text, canonical_json(value))
		self.assertEqual(text, json.dumps(value, sort_keys=True, separators=(",", ":")))
		dated = {"at": datetime.date(2026, 1, 2)}
		text, plain = canonical_json_plain(dated)
		self.assertFalse(plain)
		self.assertEqual(text, canonical_json(dated))
