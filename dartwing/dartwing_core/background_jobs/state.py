"""The one door through which a Background Job changes status, and the list of what a change causes.

Contract:
- ``transition()`` is the only code that writes ``status``. It checks the transition table
  (``transitions.py``), applies the change as a compare-and-set in SQL
  (``UPDATE … WHERE name=%s AND status=%s``), writes the Job Execution Log row and returns the
  ``Change``. A worker, a canceler and a sweeper racing on one job can never both win: the loser gets
  ``None`` and changes nothing. ``record_creation()`` is the same door for a new job's first status
  (``record_creations()`` for the jobs of a bulk submission: one multi-row log insert, one run of the
  consequences).
- It never commits: the change is part of the caller's transaction.
- What a change causes is listed once, in ``ON_TRANSITION``: the admission bookkeeping at once (it
  only ever over-counts, so a rollback is harmless), and, only if the transaction commits, the
  ``job_status_changed`` event, the dispatch follow-ups (free slots, ready dependents, jobs back to
  Pending) and the batch bookkeeping (a batch whose jobs all ended), given every change of the
  transaction at once. A rolled-back change is never announced
  and dispatches nothing. Just before COMMIT, the metrics rollup is given the transaction's changes
  (``before_commit``, in the same transaction): if it fails, the transaction is rolled back and the
  commit raises, so a change is never committed without its counts.
- The engine's row (``JobRow``) is read here only: ``load`` for one job, ``select`` for sweeps and
  dispatch, always the columns of ``ROW_COLUMNS``.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import frappe
from frappe.utils import now_datetime

from dartwing.dartwing_core.background_jobs.transitions import (
	SLOT_HOLDING,
	JobStatus,
	check_transition,
	status_tuple,
)

# The (batch, status) index of Background Job (its on_doctype_update creates it). Statements that lock a
# batch's jobs name it: on a small table MariaDB would rather scan, and a scanning locking read (an
# INSERT … SELECT, a SELECT … FOR UPDATE) locks every job, so two bulk submissions deadlocked (1213).
BATCH_INDEX = ("batch", "status")
BATCH_INDEX_NAME = "batch_status_index"

JOB = "Background Job"
LOG = "Job Execution Log"

# Columns a transition may set beside status; names are never taken from callers' data.
UPDATABLE_COLUMNS = frozenset(
	{
		"queue",
		"rq_job_id",
		"worker",
		"heartbeat_at",
		"enqueued_at",
		"started_at",
		"completed_at",
		"canceled_at",
		"canceled_by",
		"cancel_requested",
		"retry_count",
		"max_retries",
		"budget_start",
		"snooze_count",
		"next_retry_at",
		"run_at",
		"progress",
		"progress_message",
		"result",
		"output_reference",
		"error_type",
		"error_message",
		"error_traceback",
		"attempts",
		"dedup_key",
		"parameters",  # a person's edit-and-retry of a dead-lettered job (dead_letter.py)
		"params_hash",
	}
)
# Extra compare-and-set conditions a caller may add (for example the claiming RQ job id).
GUARD_COLUMNS = frozenset({"rq_job_id", "cancel_requested"})


class JobRow(TypedDict, total=False):
	"""The engine's view of a Background Job: what it decides on (``ROW_COLUMNS``, read as a frappe._dict)."""

	name: str
	status: str
	organization: str
	job_type: str
	submitted_by: str
	priority: str
	creation: Any
	retry_count: int
	max_retries: int
	budget_start: int
	snooze_count: int
	timeout_seconds: int
	queue: str
	rq_job_id: str | None
	worker: str | None
	cancel_requested: int
	canceled_by: str | None
	canceled_at: Any
	started_at: Any
	completed_at: Any
	heartbeat_at: Any
	next_retry_at: Any
	run_at: Any
	attempts: str | None
	dedup_key: str | None
	batch: str | None
	parameters: str | None  # only with ``load(with_parameters=True)``


ROW_COLUMNS = tuple(column for column in JobRow.__annotations__ if column != "parameters")
# The row as SQL select list over alias `j`, for queries that compose it (a UNION, say).
ROW_SELECT = ", ".join(f"j.`{column}`" for column in ROW_COLUMNS)


@dataclass(frozen=True)
class Change:
	"""One committed-to-be status change: the job as it is after it (``job``), from and to; ``before`` is
	the row ``transition()`` was given (None for a new job)."""

	job: Mapping[str, Any]
	from_status: JobStatus | None
	to_status: JobStatus
	message: str = ""
	before: Mapping[str, Any] | None = None

	@property
	def name(self) -> str:
		return self.job["name"]

	@property
	def organization(self) -> str:
		return self.job["organization"]

	@property
	def job_type(self) -> str:
		return self.job["job_type"]

	@property
	def frees_slot(self) -> bool:
		return self.from_status in SLOT_HOLDING and self.to_status not in SLOT_HOLDING

	@property
	def ended(self) -> bool:
		return self.to_status in (JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.DEAD_LETTER)

	@property
	def entered_pending(self) -> bool:
		return self.to_status is JobStatus.PENDING

	@property
	def rejoined_queue(self) -> bool:
		"""Back to Pending without a new admission (a retry), so the waiting backlog grew by one."""
		return self.to_status is JobStatus.PENDING and self.from_status not in (None, JobStatus.QUEUED)


@dataclass(frozen=True)
class Consequence:
	phase: Literal["at_once", "before_commit", "after_commit"]
	method: str  # dotted path, as Frappe names hooks: its module may itself change statuses


# Everything a status change causes, in order. The methods take a list of changes: the one just made
# ("at_once"), or the transaction's, in the order they were made ("after_commit"). Each is isolated:
# one failing is logged and the others still run.
ON_TRANSITION: tuple[Consequence, ...] = (
	# the waiting backlog's upper bound grows before the job can be seen Pending by anyone
	Consequence("at_once", "dartwing.dartwing_core.background_jobs.admission.on_transitions"),
	# exact counts for the metrics, in the transaction itself: never lost, never doubled (D25)
	Consequence("before_commit", "dartwing.dartwing_core.background_jobs.metrics_rollup.on_transitions"),
	Consequence("after_commit", "dartwing.dartwing_core.background_jobs.progress.announce"),
	Consequence("after_commit", "dartwing.dartwing_core.background_jobs.dispatcher.follow_up"),
	# a batch whose jobs all ended is finished (and its on_complete job submitted) exactly once
	Consequence("after_commit", "dartwing.dartwing_core.background_jobs.batches.on_transitions"),
	# the desk's bell (Notification Log) for dead letters, grouped per job type and window
	Consequence("after_commit", "dartwing.dartwing_core.background_jobs.notifications.on_transitions"),
	# other apps' hooks (``dartwing_job_events`` in their hooks.py), each in isolation
	Consequence("after_commit", "dartwing.dartwing_core.background_jobs.job_events.on_transitions"),
)


def transition(
	job: Mapping[str, Any],
	to_status: JobStatus | str,
	*,
	message: str = "",
	updates: Mapping[str, Any] | None = None,
	guard: Mapping[str, Any] | None = None,
	actor: str | None = None,
) -> Change | None:
	"""Move ``job`` (a ``JobRow``) to ``to_status``.

	Returns the ``Change`` when this call made it, None when the job was no longer in ``job["status"]``
	(someone else won). Raises ``InvalidTransition`` for a move the table forbids.
	"""
	from_status = JobStatus(job["status"])
	to_status = JobStatus(to_status)
	check_transition(from_status, to_status)
	updates = dict(updates or {})
	_check_columns(updates, UPDATABLE_COLUMNS)
	_check_columns(guard or {}, GUARD_COLUMNS)
	if not _compare_and_set(job["name"], from_status, to_status, updates, guard or {}):
		return None
	attempt = int(updates.get("retry_count", job.get("retry_count") or 0)) + 1
	write_log(
		job,
		from_status,
		to_status,
		message=message,
		attempt=attempt,
		actor=actor,
		worker=updates.get("worker"),
	)
	change = Change({**job, **updates, "status": to_status.value}, from_status, to_status, message, job)
	_caused(change)
	return change


def record_creation(job: Mapping[str, Any], *, message: str, status: JobStatus = JobStatus.PENDING) -> Change:
	"""A new job's first status (Pending, or Scheduled for later), inserted by the caller: its log row
	and its consequences."""
	check_transition(None, status)
	write_log(job, None, status, message=message, attempt=1)
	change = Change(job, None, status, message)
	_caused(change)
	return change


@contextmanager
def savepoint(name: str) -> Iterator[None]:
	"""A savepoint whose rollback also forgets the changes made since it (they will cause nothing):
	``frappe.db.rollback(save_point=…)`` alone would leave them to be announced and dispatched."""
	journal = frappe.flags.get(_JOURNAL)
	mark = len(journal) if journal is not None else 0
	frappe.db.savepoint(name)
	try:
		yield
	except BaseException:
		frappe.db.rollback(save_point=name)
		journal = frappe.flags.get(_JOURNAL)
		if journal is not None:
			del journal[mark:]
		raise


def record_creations(
	jobs: Sequence[Mapping[str, Any]],
	*,
	message: str,
	status: JobStatus = JobStatus.PENDING,
	batch: str | None = None,
) -> list[Change]:
	"""``record_creation`` for many new jobs inserted by the caller (a bulk submission): their log rows
	in multi-row inserts, and their consequences once, with every change. With ``batch``, the jobs are
	exactly that new batch's rows: their log rows are copied from the job table by one INSERT … SELECT."""
	if not jobs:
		return []
	check_transition(None, status)
	if batch:
		_log_batch_creations(batch, len(jobs), status, message, now_datetime(), frappe.session.user)
	else:
		_insert_log_rows([_log_row(job, None, status, message=message, attempt=1) for job in jobs])
	changes = [Change(job, None, status, message) for job in jobs]
	_caused_many(changes)
	return changes


def _log_batch_creations(
	batch: str, count: int, status: JobStatus, message: str, now: Any, actor: str
) -> None:
	# Built in the database from the rows just inserted: nothing is escaped and sent per job (10,000 log
	# rows cost ~0.5 s sent as values). Names are LOG_NAME_LENGTH hex characters of an MD5 of a fresh salt
	# and the job's name.
	frappe.db.sql(
		f"""INSERT INTO `tab{LOG}` (name, creation, modified, owner, modified_by, {", ".join(_LOG_FIELDS)})
		SELECT SUBSTR(MD5(CONCAT(%(salt)s, j.name)), 1, %(length)s), %(now)s, %(now)s, %(actor)s, %(actor)s, j.name,
			j.organization, '', %(status)s, %(now)s, %(actor)s, %(message)s, 1, ''
		FROM `tab{JOB}` j FORCE INDEX ({BATCH_INDEX_NAME}) WHERE j.batch = %(batch)s""",
		{
			"salt": frappe.generate_hash(length=16),
			"length": LOG_NAME_LENGTH,
			"now": now,
			"actor": actor,
			"status": status.value,
			"message": (message or "")[:1000],
			"batch": batch,
		},
	)
	if affected_rows() != count:  # the batch holds other rows than these jobs: refuse, nothing is kept
		raise RuntimeError(f"Batch {batch} holds {affected_rows()} jobs, not the {count} being recorded")


_LOG_FIELDS = (
	"job",
	"organization",
	"from_status",
	"to_status",
	"timestamp",
	"actor",
	"message",
	"attempt",
	"worker",
)


def write_log(
	job: Mapping[str, Any],
	from_status: JobStatus | None,
	to_status: JobStatus,
	*,
	message: str,
	attempt: int,
	actor: str | None = None,
	worker: str | None = None,
) -> None:
	"""Append one row to the Job Execution Log."""
	_insert_log_rows([_log_row(job, from_status, to_status, message, attempt, actor, worker)])


# The log row's columns (``docstatus`` and ``idx`` take their defaults, 0).
# Frappe's ``hash`` naming gives 10 hex characters and retries a clashing insert; these plain multi-row
# inserts cannot retry, so their names are long enough that a clash never happens in practice (10,000 new
# rows beside 10^8 old ones: odds ~1e-12).
LOG_NAME_LENGTH = 20
_LOG_COLUMNS = ("name", "creation", "modified", "owner", "modified_by", *_LOG_FIELDS)


def _log_row(
	job: Mapping[str, Any],
	from_status: JobStatus | None,
	to_status: JobStatus,
	message: str,
	attempt: int,
	actor: str | None = None,
	worker: str | None = None,
) -> tuple[Any, ...]:
	"""One Job Execution Log row in ``_LOG_COLUMNS`` order, named by a random hash (``LOG_NAME_LENGTH``);
	its owner is the session's user, as a document's would be, its actor ``actor`` or that user."""
	now, user = now_datetime(), frappe.session.user
	return (
		frappe.generate_hash(length=LOG_NAME_LENGTH),
		now,
		now,
		user,
		user,
		job["name"],
		job.get("organization"),
		from_status.value if from_status else "",
		to_status.value,
		now,
		actor or user,
		(message or "")[:1000],
		attempt,
		worker or job.get("worker") or "",
	)


def _insert_log_rows(rows: list[tuple[Any, ...]]) -> None:
	"""The rows are built here from the job rows this module just changed, so they go in as a plain
	multi-row insert: no document, no controller hooks, no link checks (every job goes through
	several transitions; building a Document for each row cost twice the CPU of the insert itself)."""
	frappe.db.bulk_insert(LOG, list(_LOG_COLUMNS), rows)


def load(job_name: str, *, for_update: bool = False, with_parameters: bool = False) -> frappe._dict | None:
	"""The job's ``JobRow`` (and its parameters, for the worker that runs it), or None when it does not
	exist."""
	rows = frappe.db.sql(
		f"""SELECT {ROW_SELECT}{", j.parameters" if with_parameters else ""}
		FROM `tabBackground Job` j WHERE j.name = %(name)s {"FOR UPDATE" if for_update else ""}""",
		{"name": job_name},
		as_dict=True,
	)
	return rows[0] if rows else None


def select(
	condition: str,
	values: Mapping[str, Any],
	*,
	order_by: str,
	limit: int,
	extra_columns: Sequence[str] = (),
	source: str = "`tabBackground Job` j",
	skip_locked: bool = False,
) -> list[frappe._dict]:
	"""``JobRow``s of the jobs matching ``condition`` (SQL over alias ``j``, values as parameters only).
	``extra_columns`` are SQL expressions the caller needs beside the row (for example a count).
	``skip_locked`` locks the rows returned until the caller's commit and passes over rows another
	transaction holds (``FOR UPDATE SKIP LOCKED``, MariaDB 10.6+): two sweepers split a backlog."""
	columns = ", ".join((ROW_SELECT, *extra_columns))
	locking = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
	return frappe.db.sql(
		f"SELECT {columns} FROM {source} WHERE {condition} ORDER BY {order_by} LIMIT %(limit)s{locking}",
		{**values, "limit": limit},
		as_dict=True,
	)


def status_values(**statuses: JobStatus | frozenset[JobStatus]) -> dict[str, Any]:
	"""SQL parameters for status literals: ``status_values(running=JobStatus.RUNNING)`` gives
	``{"running": "Running"}`` (a set gives a sorted tuple, for ``IN``), so SQL text never spells them."""
	return {
		key: value.value if isinstance(value, JobStatus) else status_tuple(value)
		for key, value in statuses.items()
	}


def delete_jobs(names: list[str]) -> None:
	"""Delete jobs with their Job Execution Log and dependency rows (no commit)."""
	if not names:
		return
	values = {"names": tuple(names)}
	frappe.db.sql("DELETE FROM `tabJob Execution Log` WHERE job IN %(names)s", values)
	frappe.db.sql("DELETE FROM `tabBackground Job Dependency` WHERE parent IN %(names)s", values)
	frappe.db.sql("DELETE FROM `tabBackground Job` WHERE name IN %(names)s", values)


def affected_rows() -> int:
	"""Rows changed by the statement just run on ``frappe.db``.

	Frappe 15 has no public API for it (``frappe.db.sql`` returns ``()`` for an UPDATE), and reading
	it with ``SELECT ROW_COUNT()`` costs a round trip on every transition; the DB-API cursor's
	``rowcount`` is what Frappe's own code and tests read, so this is the one place that touches the
	private ``_cursor``.
	"""
	return int(frappe.db._cursor.rowcount)


def _check_columns(columns: Mapping[str, Any], allowed: frozenset[str]) -> None:
	unknown = set(columns) - allowed
	if unknown:
		raise ValueError(f"Columns not allowed in a transition: {sorted(unknown)}")


def _compare_and_set(
	name: str,
	from_status: JobStatus,
	to_status: JobStatus,
	updates: Mapping[str, Any],
	guard: Mapping[str, Any],
) -> bool:
	assignments = ["`status` = %(to_status)s", "`modified` = %(now)s"]
	values: dict[str, Any] = {"name": name, "from_status": from_status.value, "to_status": to_status.value}
	values["now"] = now_datetime()
	for column, value in updates.items():
		assignments.append(f"`{column}` = %(set_{column})s")
		values[f"set_{column}"] = value
	conditions = ["`name` = %(name)s", "`status` = %(from_status)s"]
	for column, value in guard.items():
		conditions.append(f"`{column}` <=> %(guard_{column})s")
		values[f"guard_{column}"] = value
	frappe.db.sql(
		f"UPDATE `tabBackground Job` SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}",
		values,
	)
	return affected_rows() == 1


# The transaction's changes, handed to ON_TRANSITION when it commits and forgotten when it rolls back.
_JOURNAL = "dartwing_transitions"
_resolved: dict[str, Callable[[list[Change]], None]] = {}


def _caused(change: Change) -> None:
	_caused_many([change])


def _caused_many(changes: list[Change]) -> None:
	_run("at_once", changes)
	journal = frappe.flags.get(_JOURNAL)
	if journal is None:
		journal = frappe.flags[_JOURNAL] = []
		frappe.db.before_commit.add(_run_before_commit)
		frappe.db.after_commit.add(_run_after_commit)
		frappe.db.after_rollback.add(_forget)
	journal.extend(changes)


def pending_changes() -> list[Change]:
	"""The changes this transaction made so far that its commit will hand to ON_TRANSITION, in order."""
	return frappe.flags.get(_JOURNAL) or []


def _forget() -> None:
	frappe.flags.pop(_JOURNAL, None)


def _run_before_commit() -> None:
	"""The before_commit consequences, which must not fail quietly: on an error the transaction is rolled
	back (Frappe's commit has already dropped the rollback callbacks, hence the explicit forget) and the
	commit raises."""
	changes = frappe.flags.get(_JOURNAL) or []
	try:
		for consequence in ON_TRANSITION:
			if consequence.phase == "before_commit" and changes:
				_method(consequence.method)(changes)
	except Exception:
		_forget()
		frappe.db.rollback()
		raise


def _run_after_commit() -> None:
	_run("after_commit", frappe.flags.pop(_JOURNAL, None) or [])


def _run(phase: str, changes: list[Change]) -> None:
	if not changes:
		return
	for consequence in ON_TRANSITION:
		if consequence.phase != phase:
			continue
		try:
			_method(consequence.method)(changes)
		except Exception:
			frappe.log_error(title=f"Job transition consequence {consequence.method} failed")


def _method(path: str) -> Callable[[list[Change]], None]:
	method = _resolved.get(path)
	if method is None:
		method = _resolved[path] = frappe.get_attr(path)
	return method
