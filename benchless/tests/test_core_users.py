"""Users, roles, passwords, API keys, Error Log and commit callbacks against the real test_site database."""

import frappe
from frappe.core.doctype.user.user import generate_keys
from frappe.tests.utils import FrappeTestCase
from frappe.utils.password import check_password, get_decrypted_password, update_password

USER = "h1b-user@example.com"


def make_user(email: str = USER, roles: tuple[str, ...] = ()) -> "frappe.model.document.Document":
	if frappe.db.exists("User", email):
		frappe.delete_doc("User", email, force=True, ignore_permissions=True)
	return frappe.get_doc(
		{
			"doctype": "User",
			"email": email,
			"first_name": "H1b",
			"last_name": "Tester",
			"roles": [{"role": role} for role in roles],
		}
	).insert(ignore_permissions=True)


class TestRoles(FrappeTestCase):
	def test_standard_users_and_roles_exist(self):
		for role in ("Administrator", "System Manager", "Guest", "All"):
			self.assertTrue(frappe.db.exists("Role", role), role)
		self.assertTrue(frappe.db.exists("User", "Administrator"))
		self.assertTrue(frappe.db.exists("User", "Guest"))

	def test_user_is_named_by_email_and_gets_a_full_name(self):
		user = make_user()
		self.assertEqual(user.name, USER)
		self.assertEqual(user.full_name, "H1b Tester")

	def test_roles_of_a_user_are_its_rows_plus_all_and_guest(self):
		make_user(roles=("System Manager",))
		roles = frappe.get_roles(USER)
		self.assertIn("System Manager", roles)
		self.assertIn("All", roles)
		self.assertIn("Guest", roles)
		self.assertNotIn("Administrator", roles)

	def test_administrator_has_every_role_and_guest_only_guest(self):
		self.assertSequenceSubset(
			frappe.get_roles("Administrator"), ["Administrator", "System Manager", "All"]
		)
		self.assertEqual(frappe.get_roles("Guest"), ["Guest"])

	def test_adding_a_role_is_seen_by_get_roles(self):
		user = make_user()
		self.assertNotIn("System Manager", frappe.get_roles(USER))
		user.add_roles("System Manager")
		self.assertIn("System Manager", frappe.get_roles(USER))

	def test_only_for_denies_a_user_without_the_role(self):
		make_user()
		in_test = frappe.flags.in_test
		frappe.flags.in_test = False  # only_for is a no-op in tests, as in Frappe
		try:
			with self.set_user(USER):
				with self.assertRaises(frappe.PermissionError):
					frappe.only_for("System Manager")
				frappe.only_for(["System Manager", "All"])
		finally:
			frappe.flags.in_test = in_test

	def test_set_user_context_restores_the_previous_user(self):
		make_user()
		with self.set_user(USER):
			self.assertEqual(frappe.session.user, USER)
		self.assertEqual(frappe.session.user, "Administrator")


class TestPasswords(FrappeTestCase):
	def test_new_password_becomes_a_login_hash_not_a_column_value(self):
		user = make_user()
		user.new_password = "s3cret-Pass"
		user.save(ignore_permissions=True)

		self.assertEqual(check_password(USER, "s3cret-Pass"), USER)
		with self.assertRaises(frappe.AuthenticationError):
			check_password(USER, "wrong")
		self.assertFalse(frappe.db.get_value("User", USER, "new_password"))

	def test_update_password_replaces_the_previous_one(self):
		make_user()
		update_password(USER, "first")
		update_password(USER, "second")
		self.assertEqual(check_password(USER, "second"), USER)
		with self.assertRaises(frappe.AuthenticationError):
			check_password(USER, "first")

	def test_generate_keys_returns_a_secret_readable_only_decrypted(self):
		make_user()
		result = generate_keys(USER)

		api_key = frappe.db.get_value("User", USER, "api_key")
		self.assertEqual(set(result), {"api_secret"})
		self.assertEqual(len(result["api_secret"]), 15)
		self.assertEqual(len(api_key), 15)
		self.assertEqual(get_decrypted_password("User", USER, "api_secret"), result["api_secret"])
		self.assertNotEqual(frappe.db.get_value("User", USER, "api_secret"), result["api_secret"])

	def test_generate_keys_keeps_the_key_and_rotates_the_secret(self):
		make_user()
		first = generate_keys(USER)
		api_key = frappe.db.get_value("User", USER, "api_key")
		second = generate_keys(USER)
		self.assertEqual(frappe.db.get_value("User", USER, "api_key"), api_key)
		self.assertNotEqual(first["api_secret"], second["api_secret"])

	def test_generate_keys_is_post_only(self):
		self.assertEqual(frappe.allowed_http_methods_for_whitelisted_func[generate_keys], ["POST"])

	def test_missing_secret_raises_authentication_error(self):
		make_user()
		with self.assertRaises(frappe.AuthenticationError):
			get_decrypted_password("User", USER, "api_secret")
		self.assertIsNone(get_decrypted_password("User", USER, "api_secret", raise_exception=False))


class TestErrorLog(FrappeTestCase):
	def test_log_error_records_the_current_traceback(self):
		try:
			raise ZeroDivisionError("h1b boom")
		except ZeroDivisionError:
			log = frappe.log_error(
				title="h1b failure", reference_doctype="User", reference_name="Administrator"
			)

		row = frappe.db.get_value(
			"Error Log", log.name, ["method", "error", "reference_doctype", "reference_name"], as_dict=True
		)
		self.assertEqual(row.method, "h1b failure")
		self.assertIn("ZeroDivisionError: h1b boom", row.error)
		self.assertEqual((row.reference_doctype, row.reference_name), ("User", "Administrator"))

	def test_log_error_with_a_message_stores_the_message(self):
		log = frappe.log_error("h1b title", "h1b message")
		self.assertEqual(frappe.db.get_value("Error Log", log.name, "error"), "h1b message")


class TestCommitCallbacks(FrappeTestCase):
	def test_after_commit_runs_after_commit_and_not_after_rollback(self):
		calls = []
		frappe.db.after_commit.add(lambda: calls.append("committed"))
		frappe.db.rollback()
		self.assertEqual(calls, [])
		frappe.db.commit()
		self.assertEqual(calls, [])

		frappe.db.after_commit.add(lambda: calls.append("committed"))
		frappe.db.commit()
		self.assertEqual(calls, ["committed"])

	def test_after_rollback_runs_on_rollback(self):
		calls = []
		frappe.db.after_rollback(lambda: calls.append("rolled back"))
		frappe.db.rollback()
		self.assertEqual(calls, ["rolled back"])
