"""Background jobs on RQ, mirroring Frappe 15's ``frappe/utils/background_jobs.py``.

Contract (same as Frappe 15.44.2):
- ``enqueue`` puts ``execute_job`` on the RQ queue ``{bench_id}:{queue}`` with the job id ``{site}::{job_id}``
  and returns the rq ``Job``; it returns None when deduplicated or when ``enqueue_after_commit`` defers it
  to ``frappe.db.after_commit``; with ``now=True`` it runs the method in-process and returns its value.
- ``execute_job`` runs in the worker's work horse with a full site context: it commits on success, retries
  deadlocks/lock timeouts/``RetryBackgroundJobError`` up to five times, and on any other error rolls back,
  writes an Error Log (committed) and re-raises so RQ marks the job failed.
- Redis connections come from ``conf.redis_queue``; a Redis outage raises ``redis.exceptions.ConnectionError``
  (except during migrate, where the job runs synchronously, as Frappe does).
"""

import os
import socket
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from uuid import uuid4

import redis
from redis.exceptions import BusyLoadingError, ConnectionError
from rq import Callback, Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.worker import DequeueStrategy

import frappe
from frappe.utils import CallbackManager, get_bench_id

RQ_JOB_FAILURE_TTL = 7 * 24 * 60 * 60  # seconds: keep failed job info for 7 days
RQ_FAILED_JOBS_LIMIT = 1000  # failed jobs kept per queue registry
RQ_RESULTS_TTL = 10 * 60  # seconds: keep successful results for 10 minutes
BACKGROUND_PROCESS_NICENESS = 10  # workers yield CPU to web processes
DEFAULT_QUEUE_TIMEOUT = 300  # seconds
MAX_JOB_RETRIES = 5  # deadlock / lock-timeout retries inside execute_job
REDIS_CONNECT_ATTEMPTS = 5  # Frappe retries the queue connection 5 times, 1 s apart

# One connection per redis_queue URL: Frappe keeps a single process-global one, but a benchless process
# may touch two sites whose queues live in different Redis databases.
_redis_queue_conns: dict[str, redis.Redis] = {}


@lru_cache
def get_queues_timeout() -> dict[str, int]:
	"""Queue name -> default timeout; key order is the order a worker drains them."""
	custom_workers = frappe.get_conf().get("workers") or {}
	return {
		"short": DEFAULT_QUEUE_TIMEOUT,
		"default": DEFAULT_QUEUE_TIMEOUT,
		"long": 1500,
		**{name: (cfg or {}).get("timeout", DEFAULT_QUEUE_TIMEOUT) for name, cfg in custom_workers.items()},
	}


def enqueue(
	method: str | Callable,
	queue: str = "default",
	timeout: int | None = None,
	event=None,
	is_async: bool = True,
	job_name: str | None = None,
	now: bool = False,
	enqueue_after_commit: bool = False,
	*,
	on_success: Callable | None = None,
	on_failure: Callable | None = None,
	at_front: bool = False,
	job_id: str | None = None,
	deduplicate=False,
	**kwargs,
) -> Job | Any:
	"""Enqueue ``method(**kwargs)`` to run in a background worker (see module docstring)."""
	is_async = kwargs.pop("async", is_async)  # legacy spelling

	if deduplicate:
		if not job_id:
			frappe.throw(frappe._("`job_id` paramater is required for deduplication."))
		existing = get_job(job_id)
		if existing and existing.get_status() in (JobStatus.QUEUED, JobStatus.STARTED):
			frappe.logger().error(f"Not queueing job {existing.id} because it is in queue already")
			return None
		if existing:
			# a finished job with the same id would keep its old arguments (rq/rq#793)
			existing.delete()

	rq_job_id = create_job_id(job_id)
	if now or (not is_async and not frappe.flags.in_test):
		return frappe.call(method, **kwargs)

	try:
		q = get_queue(queue, is_async=is_async)
	except ConnectionError:
		if frappe.local.flags.in_migrate:
			print(f"Redis queue is unreachable: Executing {method} synchronously")
			return frappe.call(method, **kwargs)
		raise

	queue_args = {
		"site": frappe.local.site,
		"user": frappe.session.user,
		"method": method,
		"event": event,
		"job_name": job_name or _method_name(method),
		"is_async": is_async,
		"kwargs": kwargs,
	}

	def enqueue_call() -> Job:
		return q.enqueue_call(
			execute_job,
			on_success=Callback(func=on_success) if on_success else None,
			on_failure=Callback(func=on_failure or truncate_failed_registry),
			timeout=timeout or get_queues_timeout().get(queue) or DEFAULT_QUEUE_TIMEOUT,
			kwargs=queue_args,
			at_front=at_front,
			failure_ttl=frappe.conf.get("rq_job_failure_ttl") or RQ_JOB_FAILURE_TTL,
			result_ttl=frappe.conf.get("rq_results_ttl") or RQ_RESULTS_TTL,
			job_id=rq_job_id,
		)

	if enqueue_after_commit:
		frappe.db.after_commit.add(enqueue_call)
		return None
	return enqueue_call()


def enqueue_doc(doctype, name=None, method=None, queue="default", timeout=300, now=False, **kwargs):
	"""Enqueue ``frappe.get_doc(doctype, name).<method>(**kwargs)``."""
	return enqueue(
		"frappe.utils.background_jobs.run_doc_method",
		doctype=doctype,
		name=name,
		doc_method=method,
		queue=queue,
		timeout=timeout,
		now=now,
		**kwargs,
	)


def run_doc_method(doctype, name, doc_method, **kwargs):
	getattr(frappe.get_doc(doctype, name), doc_method)(**kwargs)


def _method_name(method: str | Callable) -> str:
	if callable(method):
		return f"{method.__module__}.{method.__qualname__}"
	return method


def _retryable_db_errors() -> tuple[type[BaseException], ...]:
	"""Exceptions ``execute_job`` may retry: the driver's InternalError (deadlock, lock wait) and
	Frappe's explicit ``RetryBackgroundJobError``."""
	import pymysql

	internal_error = getattr(frappe.db, "InternalError", None) or pymysql.err.InternalError
	return (internal_error, frappe.RetryBackgroundJobError)


def _is_deadlock_or_timeout(exc: BaseException) -> bool:
	if isinstance(exc, frappe.RetryBackgroundJobError):
		return True
	return bool(frappe.db.is_deadlocked(exc) or frappe.db.is_timedout(exc))


def execute_job(site, method, event, job_name, kwargs, user=None, is_async=True, retry=0):
	"""Run one job in a worker with a full site context; commit on success, roll back and log on error."""
	retval = None
	if is_async:
		frappe.init(site=site)
		frappe.connect()
		if os.environ.get("CI"):
			frappe.flags.in_test = True
		if user:
			frappe.set_user(user)

	method_name = _method_name(method)
	if isinstance(method, str):
		method = frappe.get_attr(method)

	frappe.local.job = frappe._dict(
		site=site,
		method=method_name,
		job_name=job_name,
		kwargs=kwargs,
		user=user,
		after_job=CallbackManager(),
	)
	for before_job_task in frappe.get_hooks("before_job"):
		frappe.call(before_job_task, method=method_name, kwargs=kwargs, transaction_type="job")

	try:
		retval = method(**kwargs)
	except _retryable_db_errors() as e:
		frappe.db.rollback()
		if retry < MAX_JOB_RETRIES and _is_deadlock_or_timeout(e):
			frappe.local.job.after_job.reset()
			frappe.destroy()
			time.sleep(retry + 1)
			# Frappe's retry does not pass the user on: the retried run is Administrator's
			return execute_job(site, method, event, job_name, kwargs, is_async=is_async, retry=retry + 1)
		frappe.log_error(title=method_name)
		raise
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=method_name)
		frappe.db.commit()  # persist the Error Log
		print(frappe.get_traceback())
		raise
	else:
		frappe.db.commit()
		return retval
	finally:
		_run_after_job(site, method_name, kwargs, retval, is_async)


def _run_after_job(site: str, method_name: str, kwargs: dict, retval: Any, is_async: bool) -> None:
	if not getattr(frappe.local, "site", None):
		# a deadlock retry destroyed the context before this frame's finally ran
		frappe.init(site=site)
		frappe.connect()
	for after_job_task in frappe.get_hooks("after_job"):
		frappe.call(after_job_task, method=method_name, kwargs=kwargs, result=retval)
	job = getattr(frappe.local, "job", None)
	if job and job.get("after_job"):
		job.after_job.run()
	if is_async:
		frappe.destroy()


def get_worker_name(queue: str | None) -> str:
	"""Unique per process, so several workers on one host never collide in RQ's registry."""
	return f"{uuid4().hex}.{socket.gethostname()}.{os.getpid()}.{queue or 'all'}"


def start_worker(
	queue: str | None = None,
	quiet: bool = False,
	rq_username: str | None = None,
	rq_password: str | None = None,
	burst: bool = False,
	strategy: DequeueStrategy | None = DequeueStrategy.DEFAULT,
) -> None:
	"""Run an RQ worker over ``queue`` (comma separated; default short, default, long in that order).

	The caller must have called ``frappe.init(site)`` for the site whose ``redis_queue`` and ``bench_id``
	apply; the site context is dropped before working because every job carries its own site.
	"""
	redis_connection = get_redis_conn(username=rq_username, password=rq_password)
	queue_list = [q.strip() for q in queue.split(",") if q.strip()] if queue else None
	qnames = get_queue_list(queue_list, build_queue_name=True)
	worker = Worker(qnames, connection=redis_connection, name=get_worker_name(queue))
	set_niceness()
	frappe.destroy()
	worker.work(
		logging_level="WARNING" if quiet else "INFO",
		burst=burst,
		date_format="%Y-%m-%d %H:%M:%S",
		log_format="%(asctime)s,%(msecs)03d %(message)s",
		dequeue_strategy=strategy or DequeueStrategy.DEFAULT,
	)


def set_niceness() -> None:
	"""Lower this process's priority once (conf.background_process_niceness overrides the default)."""
	configured = frappe.get_conf().get("background_process_niceness")
	increment = BACKGROUND_PROCESS_NICENESS if configured is None else int(configured)
	if increment:
		os.nice(increment)


def get_queue_list(queue_list=None, build_queue_name=False) -> list[str]:
	"""Validated queue types (all known ones by default), or their RQ names with ``build_queue_name``."""
	default_queue_list = list(get_queues_timeout())
	if queue_list:
		if isinstance(queue_list, str):
			queue_list = [queue_list]
		for queue in queue_list:
			validate_queue(queue, default_queue_list)
	else:
		queue_list = default_queue_list
	return [generate_qname(qtype) for qtype in queue_list] if build_queue_name else queue_list


def get_queue(qtype: str, is_async: bool = True) -> Queue:
	validate_queue(qtype)
	return Queue(generate_qname(qtype), connection=get_redis_conn(), is_async=is_async)


def validate_queue(queue: str, default_queue_list=None) -> None:
	if not default_queue_list:
		default_queue_list = list(get_queues_timeout())
	if queue not in default_queue_list:
		frappe.throw(frappe._("Queue should be one of {0}").format(", ".join(default_queue_list)))


def get_redis_conn(username: str | None = None, password: str | None = None) -> redis.Redis:
	"""Connection to ``conf.redis_queue``, retried like Frappe's (5 attempts, 1 s apart)."""
	if not hasattr(frappe.local, "conf"):
		raise Exception("You need to call frappe.init")
	conf = frappe.local.conf
	if not conf.get("redis_queue"):
		raise Exception("redis_queue missing in common_site_config.json")

	cred = {}
	if conf.get("use_rq_auth"):
		cred = {
			"username": username or conf.get("rq_username") or get_bench_id(),
			"password": password if username else conf.get("rq_password"),
		}
	elif os.environ.get("RQ_ADMIN_PASWORD"):
		cred = {"username": "default", "password": os.environ.get("RQ_ADMIN_PASWORD")}

	for attempt in range(REDIS_CONNECT_ATTEMPTS):
		try:
			if not cred:
				return get_redis_connection_without_auth()
			conn = redis.Redis.from_url(conf.redis_queue, **cred)
			conn.ping()
			return conn
		except (BusyLoadingError, ConnectionError):
			if attempt == REDIS_CONNECT_ATTEMPTS - 1:
				raise
			time.sleep(1)
	raise AssertionError("unreachable")


def get_redis_connection_without_auth() -> redis.Redis:
	"""Shared unauthenticated connection to ``conf.redis_queue`` (also used by realtime)."""
	url = frappe.local.conf.redis_queue
	conn = _redis_queue_conns.get(url)
	if conn is None:
		conn = redis.Redis.from_url(url)
		conn.ping()  # fail here, inside get_redis_conn's retry, rather than at first use
		_redis_queue_conns[url] = conn
	return conn


def get_queues(connection: redis.Redis | None = None) -> list[Queue]:
	"""All RQ queues of this bench (other benches may share the Redis server)."""
	queues = Queue.all(connection=connection or get_redis_conn())
	return [q for q in queues if is_queue_accessible(q)]


def generate_qname(qtype: str | list[str]) -> str:
	if isinstance(qtype, list):
		qtype = ",".join(qtype)
	return f"{get_bench_id()}:{qtype}"


def is_queue_accessible(qobj: Queue) -> bool:
	return qobj.name in {generate_qname(q) for q in get_queues_timeout()}


def create_job_id(job_id: str) -> str:
	"""The RQ job id, namespaced by site: ``{site}::{job_id}`` (uuid4 when no id is given)."""
	if not job_id:
		job_id = str(uuid4())
	return f"{frappe.local.site}::{job_id}"


def is_job_enqueued(job_id: str) -> bool:
	return get_job_status(job_id) in (JobStatus.QUEUED, JobStatus.STARTED)


def get_job_status(job_id: str) -> JobStatus | None:
	job = get_job(job_id)
	return job.get_status() if job else None


def get_job(job_id: str) -> Job | None:
	"""The RQ job for the un-prefixed ``job_id`` of the current site, or None."""
	try:
		return Job.fetch(create_job_id(job_id), connection=get_redis_conn())
	except NoSuchJobError:
		return None


def truncate_failed_registry(job, connection, type, value, traceback) -> None:
	"""Default on_failure callback: keep at most ``rq_failed_jobs_limit`` failed jobs per queue."""
	conf = frappe.conf if getattr(frappe.local, "conf", None) else frappe.get_conf(job.kwargs.get("site"))
	limit = (conf.get("rq_failed_jobs_limit") or RQ_FAILED_JOBS_LIMIT) - 1
	for queue in _bench_queues(connection, job):
		registry = queue.failed_job_registry
		for job_id in registry.get_job_ids()[limit:]:
			remove_from_registry(registry, job_id)


def remove_from_registry(registry, job_id: str) -> None:
	"""Drop ``job_id`` from an RQ registry and delete the job (it may have expired already)."""
	try:
		registry.remove(job_id, delete_job=True)
	except NoSuchJobError:
		registry.remove(job_id)


def _bench_queues(connection: redis.Redis, job: Job) -> list[Queue]:
	"""The queues of this job's bench; works without a site context (RQ callbacks run in the horse)."""
	if getattr(frappe.local, "conf", None):
		return get_queues(connection=connection)
	prefix = job.origin.rsplit(":", 1)[0]
	return [q for q in Queue.all(connection=connection) if q.name.rsplit(":", 1)[0] == prefix]
