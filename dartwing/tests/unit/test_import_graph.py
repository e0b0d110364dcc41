"""The app's modules import one another without a cycle, counting imports inside functions too.

The graph is read from the source (ast), not from sys.modules, so an import that only runs on a rare
path counts as much as one at the top of a module. Consequences named by dotted path
(``state.ON_TRANSITION``) are resolved at run time and are not imports.
"""

import ast
import re
import unittest
from pathlib import Path

APP = Path(__file__).resolve().parents[2]  # the dartwing package
ROOT = APP.parent


def module_name(path: Path) -> str:
	parts = path.relative_to(ROOT).with_suffix("").parts
	return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
	path = ROOT.joinpath(*name.split("."))
	return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(tree: ast.AST, package: str) -> set[str]:
	"""The app's modules a module imports (``from pkg import mod`` names the module, not the package)."""
	found: set[str] = set()
	for node in ast.walk(tree):
		if isinstance(node, ast.Import):
			found.update(alias.name for alias in node.names)
		elif isinstance(node, ast.ImportFrom):
			base = node.module or ""
			if node.level:
				base = ".".join(
					[*package.split(".")[: len(package.split(".")) - node.level + 1], base]
				).strip(".")
			for alias in node.names:
				candidate = f"{base}.{alias.name}"
				found.add(candidate if is_module(candidate) else base)
	return {name for name in found if name.split(".")[0] == "dartwing" and is_module(name)}


def import_graph() -> dict[str, set[str]]:
	graph = {}
	for path in APP.rglob("*.py"):
		name = module_name(path)
		package = name if path.name == "__init__.py" else name.rpartition(".")[0]
		graph[name] = imported(ast.parse(path.read_text(), str(path)), package) - {name}
	return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
	"""Strongly connected components with more than one module (Tarjan)."""
	index: dict[str, int] = {}
	low: dict[str, int] = {}
	stack: list[str] = []
	on_stack: set[str] = set()
	found: list[list[str]] = []

	def visit(node: str) -> None:
		index[node] = low[node] = len(index)
		stack.append(node)
		on_stack.add(node)
		for target in graph.get(node, ()):
			if target not in index:
				visit(target)
				low[node] = min(low[node], low[target])
			elif target in on_stack:
				low[node] = min(low[node], index[target])
		if low[node] == index[node]:
			component = []
			while True:
				member = stack.pop()
				on_stack.discard(member)
				component.append(member)
				if member == node:
					break
			if len(component) > 1:
				found.append(sorted(component))

	for node in sorted(graph):
		if node not in index:
			visit(node)
	return found


class TestImportGraph(unittest.TestCase):
	def test_no_module_of_the_app_takes_part_in_an_import_cycle(self):
		graph = import_graph()
		self.assertIn("dartwing.dartwing_core.background_jobs.state", graph)
		self.assertEqual(cycles(graph), [])

	def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(self):
		source = "def later():\n\tfrom dartwing.dartwing_core.background_jobs import state\n"
		edges = imported(ast.parse(source), "dartwing.dartwing_core.background_jobs")
		self.assertEqual(edges, {"dartwing.dartwing_core.background_jobs.state"})
		graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
		self.assertEqual(cycles(graph), [["a", "b", "c"]])


PACKAGE = "dartwing.dartwing_core.background_jobs"
PLAN = ROOT / "specs" / "011-background-job-engine" / "plan.md"


def plan_module_map() -> dict[str, set[str]]:
	"""plan.md's module map: each engine module and the engine modules it says it may call."""
	rows: dict[str, set[str]] = {}
	for line in PLAN.read_text().splitlines():
		cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
		if len(cells) != 3 or not cells[0].startswith("`"):
			continue
		modules = [part.split("`")[1] for part in cells[0].split(",") if "`" in part]
		calls = {re.sub(r"\(.*?\)", "", name).strip() for name in cells[2].split(",")}
		for module in modules:
			rows[module] = {name for name in calls if is_module(f"{PACKAGE}.{name}")}
	return rows


class TestPlanModuleMap(unittest.TestCase):
	def test_plan_md_names_every_engine_module_and_exactly_what_it_imports(self):
		graph = import_graph()
		engine = {name.rpartition(".")[2] for name in graph if name.startswith(f"{PACKAGE}.")} - {"__init__"}
		documented = plan_module_map()
		self.assertEqual(set(documented), engine, "modules missing from (or extra in) plan.md's map")
		for module in sorted(engine):
			imported = {
				name.rpartition(".")[2]
				for name in graph[f"{PACKAGE}.{module}"]
				if name.startswith(f"{PACKAGE}.")
			}
			self.assertEqual(documented[module], imported, f"plan.md's 'may call' of {module}")
