"""Every default of the job engine, in one place.

Contract: pure constants plus `queue_for`; imports no frappe. Job Type rows override the per-type values
(timeouts, retries, backoff, windows, caps, queue); the rest are engine-wide. Units are in the names.
"""

from types import MappingProxyType

# Execution time
DEFAULT_TIMEOUT_SECONDS = 300  # s, a Job Type's default handler time limit
BULK_TIMEOUT_SECONDS = 1800  # s, suggested for bulk / long-queue job types
MAX_TIMEOUT_SECONDS = 86400  # s, upper bound accepted on a Job Type (24 h)

# Retries
DEFAULT_MAX_RETRIES = 5  # retries after the first attempt
MAX_RETRIES_LIMIT = 25  # upper bound accepted on a Job Type
DEFAULT_BACKOFF_BASE_SECONDS = 60  # s, delay before the first retry
DEFAULT_BACKOFF_FACTOR = 2  # multiplier per further retry
DEFAULT_BACKOFF_MAX_SECONDS = 3600  # s, cap on any single delay
DEFAULT_BACKOFF_JITTER = 0.1  # fraction of the delay, applied ±
MAX_RETRY_AFTER_SECONDS = (
	86400  # s, longest wait a handler's retry_after may ask for (a vendor's Retry-After)
)

# Snoozes: a handler puts its job back to wait without spending a retry (ctx.snooze)
DEFAULT_MAX_SNOOZES = 20  # snoozes per job (a Job Type may say otherwise); one more dead-letters it
MAX_SNOOZES_LIMIT = 1000  # upper bound accepted on a Job Type
MAX_SNOOZE_SECONDS = 7 * 86400  # s, longest single snooze

# Telling people: dead letters become Notification Log entries, grouped per job type and window
DEAD_LETTER_NOTICE_WINDOW_SECONDS = 900  # s, one entry per job type (and organization) per window
MAX_DEAD_LETTER_NOTICE_WINDOW_SECONDS = 86400  # s, the site config override is bounded by this
EDITED_PARAMETERS_LOG_CHARS = 400  # characters of old / new parameters written into the history; else hashes

# Submission guards
DEFAULT_DEDUP_WINDOW_SECONDS = 300  # s, identical submissions inside it return the same job; 0 disables
MAX_DEDUP_WINDOW_SECONDS = 86400  # s
DEFAULT_RATE_LIMIT_COUNT = 600  # submissions per organization per window; 0 disables
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60  # s
MAX_RATE_LIMIT_WINDOW_SECONDS = 86400  # s, a window over 24 h is refused
DEFAULT_MAX_QUEUED_PER_ORG = 1000  # jobs Pending + Queued per organization and type
DEFAULT_MAX_RUNNING_PER_ORG = 4  # jobs Queued + Running per organization (fair dispatch)
MAX_RUNNING_GLOBAL_LIMIT = 100_000  # upper bound of a Job Type's cap on Queued + Running, all organizations
MAX_RATE_LIMIT_STARTS = 100_000  # upper bound of a Job Type's starts per start window
DEFAULT_START_RATE_WINDOW_SECONDS = 60  # s, a Job Type's start window when it sets a start rate
MAX_START_RATE_WINDOW_SECONDS = 86400  # s, a start window over 24 h is refused
MAX_PARAMETERS_BYTES = 256 * 1024  # bytes of JSON parameters per job

# Workers
HEARTBEAT_INTERVAL_SECONDS = 1.0  # s between heartbeats of a running job
STALE_HEARTBEAT_SECONDS = 30  # s without a heartbeat before a Running job counts as lost
CANCEL_GRACE_SECONDS = 10  # s a running handler gets to reach a checkpoint before a forced stop
TIMEOUT_KILL_GRACE_SECONDS = 10  # s between the soft timeout signal and the hard kill
# s RQ's own time limit adds to a job's timeout and kill grace: the work horse's imports, the claim and
# the outcome's recording must never be cut short by RQ (the engine enforces the handler's timeout).
RQ_TIMEOUT_MARGIN_SECONDS = 60
RECORD_OUTCOME_ATTEMPTS = 3  # tries to record a failed attempt when the database reports a lock conflict
PROGRESS_THROTTLE_SECONDS = 0.25  # s, at most one realtime progress event per job per window
SUBMITTER_ROOM_RECHECK_SECONDS = 1.0  # s, how long a "submitter may still hear" answer is reused

# Housekeeping
RETENTION_DAYS = 30  # days finished jobs and their logs are kept
PURGE_BATCH_SIZE = 500  # rows deleted per statement (keeps locks short)
SWEEP_BATCH_SIZE = 200  # jobs (or organizations) per sweep batch, one short transaction each
# s one sweep works through its backlog batch after batch before it stops (the next run goes on):
# bounds how long a run holds a worker, while a backlog of thousands is cleared in one run (D31).
SWEEP_BUDGET_SECONDS = 40
# A sweep batch chosen as a deadlock's victim (InnoDB rolled it back) is read and run again this many times
SWEEP_DEADLOCK_RETRIES = 3
# RQ jobs (``short`` queue) a sweep enqueues to share a backlog beyond one batch with more workers;
# site config ``dartwing_sweep_helpers`` sets it. 0 (the sweep works alone): on a machine whose cores are
# saturated, helpers were measured to add contention, not speed (benchmarks/README.md, D32).
SWEEP_HELPERS = 0
# Sub-tick release of jobs for later (site config ``dartwing_due_lookahead_seconds``, default 0: off):
DUE_LOOKAHEAD_TICK_MARGIN_SECONDS = 1.0  # s the waiting due sweep ends before the next tick
DUE_LOOKAHEAD_POLL_SECONDS = 0.5  # s between two looks for a job due sooner than the one waited for
MAX_DUE_BATCHES_PER_RUN = 25  # batches of due schedules per tick: 5,000 at most

# Sweeps and bulk operations
LOST_DISPATCH_GRACE_SECONDS = 10  # s a fresh dispatch gets to reach Redis before it counts as lost
MAX_PURGE_BATCHES_PER_RUN = 200  # batches per retention run (bounds one run to 100,000 jobs)
MAX_BULK_JOB_IDS = 500  # job ids per dead-letter retry / delete call
MAX_DEPENDENCIES = 50  # parent jobs one job may wait on
MAX_BATCH_ITEMS = 10_000  # parameter objects per submit_jobs call
MAX_BATCH_PARAMETERS_BYTES = 32 * 1024 * 1024  # bytes of JSON parameters per submit_jobs call, all items
BATCH_PROGRESS_THROTTLE_SECONDS = 1.0  # s, at most one batch_progress event per batch per window
BATCH_SWEEP_AGE_SECONDS = 30  # s a Running batch is left to its jobs' own bookkeeping before a sweep checks
TRACEBACK_LIMIT_CHARS = 8000  # traceback characters kept per failed attempt

# HTTP
SUBMIT_RATE_LIMIT = 600  # HTTP submissions per client IP per window (Job Type limits apply as well)
SUBMIT_RATE_WINDOW_SECONDS = 60  # s

# Listing
LIST_LIMIT_MAX = 500  # rows per page, hard cap
LIST_LIMIT_DEFAULT = 20  # rows per page when the caller gives none
LIST_START_MAX = 1_000_000  # rows skipped at most (deeper paging is a mistake; narrow the filters)

# The one priority order: highest first, the order in which work is taken.
PRIORITIES_BY_RANK = ("Critical", "High", "Normal", "Low")
PRIORITIES = tuple(reversed(PRIORITIES_BY_RANK))  # lowest first, as Job Type's select lists them
DEFAULT_PRIORITY = "Normal"

# The one table from priority to (RQ queue, enqueue at front). A stock `bench worker` drains
# short, default, long in that order, so Critical jumps the line and Low waits behind everything.
PRIORITY_QUEUES = MappingProxyType(
	{
		"Critical": ("short", True),
		"High": ("short", False),
		"Normal": ("default", False),
		"Low": ("long", False),
	}
)

QUEUES = ("short", "default", "long")


def queue_for(priority: str, override: str = "") -> tuple[str, bool]:
	"""Return (queue, at_front) for a priority; a Job Type's `queue` override wins over the priority's queue.

	Raises ValueError for an unknown priority or queue, so bad data fails loud at the boundary.
	"""
	if priority not in PRIORITY_QUEUES:
		raise ValueError(f"Unknown priority {priority!r}; expected one of {', '.join(PRIORITIES)}")
	queue, at_front = PRIORITY_QUEUES[priority]
	if not override:
		return queue, at_front
	if override not in QUEUES:
		raise ValueError(f"Unknown queue {override!r}; expected one of {', '.join(QUEUES)}")
	return override, at_front
