"""The app's bench commands (none), and the engine's modules imported into every bench process.

Contract: Frappe's ``bench`` imports each installed app's ``commands`` module before it runs any command
(``frappe.utils.bench_helper.get_app_commands``), ``bench worker`` included. RQ forks a work horse from
that worker for every job: a module the worker imported is inherited by every horse, one it did not is
imported again by each horse and thrown away with it (measured: ~20 ms of CPU per job, half the engine's
cost in the horse; ``benchmarks/README.md``). So this module imports what a Background Job's run needs
(``executor.preload``). It must stay cheap and free of side effects beyond imports: every bench command
pays for it once.
"""

from dartwing.dartwing_core.background_jobs import executor

commands: list = []

executor.preload()
