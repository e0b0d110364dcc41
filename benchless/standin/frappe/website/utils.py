"""Website helpers: mirrors the part of ``frappe/website/utils.py`` (Frappe 15) that pages use."""


def abs_url(path: str | None) -> str | None:
	"""A site-absolute path ("/x"); full URLs and data: URLs unchanged."""
	if not path:
		return None
	if path.startswith(("http://", "https://", "data:")):
		return path
	return path if path.startswith("/") else "/" + path
