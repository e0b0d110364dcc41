"""Jinja globals for web pages that load built bundles.

Mirrors ``frappe/utils/jinja_globals.py`` (Frappe 15): ``include_script("x.bundle.js")`` and
``include_style("x.bundle.css")`` resolve a bundle's name through ``frappe.utils.get_assets_json()`` to
its hashed path (any other path, or a name missing from the manifest, is used as given) and return the
``<script>`` / ``<link>`` tag. ``preload`` is accepted for the same signature; benchless sends no preload
headers. Right-to-left styles (``rtl_`` keys) are not built here.
"""

from frappe.website.utils import abs_url


def include_script(path: str, preload: bool = True) -> str:
	path = bundled_asset(path)
	return f'<script type="text/javascript" src="{path}"></script>'


def include_style(path: str, rtl: bool | None = None, preload: bool = True) -> str:
	path = bundled_asset(path)
	return f'<link type="text/css" rel="stylesheet" href="{path}">'


def bundled_asset(path: str, rtl: bool | None = None) -> str:
	from frappe.utils import get_assets_json

	if ".bundle." in path and not path.startswith("/assets"):
		path = get_assets_json().get(path) or path
	return abs_url(path)
