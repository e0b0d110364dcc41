"""User: mirrors ``frappe/core/doctype/user/user.py`` (Frappe 15), reduced to what benchless serves.

Contract:
- name = email (Administrator and Guest are named by their first name, flagged ``is_admin``/``is_guest``);
- ``new_password`` is never stored in tabUser: on save it becomes the login password hash in ``__Auth``;
- ``api_secret`` is a Password field (Fernet-encrypted in ``__Auth`` by the document model);
- ``generate_keys(user)`` is whitelisted, POST only, System Manager only, and returns ``{"api_secret"}``.
"""

import frappe
from frappe import _
from frappe.model.document import Document

STANDARD_USERS = ("Guest", "Administrator")


class User(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.core.doctype.has_role.has_role import HasRole
		from frappe.types import DF

		api_key: DF.Data | None
		api_secret: DF.Password | None
		email: DF.Data
		enabled: DF.Check
		first_name: DF.Data
		full_name: DF.Data | None
		last_name: DF.Data | None
		new_password: DF.Password | None
		roles: DF.Table[HasRole]
		user_type: DF.Literal["System User", "Website User"]
	# end: auto-generated types

	def autoname(self) -> None:
		"""Email is the name, except for the two standard users."""
		if self.get("is_admin") or self.get("is_guest"):
			self.name = self.first_name
		else:
			self.email = self.email.strip().lower()
			self.name = self.email

	def validate(self) -> None:
		# keep the clear-text password out of the row; it is hashed into __Auth after save
		self._new_password = self.new_password
		self.new_password = ""
		self.validate_email()
		self.set_full_name()
		self.remove_duplicate_roles()
		self.validate_standard_user_roles()

	def on_update(self) -> None:
		if self._new_password:
			from frappe.utils.password import update_password

			update_password(self.name, self._new_password)
			self._new_password = None
		frappe.clear_cache(user=self.name)

	def on_trash(self) -> None:
		if self.name in STANDARD_USERS:
			frappe.throw(_("User {0} cannot be deleted").format(self.name), frappe.PermissionError)
		from frappe.utils.password import delete_all_passwords_for

		delete_all_passwords_for("User", self.name)

	def validate_email(self) -> None:
		from frappe.utils import validate_email_address

		self.email = (self.email or "").strip()
		if self.name not in STANDARD_USERS:
			validate_email_address(self.email, throw=True)

	def set_full_name(self) -> None:
		self.full_name = " ".join(filter(None, [self.first_name, self.last_name]))

	def remove_duplicate_roles(self) -> None:
		seen: set[str] = set()
		for row in list(self.get("roles") or []):
			if row.role in seen:
				self.remove(row)
			seen.add(row.role)

	def validate_standard_user_roles(self) -> None:
		"""Guest holds only Guest; nobody else may be given the Guest role explicitly."""
		if self.name == "Guest":
			self.set("roles", [r for r in self.get("roles") or [] if r.role == "Guest"])

	def get_roles(self) -> list[str]:
		return [row.role for row in self.get("roles") or []]

	def add_roles(self, *roles: str) -> None:
		"""Append missing roles and save (as Frappe's User.add_roles)."""
		current = set(self.get_roles())
		for role in roles:
			if role not in current:
				self.append("roles", {"role": role})
		self.save()


@frappe.whitelist(methods=["POST"])
def generate_keys(user: str) -> dict:
	"""Issue a new api_secret (and an api_key if the user has none); returns only the secret."""
	frappe.only_for("System Manager")
	user_details = frappe.get_doc("User", user)
	api_secret = frappe.generate_hash(length=15)
	if not user_details.api_key:
		user_details.api_key = frappe.generate_hash(length=15)
	user_details.api_secret = api_secret
	user_details.save()
	return {"api_secret": api_secret}
