"""Passwords and encrypted secrets: mirrors ``frappe/utils/password.py`` (Frappe 15).

Contract: everything lives in table ``__Auth`` (doctype, name, fieldname, password, encrypted):
- login passwords (``fieldname='password'``, encrypted=0) are passlib pbkdf2_sha256 hashes, written by
  ``update_password`` and verified by ``check_password`` (AuthenticationError on mismatch);
- Password fields (``api_secret``...) are Fernet-encrypted (encrypted=1) with site_config
  ``encryption_key``; ``get_decrypted_password`` raises AuthenticationError (401) when missing.
"""

from cryptography.fernet import Fernet, InvalidToken
from passlib.context import CryptContext

import frappe
from frappe import _

# Frappe lists argon2 too; pbkdf2_sha256 needs no native extension and is what it writes by default
passlibctx = CryptContext(schemes=["pbkdf2_sha256"])


def get_decrypted_password(
	doctype: str, name: str, fieldname: str = "password", raise_exception: bool = True
) -> str | None:
	"""The decrypted value of a Password field; AuthenticationError when absent (unless told not to)."""
	result = frappe.db.sql(
		"""select `password` from `__Auth`
		where doctype=%s and name=%s and fieldname=%s and encrypted=1""",
		(doctype, name, fieldname),
	)
	if result and result[0][0]:
		return decrypt(result[0][0], key=f"{doctype}.{name}.{fieldname}")
	if raise_exception:
		frappe.throw(
			_("Password not found for {0} {1} {2}").format(doctype, name, fieldname),
			frappe.AuthenticationError,
		)
	return None


def set_encrypted_password(doctype: str, name: str, pwd: str, fieldname: str = "password") -> None:
	"""Upsert the Fernet-encrypted ``pwd`` for (doctype, name, fieldname)."""
	frappe.db.sql(
		"""insert into `__Auth` (doctype, name, fieldname, `password`, encrypted)
		values (%s, %s, %s, %s, 1)
		on duplicate key update `password`=values(`password`), encrypted=1""",
		(doctype, name, fieldname, encrypt(pwd)),
	)


def remove_encrypted_password(doctype: str, name: str, fieldname: str = "password") -> None:
	frappe.db.sql(
		"delete from `__Auth` where doctype=%s and name=%s and fieldname=%s", (doctype, name, fieldname)
	)


def check_password(
	user: str, pwd: str, doctype: str = "User", fieldname: str = "password", delete_tracker_cache: bool = True
) -> str:
	"""The user's name when ``pwd`` matches the stored hash; AuthenticationError otherwise."""
	auth = frappe.db.sql(
		"""select `name`, `password` from `__Auth`
		where doctype=%s and name=%s and fieldname=%s and encrypted=0""",
		(doctype, user, fieldname),
	)
	if not auth or not passlibctx.verify(pwd, auth[0][1]):
		raise frappe.AuthenticationError(_("Incorrect User or Password"))
	return auth[0][0]


def update_password(
	user: str, pwd: str, doctype: str = "User", fieldname: str = "password", logout_all_sessions: bool = False
) -> None:
	"""Store a fresh passlib hash of ``pwd`` as the user's login password."""
	hashed = passlibctx.hash(pwd)
	frappe.db.sql(
		"""insert into `__Auth` (doctype, name, fieldname, `password`, encrypted)
		values (%s, %s, %s, %s, 0)
		on duplicate key update `password`=values(`password`), encrypted=0""",
		(doctype, user, fieldname, hashed),
	)


def delete_all_passwords_for(doctype: str, name: str) -> None:
	frappe.db.sql("delete from `__Auth` where doctype=%s and name=%s", (doctype, name))


def encrypt(txt: str, encryption_key: str | None = None) -> str:
	cipher_suite = Fernet(frappe.safe_encode(encryption_key or get_encryption_key()))
	return cipher_suite.encrypt(frappe.safe_encode(txt)).decode()


def decrypt(txt: str, encryption_key: str | None = None, key: str | None = None) -> str:
	"""Fernet-decrypt; a wrong site key raises ValidationError naming the field, as Frappe does."""
	try:
		cipher_suite = Fernet(frappe.safe_encode(encryption_key or get_encryption_key()))
		return cipher_suite.decrypt(frappe.safe_encode(txt)).decode()
	except InvalidToken:
		frappe.throw(
			_("Failed to decrypt key {0}").format(key or "")
			+ ". "
			+ _("Encryption key is invalid! Please check site_config.json"),
			title=_("Encryption key is invalid"),
		)


def get_encryption_key() -> str:
	"""conf.encryption_key, generated and saved to site_config.json on first use."""
	if not frappe.local.conf.encryption_key:
		from frappe.installer import update_site_config

		key = Fernet.generate_key().decode()
		update_site_config("encryption_key", key)
		frappe.local.conf.encryption_key = key
	return frappe.local.conf.encryption_key
