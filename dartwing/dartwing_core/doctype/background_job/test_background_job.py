# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs import config
from dartwing.dartwing_core.doctype.background_job import background_job
from dartwing.install import create_demo_job_types
from dartwing.tests.utils import make_org, make_user


def index_columns(doctype: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
	"""Index name → (unique, columns in order), read from the live table."""
	indexes: dict[str, tuple[bool, list[str]]] = {}
	for row in frappe.db.sql(f"show index from `tab{doctype}`", as_dict=True):
		unique, columns = indexes.setdefault(row.Key_name, (not row.Non_unique, []))
		columns.append(row.Column_name)
	return {name: (unique, tuple(columns)) for name, (unique, columns) in indexes.items()}


def new_job(organization: str, **values):
	"""An unsaved job whose insert the controller takes as the engine's (what engine.submit_job flags)."""
	doc = frappe.get_doc(
		{"doctype": "Background Job", "job_type": "demo_noop", "organization": organization, **values}
	)
	doc.flags.via_engine = True
	return doc


class TestBackgroundJob(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		create_demo_job_types()
		cls.org = make_org("Job Test Org")

	def test_a_job_cannot_be_created_as_a_document(self):
		# a REST POST /api/resource/Background Job or an import inserts the document: refused, nothing written
		before = frappe.db.count("Background Job", {"organization": self.org})
		ops = make_user("t-job-doc-ops@example.test", ["System Manager"])
		# Administrator passes every permission check and meets the controller's refusal; a System Manager
		# has no create right on the doctype at all (Frappe 15 raises that one with an empty message)
		for user, refusal in (("Administrator", "submitted"), (ops, "")):
			frappe.set_user(user)
			try:
				doc = frappe.get_doc(
					{"doctype": "Background Job", "job_type": "demo_noop", "organization": self.org}
				)
				with self.assertRaisesRegex(frappe.PermissionError, refusal):
					doc.insert()
			finally:
				frappe.set_user("Administrator")
		self.assertEqual(frappe.db.count("Background Job", {"organization": self.org}), before)
		self.assertFalse(frappe.has_permission("Background Job", "create", user=ops))

	def test_parameters_object_is_accepted(self):
		job = new_job(self.org, parameters={"seconds": 1}).insert()
		self.assertEqual(frappe.parse_json(job.parameters), {"seconds": 1})

	def test_parameters_must_be_a_json_object(self):
		with self.assertRaisesRegex(frappe.ValidationError, "JSON object"):
			new_job(self.org, parameters="[1, 2]").insert()
		with self.assertRaisesRegex(frappe.ValidationError, "valid JSON"):
			new_job(self.org, parameters="{not json").insert()

	def test_parameters_over_the_size_limit_are_refused(self):
		big = {"blob": "x" * (config.MAX_PARAMETERS_BYTES + 1)}
		with self.assertRaisesRegex(frappe.ValidationError, "limit is"):
			new_job(self.org, parameters=big).insert()

	def test_job_needs_an_existing_job_type_and_organization(self):
		with self.assertRaises(frappe.LinkValidationError):
			new_job("No Such Org").insert()

	def test_saving_a_job_writes_the_edit_but_never_the_status(self):
		job = new_job(self.org).insert()
		frappe.db.set_value("Background Job", job.name, "status", "Running")  # as the engine's transition
		job.reload()
		job.progress_message = "edited"
		job.save()
		row = frappe.db.get_value("Background Job", job.name, ["status", "progress_message"], as_dict=True)
		self.assertEqual((row.status, row.progress_message), ("Running", "edited"))

	def test_dependencies_are_stored_as_child_rows(self):
		parent = new_job(self.org).insert()
		child = new_job(self.org, depends_on=[{"depends_on": parent.name}]).insert()
		rows = frappe.get_all(
			"Background Job Dependency", filters={"parent": child.name}, fields=["depends_on", "parenttype"]
		)
		self.assertEqual([(r.depends_on, r.parenttype) for r in rows], [(parent.name, "Background Job")])

	def test_every_query_shape_has_its_index(self):
		indexes = set(index_columns("Background Job").values())
		for columns in (
			("status", "organization", "job_type", "priority", "creation"),
			("organization", "creation"),
			("job_type", "organization", "creation"),
			("status", "next_retry_at"),
			("status", "heartbeat_at"),
			("status", "completed_at"),
		):
			self.assertIn((False, columns), indexes)
		self.assertIn((True, ("dedup_key",)), indexes)
		self.assertFalse(set(index_columns("Background Job")) & set(background_job.SUPERSEDED_INDEXES))

	def test_the_waiting_count_reads_the_index_alone(self):
		plan = frappe.db.sql(
			"""EXPLAIN SELECT COUNT(*) FROM `tabBackground Job`
			WHERE status IN ('Pending', 'Queued') AND organization = 'o' AND job_type = 't'""",
			as_dict=True,
		)
		self.assertIn("Using index", plan[0].Extra or "")

	def test_dedup_key_is_unique(self):
		new_job(self.org, dedup_key="same-key").insert()
		with self.assertRaises(frappe.UniqueValidationError):
			new_job(self.org, dedup_key="same-key").insert()

	def test_dependency_index_exists(self):
		self.assertIn((False, ("depends_on",)), set(index_columns("Background Job Dependency").values()))
