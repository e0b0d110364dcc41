"""Patches: mirrors ``frappe/modules/patch_handler.py`` (Frappe 15) as far as dartwing uses it.

Contract: an app's ``patches.txt`` lists dotted paths of modules with an ``execute()``; lines starting
with ``#`` are comments. With ``[pre_model_sync]`` / ``[post_model_sync]`` sections, migrate runs the
first before the doctype sync and the second after it (a file without sections is all pre_model_sync).
Each patch runs once per site: it is recorded in ``tabPatch Log`` after it ran (and committed), and a
recorded patch is skipped. Installing an app records all its patches without running them (a new site
has nothing to migrate). Patches run for installed apps, in install order; a failing patch raises and
stops migrate, so it runs again on the next migrate. ``execute:`` one-liners are not mirrored.
"""

import configparser
import os
from enum import Enum

import frappe


class PatchType(Enum):
	pre_model_sync = "pre_model_sync"
	post_model_sync = "post_model_sync"


def get_patches_from_app(app: str, patch_type: PatchType | None = None) -> list[str]:
	"""The app's patches of one section (both, in order, when patch_type is None)."""
	path = os.path.join(frappe.get_app_path(app), "patches.txt")
	if not os.path.exists(path):
		return []
	with open(path) as handle:
		text = handle.read()
	parser = configparser.ConfigParser(allow_no_value=True, delimiters=("\n",), comment_prefixes=("#",))
	parser.optionxform = str  # keep the dotted paths' case
	try:
		parser.read_string(text)
	except configparser.MissingSectionHeaderError:
		lines = [line.strip() for line in text.splitlines()]
		patches = [line for line in lines if line and not line.startswith("#")]
		return patches if patch_type in (None, PatchType.pre_model_sync) else []
	sections = [patch_type.value] if patch_type else [t.value for t in PatchType]
	return [patch for section in sections if parser.has_section(section) for patch in parser[section]]


def executed_patches() -> set[str]:
	return set(frappe.db.sql_list("select patch from `tabPatch Log`"))


def run_all(patch_type: PatchType | None = None) -> None:
	"""Run every installed app's patches of ``patch_type`` that have not run on this site yet."""
	done = executed_patches()
	for app in frappe.get_installed_apps():
		for patch in get_patches_from_app(app, patch_type):
			if patch not in done:
				run_single(patch)
				done.add(patch)


def run_single(patchmodule: str) -> None:
	if patchmodule.startswith("execute:"):
		raise NotImplementedError("benchless does not mirror execute: patches")
	frappe.flags.in_patch = True
	try:
		frappe.get_attr(f"{patchmodule.split()[0]}.execute")()
		update_patch_log(patchmodule)
		frappe.db.commit()
	finally:
		frappe.flags.in_patch = False


def update_patch_log(patchmodule: str, skipped: bool = False) -> None:
	from frappe.utils import now_datetime

	now = now_datetime()
	frappe.db.sql(
		"""insert into `tabPatch Log` (name, creation, modified, modified_by, owner, patch, skipped)
		values (%s, %s, %s, 'Administrator', 'Administrator', %s, %s)""",
		(frappe.generate_hash(length=10), now, now, patchmodule, int(skipped)),
	)


def set_all_patches_as_completed(app: str) -> None:
	"""A freshly installed app has nothing to patch: record its patches as run."""
	done = executed_patches()
	for patch in get_patches_from_app(app):
		if patch not in done:
			update_patch_log(patch)
	frappe.db.commit()
