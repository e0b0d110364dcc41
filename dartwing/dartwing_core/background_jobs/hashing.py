"""Canonical form and hash of a submission, for de-duplication. Pure: imports no frappe.

Two submissions are identical when job type, organization and parameters are equal as values:
key order does not matter, dates, datetimes, times and Decimals are accepted (the defect where a
date in the parameters crashed hashing cannot happen), and sets are ordered before hashing.
"""

import datetime
import decimal
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any


def _canonical_default(value: Any) -> Any:
	if isinstance(value, datetime.datetime | datetime.date | datetime.time):
		return {"__t": type(value).__name__, "v": value.isoformat()}
	if isinstance(value, datetime.timedelta):
		return {"__t": "timedelta", "v": value.total_seconds()}
	if isinstance(value, decimal.Decimal):
		# normalize() so Decimal("1.10") and Decimal("1.1") hash alike, as they compare equal
		return {"__t": "decimal", "v": str(value.normalize())}
	if isinstance(value, uuid.UUID):
		return str(value)
	if isinstance(value, set | frozenset):
		return sorted(value, key=repr)
	raise TypeError(f"Parameters of type {type(value).__name__} cannot be stored in a job")


def canonical_json(value: Any) -> str:
	"""A deterministic JSON text for ``value`` (sorted keys, no whitespace)."""
	return json.dumps(
		value, sort_keys=True, separators=(",", ":"), default=_canonical_default, allow_nan=False
	)


def canonical_json_plain(value: Any) -> tuple[str, bool]:
	"""``canonical_json(value)`` and whether no value needed the canonical tags (plain JSON only): the
	text is then exactly what ``json.dumps(value, sort_keys=True, separators=(",", ":"))`` gives, which is
	what Frappe's ``as_json(value, indent=None, separators=(",", ":"))`` stores."""
	tagged: list[bool] = []

	def default(item: Any) -> Any:
		tagged.append(True)
		return _canonical_default(item)

	text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=default, allow_nan=False)
	return text, not tagged


def submission_hash(job_type: str, organization: str, parameters: Mapping[str, Any]) -> str:
	"""sha256 hex of the canonical (job type, organization, parameters) triple."""
	return hash_canonical(job_type, organization, canonical_json(parameters))


def hash_canonical(job_type: str, organization: str, canonical_parameters: str) -> str:
	"""The same hash from parameters already in canonical form (submission computes that text once)."""
	payload = "\x00".join((job_type, organization, canonical_parameters))
	return hashlib.sha256(payload.encode("utf-8")).hexdigest()
