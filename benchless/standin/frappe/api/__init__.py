"""REST API dispatch for ``/api/*`` requests.

Mirrors ``frappe/api/__init__.py`` (Frappe 15): a werkzeug ``Map`` mounts the v1 rules under ``/api`` and
``/api/v1`` (and the v2 RPC rules under ``/api/v2``); ``handle(request)`` matches the path, calls the
endpoint and returns ``build_response("json")``. A path that matches no rule raises
``frappe.DoesNotExistError`` (404). Only the RPC routes (``/api/method/<cmd>``) exist in benchless; the
document CRUD routes (``/api/resource``) are not used by dartwing and are not implemented.
"""

from enum import Enum

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Submount
from werkzeug.wrappers import Request, Response

import frappe
from frappe.api import v1, v2


class ApiVersion(str, Enum):
	V1 = "v1"
	V2 = "v2"


API_URL_MAP = Map(
	[
		Submount("/api", v1.url_rules),
		Submount("/api/v1", v1.url_rules),
		Submount("/api/v2", v2.url_rules),
	],
	strict_slashes=False,
	merge_slashes=False,
)


def handle(request: Request) -> Response:
	"""Route an ``/api/`` request to its endpoint and build the JSON response."""
	from frappe.utils.response import build_response

	try:
		endpoint, arguments = API_URL_MAP.bind_to_environ(request.environ).match()
	except (NotFound, MethodNotAllowed):
		raise frappe.DoesNotExistError

	data = endpoint(**arguments)
	if isinstance(data, Response):
		return data
	if data is not None:
		frappe.local.response["data"] = data
	return build_response("json")


def get_api_version() -> ApiVersion | None:
	"""The API version of the current request: V2 under ``/api/v2``, else V1 (None outside a request)."""
	request = getattr(frappe.local, "request", None)
	if not request:
		return None
	if request.path.startswith("/api/v2"):
		return ApiVersion.V2
	return ApiVersion.V1
