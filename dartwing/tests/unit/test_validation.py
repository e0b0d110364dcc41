"""The argument checks every endpoint shares (background_jobs/validation.py): each hostile value is refused
with InvalidInput (never OverflowError, RecursionError or TypeError), each good one is returned as used."""

import datetime
import decimal
import unittest

from dartwing.dartwing_core.background_jobs.validation import (
	INT64_MAX,
	MAX_JSON_DEPTH,
	InvalidInput,
	bounded_datetime,
	bounded_int,
	json_object,
	text,
	text_list,
)

HOSTILE_NUMBERS = [
	float("inf"),
	float("-inf"),
	float("nan"),
	1e308,
	-1e308,
	2**63,
	-(2**64),
	10**400,
	"Infinity",
	"NaN",
	"1e308",
	"1e3",
	"9" * 5000,
	"0x10",
	"",
	" ",
	True,
	False,
	[],
	[5],
	{},
	{"a": 1},
	decimal.Decimal("NaN"),
	decimal.Decimal("1e999999"),
	5.5,
	"5.5",
]


def nested(depth: int) -> dict:
	value: dict = {}
	for _ in range(depth - 1):
		value = {"a": value}
	return value


class TestBoundedInt(unittest.TestCase):
	def test_hostile_numbers_are_refused_with_invalid_input_only(self):
		for value in HOSTILE_NUMBERS:
			with self.subTest(value=repr(value)[:40]):
				if value == "":
					self.assertEqual(bounded_int("limit", value, lo=1, hi=500, default=20), 20)
					continue
				with self.assertRaisesRegex(InvalidInput, "^limit must be"):
					bounded_int("limit", value, lo=1, hi=500, default=20)

	def test_integers_integral_floats_and_integer_text_inside_the_bounds_are_accepted(self):
		for value, expected in [(1, 1), (500, 500), (7.0, 7), (" 12 ", 12), ("+3", 3), ("20.00", 20)]:
			with self.subTest(value=value):
				self.assertEqual(bounded_int("limit", value, lo=1, hi=500), expected)

	def test_bounds_are_inclusive_and_the_message_names_them(self):
		for value in (0, 501, -1, INT64_MAX):
			with (
				self.subTest(value=value),
				self.assertRaisesRegex(InvalidInput, "limit must be between 1 and 500"),
			):
				bounded_int("limit", value, lo=1, hi=500)

	def test_missing_value_gives_the_default_or_is_required(self):
		self.assertEqual(bounded_int("start", None, lo=0, hi=10, default=0), 0)
		with self.assertRaisesRegex(InvalidInput, "start is required"):
			bounded_int("start", None, lo=0, hi=10)

	def test_the_reason_carries_a_translatable_template(self):
		with self.assertRaises(InvalidInput) as caught:
			bounded_int("hours", 0, lo=1, hi=2160)
		self.assertEqual(caught.exception.template, "{0} must be between {1} and {2}")
		self.assertEqual(caught.exception.values, ("hours", 1, 2160))


class TestBoundedDatetime(unittest.TestCase):
	def test_absurd_or_unparsable_dates_are_refused(self):
		for value in [
			"0001-01-02",
			"0100-01-01",
			"10000-01-01",
			"2026-13-45",
			"yesterday",
			"9" * 80,
			"\x00",
			5,
			[],
			{},
			1e308,
			True,
		]:
			with self.subTest(value=repr(value)[:40]), self.assertRaises(InvalidInput):
				bounded_datetime("from_date", value)

	def test_years_1900_to_9999_are_accepted_and_timezones_dropped(self):
		self.assertEqual(bounded_datetime("d", "1900-01-01"), datetime.datetime(1900, 1, 1))
		self.assertEqual(
			bounded_datetime("d", "9999-12-31 23:59:59"), datetime.datetime(9999, 12, 31, 23, 59, 59)
		)
		self.assertEqual(
			bounded_datetime("d", "2026-03-01T10:00:00+05:00"), datetime.datetime(2026, 3, 1, 10)
		)
		self.assertEqual(bounded_datetime("d", datetime.date(2026, 3, 1)), datetime.datetime(2026, 3, 1))
		self.assertIsNone(bounded_datetime("d", None))
		self.assertIsNone(bounded_datetime("d", ""))

	def test_a_parser_that_raises_anything_means_not_a_date(self):
		def exploding(_text):
			raise OverflowError("Python int too large to convert to C long")

		with self.assertRaisesRegex(InvalidInput, "from_date is not a valid date"):
			bounded_datetime("from_date", "99999999999999999999", parse=exploding)


class TestText(unittest.TestCase):
	def test_non_strings_long_strings_and_lone_surrogates_are_refused(self):
		for value in [5, 1.5, True, [], {}, "x" * 141, "a\ud800b"]:
			with self.subTest(value=repr(value)[:40]), self.assertRaises(InvalidInput):
				text("job_id", value)

	def test_required_text(self):
		with self.assertRaisesRegex(InvalidInput, "job_id is required"):
			text("job_id", "", required=True)
		self.assertEqual(text("job_id", "abc"), "abc")

	def test_text_lists_refuse_unhashable_and_foreign_items_before_deduplicating(self):
		for value in [[{"a": 1}], [["x"]], [None], [""], "abc", {"a": 1}, 5, ["a\udfff"]]:
			with self.subTest(value=repr(value)[:40]), self.assertRaises(InvalidInput):
				text_list("job_ids", value, max_items=3)
		self.assertEqual(text_list("job_ids", ["a", "b", "a"], max_items=2), ["a", "b"])
		with self.assertRaisesRegex(InvalidInput, "at most 2"):
			text_list("job_ids", ["a", "b", "c"], max_items=2)


class TestJsonObject(unittest.TestCase):
	def test_nesting_deeper_than_the_limit_is_refused_at_any_depth(self):
		json_object("parameters", nested(MAX_JSON_DEPTH))
		for depth in (MAX_JSON_DEPTH + 1, 5000):
			with self.subTest(depth=depth), self.assertRaisesRegex(InvalidInput, "nest at most"):
				json_object("parameters", nested(depth))

	def test_non_finite_numbers_huge_integers_and_odd_keys_are_refused(self):
		for value in [
			{"x": float("nan")},
			{"x": [float("inf")]},
			{"x": decimal.Decimal("Infinity")},
			{"x": 2**63},
			{"x": {"y": -(2**63) - 1}},
			{1: "a"},
			{"x": "\ud800"},
		]:
			with self.subTest(value=repr(value)[:40]), self.assertRaises(InvalidInput):
				json_object("parameters", value)

	def test_dates_decimals_and_64_bit_integers_are_accepted(self):
		json_object(
			"parameters",
			{
				"d": datetime.date(2026, 1, 1),
				"m": decimal.Decimal("1.10"),
				"n": -(2**63),
				"b": True,
				"s": None,
			},
		)

	def test_a_non_object_is_refused(self):
		for value in ([], "{}", None, 5):
			with self.subTest(value=value), self.assertRaisesRegex(InvalidInput, "must be a JSON object"):
				json_object("parameters", value)
