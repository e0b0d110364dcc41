"""REST API dispatch for ``/api/*`` requests.

Mirrors ``frappe/api/__init__.py`` (Frappe 15): a werkzeug ``Map`` mounts the v1 rules under ``/api`` and
``/api/v1``; ``handle(request)`` matches the path, calls the endpoint and returns
``build_response("json")``. A path that matches no rule raises ``frappe.DoesNotExistError`` (404). Only
the v1 RPC routes (``/api/method/<cmd>``) exist in benchless: the document CRUD routes
(``/api/resource``) and the v2 API are not used by dartwing and are not implemented.
"""

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Submount
from werkzeug.wrappers import Request, Response

import frappe
from frappe.api import v1

API_URL_MAP = Map(
	[
		Submount("/api", v1.url_rules),
		Submount("/api/v1", v1.url_rules),
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
