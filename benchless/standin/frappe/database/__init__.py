"""Database entry point: mirrors ``frappe/database/__init__.py`` (Frappe 15).

Contract: ``get_db(host, user, password, port, cur_db_name)`` returns an unconnected MariaDB ``Database``
(the connection opens lazily on the first query). Only MariaDB is supported by benchless.
"""

import frappe


def get_db(host=None, user=None, password=None, port=None, cur_db_name=None):
	"""A MariaDBDatabase for the given credentials (defaults from ``frappe.conf``)."""
	from frappe.database.mariadb.database import MariaDBDatabase

	conf = frappe.local.conf if getattr(frappe.local, "conf", None) else frappe._dict()
	return MariaDBDatabase(
		host=host or conf.get("db_host") or "127.0.0.1",
		user=user or conf.get("db_name"),
		password=password if password is not None else conf.get("db_password"),
		port=port or conf.get("db_port") or 3306,
		cur_db_name=cur_db_name or conf.get("db_name"),
	)
