# Copyright (c) 2025, Dartwing and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from dartwing.dartwing_core.background_jobs.retry import RetryPolicy


def new_job_type(name: str = "test_job_type", **values):
	return frappe.get_doc(
		{"doctype": "Job Type", "job_type_name": name, "handler": "dartwing.demo.demo_noop", **values}
	)


class TestJobType(FrappeTestCase):
	def assertRefused(self, message: str, **values):
		with self.assertRaises(frappe.ValidationError) as caught:
			new_job_type(**values).insert()
		self.assertIn(message, str(caught.exception))

	def test_empty_numbers_take_the_config_defaults(self):
		job_type = new_job_type("defaults_job_type").insert()
		self.assertEqual(
			(job_type.timeout_seconds, job_type.max_retries, job_type.rate_limit_window_seconds),
			(300, 5, 60),
		)
		self.assertEqual((job_type.default_priority, job_type.unknown_error_policy), ("Normal", "Retry"))
		self.assertEqual(RetryPolicy.from_job_type(job_type), RetryPolicy())

	def test_explicit_zero_retries_is_kept(self):
		job_type = new_job_type("zero_retries", max_retries=0, dedup_window_seconds=0).insert()
		self.assertEqual((job_type.max_retries, job_type.dedup_window_seconds), (0, 0))

	def test_handler_must_be_a_dotted_path(self):
		self.assertRefused("dotted path", handler="demo_noop")

	def test_handler_must_import(self):
		self.assertRefused("cannot be imported", handler="dartwing.demo.no_such_handler")
		self.assertRefused("cannot be imported", handler="dartwing.no_such_module.handler")

	def test_handler_must_be_callable(self):
		self.assertRefused("is not a function", handler="dartwing.install.DEMO_PASSWORD")

	def test_timeout_bounds(self):
		self.assertRefused("between 1 and 86400", timeout_seconds=-5)
		self.assertRefused("between 1 and 86400", timeout_seconds=86401)

	def test_retry_bounds(self):
		self.assertRefused("between 0 and 25", max_retries=26)

	def test_snooze_cap_bounds_default_and_zero(self):
		self.assertRefused("Max Snoozes must be between 0 and 1000", max_snoozes=1001)
		self.assertRefused("Max Snoozes must be between 0 and 1000", max_snoozes=-1)
		self.assertEqual(new_job_type("default_snoozes").insert().max_snoozes, 20)
		self.assertEqual(new_job_type("no_snoozes", max_snoozes=0).insert().max_snoozes, 0)

	def test_rate_limit_window_over_24_hours_is_refused(self):
		self.assertRefused("Rate limit window cannot exceed 24 hours", rate_limit_window_seconds=86401)
		self.assertRefused("at least 1 second", rate_limit_window_seconds=-1)

	def test_dedup_window_bounds(self):
		self.assertRefused("between 0 and 86400", dedup_window_seconds=90000)

	def test_caps_must_be_at_least_one(self):
		self.assertRefused("at least 1", max_running_per_org=-1)
		self.assertRefused("at least 1", max_queued_per_org=-3)

	def test_global_cap_and_start_rate_are_bounded(self):
		self.assertRefused(
			"Max Running (all organizations) must be between 0 and 100000", max_running_global=-1
		)
		self.assertRefused("Max Running (all organizations) must be between", max_running_global=100_001)
		self.assertRefused("Start Rate Limit must be between 0 and 100000", rate_limit_starts=-5)
		self.assertRefused(
			"Start Rate Window (seconds) must be between 1 and 86400", rate_limit_starts_window_seconds=0
		)
		self.assertRefused(
			"Start Rate Window (seconds) must be between", rate_limit_starts_window_seconds=86_401
		)
		self.assertFalse(frappe.db.exists("Job Type", "test_job_type"))

	def test_no_global_cap_and_no_start_rate_by_default(self):
		job_type = new_job_type("limits_defaults").insert()
		self.assertEqual(
			(
				job_type.max_running_global,
				job_type.rate_limit_starts,
				job_type.rate_limit_starts_window_seconds,
			),
			(0, 0, 60),
		)
		self.assertEqual(job_type.paused, 0)

	def test_backoff_rules(self):
		self.assertRefused("factor must be at least 1", backoff_factor=0.5)
		self.assertRefused("jitter must be between 0 and 1", backoff_jitter=1.5)
		self.assertRefused(
			"cannot be less than the backoff base", backoff_base_seconds=100, backoff_max_seconds=10
		)
		self.assertRefused("greater than 0", backoff_base_seconds=-1)

	def test_required_permission_must_name_a_doctype(self):
		self.assertRefused("No Such DocType", required_permission="No Such DocType")
		job_type = new_job_type("needs_org_perm", required_permission="Organization").insert()
		self.assertEqual(job_type.required_permission, "Organization")

	def test_queue_must_be_a_standard_queue(self):
		self.assertRefused("Queue must be", queue="fast")
		self.assertEqual(new_job_type("long_queue", queue="long").insert().queue, "long")

	def test_policy_is_read_from_the_row(self):
		job_type = new_job_type(
			"policy_row",
			max_retries=2,
			backoff_base_seconds=5,
			backoff_max_seconds=50,
			unknown_error_policy="Fail",
		).insert()
		policy = RetryPolicy.from_job_type(job_type)
		self.assertEqual(
			(policy.max_retries, policy.base_seconds, policy.unknown_is_transient), (2, 5, False)
		)
