"""Data layer on real MariaDB: transactions, queries, naming, documents, permissions, schema sync.

Uses the fixture app ``benchless/tests/fixtures/bl_testapp`` (BL Parent / BL Child / BL Named / BL Series).
"""

import json
import os
import sys
import threading

import frappe
from frappe.tests.utils import FrappeTestCase, patch_hooks

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))

from bl_testapp.bl_test.doctype.bl_parent import bl_parent
from bl_testapp.testing import ensure_synced, ensure_user

READER = "bl-reader@example.com"
OWNER_WRITER = "bl-owner@example.com"


def setUpModule():
	ensure_synced()
	ensure_user(READER, ["BL Reader"])
	ensure_user(OWNER_WRITER, ["BL Owner Writer"])


def new_parent(**fields) -> "frappe.model.document.Document":
	return frappe.get_doc({"doctype": "BL Parent", "title": "t", **fields})


class TestTransactions(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()
		frappe.db.delete("BL Named", {"title": ["like", "tx-%"]})
		frappe.db.commit()

	def test_after_commit_callbacks_run_only_after_commit_in_order(self):
		calls = []
		frappe.db.before_commit.add(lambda: calls.append("before"))
		frappe.db.after_commit.add(lambda: calls.append(("after", self._committed("tx-commit"))))
		frappe.get_doc({"doctype": "BL Named", "title": "tx-commit"}).insert()
		self.assertEqual(calls, [])
		frappe.db.commit()
		self.assertEqual(calls, ["before", ("after", True)])

	def test_rollback_discards_rows_and_commit_callbacks(self):
		calls = []
		frappe.db.after_commit.add(lambda: calls.append("after_commit"))
		frappe.db.after_rollback.add(lambda: calls.append("after_rollback"))
		frappe.get_doc({"doctype": "BL Named", "title": "tx-rollback"}).insert()
		frappe.db.rollback()
		self.assertIsNone(frappe.db.exists("BL Named", "tx-rollback"))
		frappe.db.commit()
		self.assertEqual(calls, ["after_rollback"])

	def test_savepoint_rolls_back_only_the_inner_work(self):
		frappe.get_doc({"doctype": "BL Named", "title": "tx-outer"}).insert()
		frappe.db.savepoint("sp_inner")
		frappe.get_doc({"doctype": "BL Named", "title": "tx-inner"}).insert()
		frappe.db.rollback(save_point="sp_inner")
		self.assertTrue(frappe.db.exists("BL Named", "tx-outer"))
		self.assertIsNone(frappe.db.exists("BL Named", "tx-inner"))

	def test_uncommitted_rows_are_invisible_to_another_connection(self):
		frappe.get_doc({"doctype": "BL Named", "title": "tx-hidden"}).insert()
		with self.secondary_connection():
			self.assertIsNone(frappe.db.exists("BL Named", "tx-hidden"))
		frappe.db.commit()
		with self.secondary_connection():
			frappe.db.rollback()  # new snapshot
			self.assertEqual(frappe.db.exists("BL Named", "tx-hidden"), "tx-hidden")

	def test_ddl_after_writes_is_refused_as_implicit_commit(self):
		frappe.get_doc({"doctype": "BL Named", "title": "tx-ddl"}).insert()
		with self.assertRaises(frappe.ImplicitCommitError):
			frappe.db.sql("create table if not exists `tabBL Nothing` (x int)")

	def test_row_locks_time_out_and_skip_locked_skips(self):
		frappe.get_doc({"doctype": "BL Named", "title": "tx-locked"}).insert()
		frappe.get_doc({"doctype": "BL Named", "title": "tx-free"}).insert()
		frappe.db.commit()
		frappe.db.get_value("BL Named", "tx-locked", "name", for_update=True)
		with self.secondary_connection():
			frappe.db.rollback()
			unlocked = frappe.db.get_values(
				"BL Named", {"title": ["like", "tx-%"]}, "name", for_update=True, skip_locked=True, pluck=True
			)
			self.assertEqual(unlocked, ["tx-free"])
			frappe.db.rollback()
			frappe.db.sql("set session innodb_lock_wait_timeout = 1")
			with self.assertRaises(frappe.QueryTimeoutError):
				frappe.db.get_value("BL Named", "tx-locked", "name", for_update=True)
			frappe.db.rollback()
		self.assertTrue(frappe.db.is_timedout(frappe.db.OperationalError(1205, "Lock wait timeout")))

	def _committed(self, name: str) -> bool:
		with self.secondary_connection():
			frappe.db.rollback()
			return bool(frappe.db.exists("BL Named", name))


class TestQueries(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.delete("BL Parent")
		for i, (status, amount) in enumerate([("Open", 10), ("Open", 20), ("Closed", 30), ("Closed", None)]):
			# amount None takes the field default (1.5), as a new Frappe document does
			new_parent(title=f"q{i}", status=status, counter=i, amount=amount, code=f"c{i}").insert()

	def test_dict_filters_and_operators(self):
		get = lambda filters: sorted(frappe.get_all("BL Parent", filters=filters, pluck="title"))  # noqa: E731
		self.assertEqual(get({"status": "Open"}), ["q0", "q1"])
		self.assertEqual(get({"counter": [">", 1]}), ["q2", "q3"])
		self.assertEqual(get({"counter": ["<=", 1]}), ["q0", "q1"])
		self.assertEqual(get({"counter": ["between", [1, 2]]}), ["q1", "q2"])
		self.assertEqual(get({"title": ["like", "q%"], "status": ["!=", "Open"]}), ["q2", "q3"])
		self.assertEqual(get({"title": ["in", ["q0", "q3", "zz"]]}), ["q0", "q3"])
		self.assertEqual(get({"title": ["not in", "q0, q1"]}), ["q2", "q3"])
		self.assertEqual(get({"ref": ["is", "not set"]}), ["q0", "q1", "q2", "q3"])
		self.assertEqual(get({"ref": ["is", "set"]}), [])
		self.assertEqual(get({"title": ["not like", "%1"]}), ["q0", "q2", "q3"])

	def test_list_filters_or_filters_and_values_are_parameters(self):
		rows = frappe.get_all(
			"BL Parent",
			filters=[["BL Parent", "status", "=", "Open"], ["counter", ">=", 1]],
			pluck="title",
		)
		self.assertEqual(rows, ["q1"])
		either = frappe.get_all("BL Parent", or_filters={"counter": 0, "title": "q3"}, pluck="title")
		self.assertEqual(sorted(either), ["q0", "q3"])
		hostile = "x' or '1'='1"
		self.assertEqual(frappe.get_all("BL Parent", filters={"title": hostile}), [])

	def test_aggregates_group_by_order_and_limit(self):
		totals = frappe.get_all(
			"BL Parent",
			fields=["status", "count(*) as n", "sum(amount) as total", "max(counter) as top"],
			group_by="status",
			order_by="status asc",
		)
		self.assertEqual(
			[(r.status, r.n, r.total, r.top) for r in totals], [("Closed", 2, 31.5, 3), ("Open", 2, 30.0, 1)]
		)
		page = frappe.get_all("BL Parent", fields="title, counter", order_by="counter desc", limit=2, start=1)
		self.assertEqual([r.counter for r in page], [2, 1])
		self.assertEqual(frappe.db.count("BL Parent", {"status": "Open"}), 2)
		self.assertEqual(frappe.get_all("BL Parent", fields=["avg(counter) as a"])[0].a, 1.5)

	def test_get_value_shapes_and_for_update(self):
		name = frappe.db.get_value("BL Parent", {"title": "q2"})
		self.assertEqual(frappe.db.get_value("BL Parent", name, "counter"), 2)
		self.assertEqual(frappe.db.get_value("BL Parent", name, ["title", "counter"]), ("q2", 2))
		row = frappe.db.get_value("BL Parent", name, ["title", "creation"], as_dict=True, for_update=True)
		self.assertEqual(row.title, "q2")
		self.assertEqual(type(row.creation).__name__, "datetime")
		self.assertIsNone(frappe.db.get_value("BL Parent", "missing-name", "title"))
		self.assertEqual(
			frappe.db.exists("BL Parent", {"title": "q1"}), frappe.db.get_value("BL Parent", {"title": "q1"})
		)
		frappe.db.set_value("BL Parent", name, "counter", 42)
		self.assertEqual(frappe.db.get_value("BL Parent", name, "counter"), 42)

	def test_invalid_fields_and_functions_are_refused(self):
		for fields in (["title; drop table x"], ["sleep(1)"], ["(select 1) as x"], ["nosuchfield"]):
			with self.assertRaises(frappe.DataError, msg=fields):
				frappe.get_all("BL Parent", fields=fields)
		with self.assertRaises(frappe.DataError):
			frappe.get_all("BL Parent", filters={"title": ["union", "x"]})
		with self.assertRaises(frappe.DataError):
			frappe.get_all("BL Parent", order_by="title; drop table x")


class TestNaming(FrappeTestCase):
	def test_hash_field_and_format_names(self):
		doc = new_parent().insert()
		self.assertEqual(len(doc.name), 10)
		title = f"Acme {frappe.generate_hash(length=6)}"
		self.assertEqual(frappe.get_doc({"doctype": "BL Named", "title": f" {title} "}).insert().name, title)
		first = frappe.get_doc({"doctype": "BL Series"}).insert().name
		second = frappe.get_doc({"doctype": "BL Series"}).insert().name
		year = frappe.utils.now_datetime().strftime("%Y")
		self.assertRegex(first, rf"^BLS-{year}-\d{{5}}$")
		self.assertEqual(int(second[-5:]), int(first[-5:]) + 1)

	def test_field_name_is_required(self):
		with self.assertRaises(frappe.ValidationError):
			frappe.get_doc({"doctype": "BL Named", "title": ""}).insert(ignore_mandatory=True)

	def test_series_numbers_stay_distinct_across_concurrent_transactions(self):
		from frappe.model.naming import make_autoname

		frappe.db.commit()
		mine = make_autoname("BLC-.#####")  # holds the tabSeries row lock until commit
		theirs = []

		def other_transaction():
			frappe.init(self.TEST_SITE, sites_path=".")
			frappe.connect()
			try:
				theirs.append(make_autoname("BLC-.#####"))
				frappe.db.commit()
			finally:
				frappe.destroy()

		thread = threading.Thread(target=other_transaction)
		thread.start()
		frappe.db.commit()
		thread.join(30)
		self.assertEqual(len(theirs), 1)
		self.assertEqual(int(theirs[0][-5:]), int(mine[-5:]) + 1)


class TestDocuments(FrappeTestCase):
	def setUp(self):
		bl_parent.CALLS.clear()

	def test_insert_runs_frappe_lifecycle_order_and_doc_events(self):
		events = []
		frappe.local.doc_events_hooks = {
			"BL Parent": {"after_insert": ["tests.handler"], "validate": ["tests.handler"]}
		}
		original = frappe.get_attr
		frappe.get_attr = (
			lambda path: (lambda doc, method: events.append(method))
			if path == "tests.handler"
			else original(path)
		)
		try:
			new_parent().insert()
		finally:
			frappe.get_attr = original
			frappe.local.doc_events_hooks = None
		self.assertEqual(
			bl_parent.CALLS,
			["before_insert", "before_naming", "autoname", "before_validate", "validate", "before_save",
			 "after_insert", "on_update", "on_change"],
		)  # fmt: skip
		self.assertEqual(events, ["validate", "after_insert"])

	def test_save_runs_save_lifecycle_and_tracks_changes(self):
		doc = new_parent(counter=1).insert()
		bl_parent.CALLS.clear()
		doc.counter = 2
		doc.save()
		self.assertEqual(
			bl_parent.CALLS, ["before_validate", "validate", "before_save", "on_update", "on_change"]
		)
		self.assertTrue(doc.has_value_changed("counter"))
		self.assertFalse(doc.has_value_changed("title"))
		self.assertEqual(doc.get_doc_before_save().counter, 1)

	def test_defaults_types_json_and_reload(self):
		doc = new_parent(payload={"b": 1, "a": [1, 2]}, happened_at="2025-01-02 03:04:05.123456").insert()
		doc.reload()
		self.assertEqual(doc.status, "Open")  # Select default: first option
		self.assertEqual(doc.amount, 1.5)
		self.assertEqual(doc.counter, 0)
		self.assertEqual(json.loads(doc.payload), {"a": [1, 2], "b": 1})
		self.assertEqual(doc.happened_at.microsecond, 123456)
		self.assertEqual(doc.as_dict()["doctype"], "BL Parent")
		self.assertEqual(json.loads(doc.as_json())["title"], "t")

	def test_documents_pickle_with_their_children(self):
		import pickle

		doc = new_parent(items=[{"label": "a"}], payload="").insert()
		copy = pickle.loads(pickle.dumps(frappe.get_doc("BL Parent", doc.name)))
		self.assertEqual((copy.name, copy.items[0].label, copy.payload), (doc.name, "a", None))

	def test_mandatory_select_and_link_errors(self):
		with self.assertRaises(frappe.MandatoryError):
			frappe.get_doc({"doctype": "BL Parent"}).insert()
		with self.assertRaises(frappe.ValidationError) as ctx:
			new_parent(status="Bogus").insert()
		self.assertNotIsInstance(ctx.exception, frappe.MandatoryError)
		with self.assertRaises(frappe.LinkValidationError):
			new_parent(ref="no such named").insert()
		new_parent(ref="no such named").insert(ignore_links=True)
		with self.assertRaises(frappe.MandatoryError):
			new_parent(items=[{"qty": 1}]).insert()
		frappe.clear_messages()

	def test_validate_exception_writes_nothing(self):
		with self.assertRaises(frappe.ValidationError):
			new_parent(title="refuse").insert()
		self.assertEqual(frappe.db.count("BL Parent", {"title": "refuse"}), 0)

	def test_duplicate_primary_key_and_unique_index(self):
		frappe.get_doc({"doctype": "BL Named", "title": "dup"}).insert()
		self.assertEqual(frappe.get_doc("BL Named", {"title": "dup"}).name, "dup")
		with self.assertRaises(frappe.DuplicateEntryError):
			frappe.get_doc({"doctype": "BL Named", "title": "dup"}).insert()
		new_parent(code="same").insert()
		with self.assertRaises(frappe.UniqueValidationError):
			new_parent(code="same").insert()
		# empty unique values are stored as NULL, so many rows may leave them empty
		new_parent(code="").insert()
		new_parent(code="").insert()
		frappe.clear_messages()

	def test_timestamp_mismatch_on_concurrent_saves(self):
		doc = new_parent().insert()
		first, second = frappe.get_doc("BL Parent", doc.name), frappe.get_doc("BL Parent", doc.name)
		first.counter = 1
		first.save()
		second.counter = 2
		with self.assertRaises(frappe.TimestampMismatchError):
			second.save()
		frappe.clear_messages()
		self.assertEqual(frappe.db.get_value("BL Parent", doc.name, "counter"), 1)

	def test_db_set_keeps_the_object_saveable(self):
		doc = new_parent().insert()
		bl_parent.CALLS.clear()
		doc.db_set("counter", 7)
		self.assertEqual(bl_parent.CALLS, ["on_change"])
		self.assertEqual(frappe.db.get_value("BL Parent", doc.name, "counter"), 7)
		doc.title = "after db_set"
		doc.save()
		self.assertEqual(frappe.db.get_value("BL Parent", doc.name, "title"), "after db_set")

	def test_child_rows_insert_update_delete(self):
		doc = new_parent(items=[{"label": "a", "qty": 1}, {"label": "b", "qty": 2}]).insert()
		rows = frappe.get_all(
			"BL Child",
			filters={"parent": doc.name},
			fields=["label", "idx", "parenttype", "parentfield"],
			order_by="idx asc",
		)
		self.assertEqual(
			[(r.label, r.idx, r.parenttype, r.parentfield) for r in rows],
			[("a", 1, "BL Parent", "items"), ("b", 2, "BL Parent", "items")],
		)
		doc = frappe.get_doc("BL Parent", doc.name)
		doc.items[0].qty = 10
		doc.items.pop(1)
		doc.append("items", {"label": "c"})
		doc.save()
		reloaded = frappe.get_doc("BL Parent", doc.name)
		self.assertEqual([(r.label, r.qty, r.idx) for r in reloaded.items], [("a", 10, 1), ("c", 0, 2)])
		bl_parent.CALLS.clear()
		reloaded.delete()
		self.assertEqual(bl_parent.CALLS, ["on_trash", "on_change", "after_delete"])
		self.assertEqual(frappe.db.count("BL Child", {"parent": doc.name}), 0)
		with self.assertRaises(frappe.DoesNotExistError):
			frappe.get_doc("BL Parent", doc.name)
		frappe.clear_messages()

	def test_delete_refuses_linked_documents(self):
		target = frappe.get_doc({"doctype": "BL Named", "title": "linked"}).insert()
		new_parent(ref="linked").insert()
		with self.assertRaises(frappe.LinkExistsError):
			target.delete()
		frappe.clear_messages()

	def test_passwords_are_stored_encrypted_and_masked(self):
		doc = new_parent(secret="hunter2").insert()
		self.assertEqual(frappe.db.get_value("BL Parent", doc.name, "secret"), "*******")
		stored = frappe.db.sql(
			"select password from `__Auth` where doctype='BL Parent' and name=%s", doc.name
		)
		self.assertNotEqual(stored[0][0], "hunter2")
		self.assertEqual(frappe.get_doc("BL Parent", doc.name).get_password("secret"), "hunter2")


class TestPermissions(FrappeTestCase):
	def test_role_permissions_from_the_doctype_json(self):
		self.assertTrue(frappe.has_permission("BL Parent", "write"))  # Administrator
		with self.set_user(READER):
			self.assertTrue(frappe.has_permission("BL Parent", "read"))
			self.assertFalse(frappe.has_permission("BL Parent", "write"))
			with self.assertRaises(frappe.PermissionError):
				new_parent().insert()
			frappe.clear_messages()

	def test_if_owner_rights_apply_only_to_own_documents(self):
		theirs = new_parent(title="admins").insert()
		with self.set_user(OWNER_WRITER):
			mine = new_parent(title="mine").insert()
			self.assertTrue(frappe.has_permission("BL Parent", "write", doc=mine))
			self.assertFalse(frappe.has_permission("BL Parent", "write", doc=theirs.name))
			listed = frappe.get_list("BL Parent", pluck="name", limit_page_length=0)
		self.assertIn(mine.name, listed)
		self.assertNotIn(theirs.name, listed)

	def test_permission_query_conditions_apply_to_get_list_not_get_all(self):
		new_parent(title="visible", status="Open").insert()
		new_parent(title="hidden", status="Closed").insert()
		seen_users = []

		def conditions(user, doctype=None):
			seen_users.append((user, doctype))
			return "`tabBL Parent`.`status` = 'Open'"

		frappe.conditions_hook_for_test = conditions
		try:
			with patch_hooks(
				{"permission_query_conditions": {"BL Parent": ["frappe.conditions_hook_for_test"]}}
			):
				with self.set_user(READER):
					listed = frappe.get_list("BL Parent", pluck="title", limit_page_length=0)
					everything = frappe.get_all("BL Parent", pluck="title")
		finally:
			del frappe.conditions_hook_for_test
		self.assertIn("visible", listed)
		self.assertNotIn("hidden", listed)
		self.assertIn("hidden", everything)
		self.assertEqual(seen_users, [(READER, "BL Parent")])

	def test_get_list_without_read_permission_raises(self):
		with self.set_user(READER), self.assertRaises(frappe.PermissionError):
			frappe.get_list("BL Named")

	def test_has_permission_hook_can_deny_but_not_grant(self):
		doc = new_parent(title="guarded").insert()
		calls = []

		def hook(doc, ptype, user):
			calls.append((doc.name, ptype, user))
			return doc.title != "guarded"

		frappe.has_permission_hook_for_test = hook
		try:
			with patch_hooks({"has_permission": {"BL Parent": ["frappe.has_permission_hook_for_test"]}}):
				with self.set_user(READER):
					self.assertFalse(frappe.has_permission("BL Parent", "read", doc=doc))
					self.assertFalse(frappe.has_permission("BL Parent", "write", doc=new_parent(title="x")))
					with self.assertRaises(frappe.PermissionError):
						frappe.get_doc("BL Parent", doc.name).check_permission("read")
				self.assertTrue(frappe.has_permission("BL Parent", "read", doc=doc))  # Administrator
		finally:
			del frappe.has_permission_hook_for_test
		self.assertEqual(calls[0], (doc.name, "read", READER))


class TestSchemaSync(FrappeTestCase):
	def test_on_doctype_update_and_search_index_create_indexes(self):
		indexes = {row[2] for row in frappe.db.sql("show index from `tabBL Parent`")}
		self.assertIn("status_counter_index", indexes)
		self.assertIn("happened_at_index", indexes)
		self.assertIn("code", indexes)  # unique
		self.assertIn("parent", {row[2] for row in frappe.db.sql("show index from `tabBL Child`")})
		columns = {r[0]: r[1] for r in frappe.db.sql("show columns from `tabBL Parent`")}
		self.assertEqual(columns["counter"], "int(11)")
		self.assertEqual(columns["amount"], "decimal(21,9)")
		self.assertEqual(columns["happened_at"], "datetime(6)")
		self.assertEqual(columns["title"], "varchar(140)")
		self.assertNotIn("items", columns)

	def test_resync_after_json_change_adds_column_and_index(self):
		import tempfile

		from frappe.model.meta import clear_meta_cache, register_app
		from frappe.model.sync import sync_doctype

		root = tempfile.mkdtemp()
		app_dir = os.path.join(root, "bl_resync_app")
		doctype_dir = os.path.join(app_dir, "bl_resync", "doctype", "bl_resync_doc")
		os.makedirs(doctype_dir)
		for path in (
			app_dir,
			os.path.dirname(doctype_dir),
			os.path.dirname(os.path.dirname(doctype_dir)),
			doctype_dir,
		):
			open(os.path.join(path, "__init__.py"), "w").close()
		with open(os.path.join(app_dir, "modules.txt"), "w") as f:
			f.write("BL Resync\n")
		definition = {
			"name": "BL Resync Doc",
			"module": "BL Resync",
			"doctype": "DocType",
			"autoname": "hash",
			"fields": [{"fieldname": "a", "fieldtype": "Data"}],
			"permissions": [],
		}
		json_path = os.path.join(doctype_dir, "bl_resync_doc.json")
		sys.path.insert(0, root)
		try:
			with open(json_path, "w") as f:
				json.dump(definition, f)
			register_app("bl_resync_app")
			frappe.db.sql_ddl("drop table if exists `tabBL Resync Doc`")
			sync_doctype("BL Resync Doc")
			self.assertNotIn("b", frappe.db.get_table_columns("BL Resync Doc"))
			definition["fields"].append({"fieldname": "b", "fieldtype": "Int", "search_index": 1})
			definition["fields"][0]["fieldtype"] = "Small Text"
			with open(json_path, "w") as f:
				json.dump(definition, f)
			clear_meta_cache()
			sync_doctype("BL Resync Doc")
			columns = {r[0]: r[1] for r in frappe.db.sql("show columns from `tabBL Resync Doc`")}
			self.assertEqual(columns["b"], "int(11)")
			self.assertEqual(columns["a"], "text")
			indexes = {row[2]: row[4] for row in frappe.db.sql("show index from `tabBL Resync Doc`")}
			self.assertEqual(indexes.get("b_index"), "b")
			frappe.get_doc({"doctype": "BL Resync Doc", "a": "x", "b": 3}).insert()
		finally:
			frappe.db.rollback()
			frappe.db.sql_ddl("drop table if exists `tabBL Resync Doc`")
			sys.path.remove(root)
			from frappe.model import meta

			meta._extra_apps.remove("bl_resync_app")
			clear_meta_cache()
