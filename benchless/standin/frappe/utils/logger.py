"""``frappe.logger``: mirrors ``frappe/utils/logger.py`` (Frappe 15).

Contract: ``get_logger(module)`` returns a cached ``logging.Logger`` writing to ``<bench>/logs/<module>.log``
and, when a site is initialised, also to ``<site>/logs/<module>.log`` (rotating files).
"""

import logging
import os
from logging.handlers import RotatingFileHandler
from typing import Any

import frappe

_loggers: dict[str, logging.Logger] = {}


def _site_name(allow_site: bool | str) -> str | None:
	if isinstance(allow_site, str):
		return allow_site
	if allow_site:
		return getattr(frappe.local, "site", None) or None
	return None


def _handler(path: str, max_size: int, file_count: int) -> RotatingFileHandler:
	os.makedirs(os.path.dirname(path), exist_ok=True)
	handler = RotatingFileHandler(path, maxBytes=max_size, backupCount=file_count)
	handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
	return handler


def get_logger(
	module: str | None = None,
	with_more_info: bool = False,
	allow_site: bool | str = True,
	filter: Any = None,
	max_size: int = 100_000,
	file_count: int = 20,
) -> logging.Logger:
	"""A logger per (module, site); files under sites/logs and sites/<site>/logs."""
	module = module or "frappe"
	site = _site_name(allow_site)
	logger_name = f"{module}-{site}" if site else module
	if logger_name in _loggers:
		return _loggers[logger_name]

	logger = logging.getLogger(logger_name)
	logger.setLevel(
		logging.DEBUG if getattr(frappe.local, "conf", None) and frappe.conf.developer_mode else logging.INFO
	)
	logger.propagate = False
	sites_path = getattr(frappe.local, "sites_path", None) or "."
	logger.addHandler(_handler(os.path.join(sites_path, "logs", f"{module}.log"), max_size, file_count))
	if site and os.path.isdir(os.path.join(sites_path, site)):
		site_log = os.path.join(sites_path, site, "logs", f"{module}.log")
		logger.addHandler(_handler(site_log, max_size, file_count))
	if filter:
		logger.addFilter(filter)
	_loggers[logger_name] = logger
	return logger
