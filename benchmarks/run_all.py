"""Run every benchmark: ``python -m benchmarks.run_all [name ...]`` (what ``make bench`` runs).

Contract: imports each ``benchmarks/<name>_bench.py`` (all of them, sorted, or only the names given) and calls
its ``main()``; each writes ``benchmarks/results/<name>.json`` itself. One benchmark failing is reported and
the others still run; the exit code is 1 if any failed.
"""

import compileall
import glob
import importlib
import os
import sys
import time
import traceback

from benchmarks import BENCH_DIR, QUICK


def discover() -> list[str]:
	paths = sorted(glob.glob(os.path.join(BENCH_DIR, "*_bench.py")))
	return [os.path.basename(path)[: -len("_bench.py")] for path in paths]


def compile_bytecode() -> None:
	"""Write .pyc files for the app and the stand-in, as a deployed bench has them.

	RQ forks a work horse per job, and a horse imports whatever its job needs that the worker had not
	imported. With PYTHONDONTWRITEBYTECODE set (as on these machines) nothing is ever cached, so every
	horse would compile those modules from source again; that cost is the environment's, not the
	engine's or RQ's, and would weigh on whichever side imports more. Explicit compilation is unaffected
	by the variable; imports then read the cached bytecode.
	"""
	root = os.path.dirname(BENCH_DIR)
	for package in ("dartwing", "benchless"):
		compileall.compile_dir(os.path.join(root, package), quiet=1)


def run(names: list[str]) -> int:
	compile_bytecode()
	failed = []
	for name in names:
		started = time.monotonic()
		print(f"\n#### {name}_bench{' (BENCH_QUICK)' if QUICK else ''}", flush=True)
		try:
			importlib.import_module(f"benchmarks.{name}_bench").main()
		except Exception:
			traceback.print_exc()
			failed.append(name)
		print(f"#### {name}_bench took {time.monotonic() - started:.1f} s", flush=True)
	if failed:
		print(f"\nFailed: {', '.join(failed)}")
	return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
	names = argv if argv is not None else sys.argv[1:]
	known = discover()
	unknown = [name for name in names if name not in known]
	if unknown:
		print(f"Unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
		return 2
	return run(names or known)


if __name__ == "__main__":
	sys.exit(main())
