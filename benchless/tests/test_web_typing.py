"""``frappe.utils.typing_validations``: whitelisted arguments converted or refused as Frappe 15 does."""

from typing import Literal

import frappe
import pytest
from frappe.utils.typing_validations import transform_parameter_types, validate_argument_types


def _target(
	count: int,
	ratio: float = 1.0,
	flag: bool = False,
	options: dict | None = None,
	names: list[str] | None = None,
	mode: Literal["a", "b"] = "a",
	label: str | None = None,
	**rest,
):
	return count, ratio, flag, options, names, mode, label, rest


checked = validate_argument_types(_target, apply_condition=lambda: True)


def test_strings_from_forms_are_converted_to_the_annotations():
	assert checked("3", ratio="0.5", flag="true", options={"x": 1}, names=["p", "q"], mode="b") == (
		3,
		0.5,
		True,
		{"x": 1},
		["p", "q"],
		"b",
		None,
		{},
	)


def test_a_json_string_is_not_a_dict_or_list_as_in_frappes_pydantic_lax_mode():
	with pytest.raises(frappe.FrappeTypeError):
		checked("3", options='{"x": 1}')
	with pytest.raises(frappe.FrappeTypeError):
		checked("3", names='["p"]')


def test_values_already_of_the_right_type_pass_unchanged_and_unannotated_kwargs_are_kept():
	assert checked(count=2, flag=0, label=None, extra="kept") == (
		2,
		1.0,
		0,
		None,
		None,
		"a",
		None,
		{"extra": "kept"},
	)


@pytest.mark.parametrize(
	("kwargs", "message"),
	[
		({"count": "three"}, "Argument 'count' should be of type 'int' but got 'str' instead."),
		({"count": "1.5"}, "Argument 'count' should be of type 'int' but got 'str' instead."),
		({"count": 1, "options": "[1]"}, "Argument 'options'"),
		({"count": 1, "names": "not json"}, "Argument 'names'"),
		({"count": 1, "label": 5}, "Argument 'label' should be of type 'str | None' but got 'int' instead."),
	],
)
def test_wrong_types_raise_frappe_type_error_417(kwargs, message):
	with pytest.raises(frappe.FrappeTypeError) as info:
		checked(**kwargs)
	assert message in str(info.value)
	assert info.value.http_status_code == 417


def test_validation_is_skipped_when_the_condition_is_false():
	unchecked = validate_argument_types(_target, apply_condition=lambda: False)
	assert unchecked("3")[0] == "3"


def test_transform_leaves_calls_without_arguments_alone():
	assert transform_parameter_types(_target, (), {}) == ((), {})


@pytest.mark.parametrize(
	"value",
	[
		float("inf"),
		float("-inf"),
		float("nan"),
		1e308,
		-9.3e18,
		5.5,
		"Infinity",
		"NaN",
		"inf",
		"1e3",
		"5.",
		".5",
		"1__0",
		"0x10",
		"",
		[1],
		None,
	],
)
def test_int_refuses_what_pydantics_lax_int_refuses_with_417_never_overflow(value):
	"""pydantic-core: floats must be finite, integral and within 64 bits; text a run of digits."""
	with pytest.raises(frappe.FrappeTypeError):
		checked(value)


@pytest.mark.parametrize(
	("value", "expected"),
	[
		(True, 1),
		(5.0, 5),
		(9.2e18, 9200000000000000000),
		(" 7 ", 7),
		("+5", 5),
		("5.00", 5),
		("1_000", 1000),
		(10**30, 10**30),
		(str(10**30), 10**30),
	],
)
def test_int_accepts_what_pydantics_lax_int_accepts_including_integers_of_any_size(value, expected):
	assert checked(value)[0] == expected
