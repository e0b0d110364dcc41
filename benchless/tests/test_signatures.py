"""Every API the stand-in implements takes the parameters Frappe 15.44.2 takes.

``fixtures/frappe15_signatures.json`` holds each API's signature as Frappe's source spells it (the
``apis`` of the project's shared ``frappe15/signatures.json``). For every recorded dotted name the
stand-in resolves, the parameters must match: names, kinds, order and defaults. A recorded default is
evaluated in the stand-in function's own module (``DefaultOrderBy``, ``ValidationError``,
``24 * 60 * 60``), so a renamed constant or a changed value fails. Annotations are not compared: they
document, they do not change what a caller may pass.
"""

import ast
import importlib
import inspect
import json
import os
from typing import Any

import pytest

SIGNATURES = os.path.join(os.path.dirname(__file__), "fixtures", "frappe15_signatures.json")


def _recorded_apis() -> dict[str, str]:
	with open(SIGNATURES) as f:
		return json.load(f)["signatures"]


def _resolve(dotted: str) -> Any:
	"""The stand-in's object for ``frappe.a.b.C.f``, or None when the stand-in does not implement it."""
	parts = dotted.split(".")
	for split in range(len(parts), 0, -1):
		try:
			obj = importlib.import_module(".".join(parts[:split]))
		except ImportError:
			continue
		for attr in parts[split:]:
			obj = getattr(obj, attr, None)
			if obj is None:
				return None
		return obj
	return None


def _recorded_parameters(signature: str) -> list[tuple[str, str, str | None]]:
	"""(name, kind, default source) for each parameter of ``(a, b=1, *args, c, **kw)``."""
	args = ast.parse(f"def f{signature}: pass").body[0].args
	positional = [*args.posonlyargs, *args.args]
	defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
	params = []
	for arg, default in zip(positional, defaults, strict=True):
		kind = "POSITIONAL_ONLY" if arg in args.posonlyargs else "POSITIONAL_OR_KEYWORD"
		params.append((arg.arg, kind, default))
	if args.vararg:
		params.append((args.vararg.arg, "VAR_POSITIONAL", None))
	params += [(a.arg, "KEYWORD_ONLY", d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
	if args.kwarg:
		params.append((args.kwarg.arg, "VAR_KEYWORD", None))
	return [(name, kind, ast.unparse(default) if default else None) for name, kind, default in params]


def _same_default(recorded: str | None, actual: Any, namespace: dict) -> bool:
	if recorded is None or actual is inspect.Parameter.empty:
		return recorded is None and actual is inspect.Parameter.empty
	if recorded.startswith("lambda"):
		# a lambda is never equal to another; both must give the same answer
		return callable(actual) and actual() == eval(recorded, dict(namespace))()
	try:
		expected = eval(recorded, dict(namespace))
	except NameError:
		return False
	return expected is actual or expected == actual


def _differences(dotted: str, signature: str, obj: Any) -> list[str]:
	function = inspect.unwrap(obj.__init__ if inspect.isclass(obj) else obj)
	namespace = getattr(function, "__globals__", {})
	actual = list(inspect.signature(function).parameters.values())
	recorded = _recorded_parameters(signature)
	# bound methods and classmethods lose self/cls on one side only
	if actual and actual[0].name in ("self", "cls") and recorded and recorded[0][0] not in ("self", "cls"):
		actual = actual[1:]
	elif recorded and recorded[0][0] in ("self", "cls") and not (actual and actual[0].name == recorded[0][0]):
		recorded = recorded[1:]
	problems = []
	if [(p.name, p.kind.name) for p in actual] != [(name, kind) for name, kind, _ in recorded]:
		problems.append(f"parameters {inspect.signature(function)} != Frappe's {signature}")
	for param, (name, _kind, default) in zip(actual, recorded, strict=False):
		if param.name == name and not _same_default(default, param.default, namespace):
			problems.append(f"default of {name}: {param.default!r} != Frappe's {default}")
	return problems


RECORDED = _recorded_apis()
IMPLEMENTED = {name: sig for name, sig in RECORDED.items() if _resolve(name) is not None}


def test_the_record_is_read_and_most_of_it_is_implemented():
	assert len(IMPLEMENTED) > 200, f"only {len(IMPLEMENTED)} of {len(RECORDED)} recorded APIs resolved"


@pytest.mark.parametrize("dotted", sorted(IMPLEMENTED))
def test_signature_equals_frappe_15(dotted):
	assert _differences(dotted, IMPLEMENTED[dotted], _resolve(dotted)) == []
