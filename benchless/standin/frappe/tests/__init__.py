"""Frappe's test package (``frappe/tests``): test classes and helpers shared by app tests."""
