"""``frappe.cache``: mirrors ``frappe/utils/redis_wrapper.py`` (Frappe 15).

Contract: ``RedisWrapper`` is a ``redis.Redis`` whose keys are namespaced per site
(``f"{conf.db_name}|{key}"``), whose values are pickled, and whose reads are memoised per request in
``frappe.local.cache``. Connection errors are swallowed where Frappe swallows them (reads return None).
``lock()`` is redis-py's own and is NOT site-prefixed, as in Frappe.
"""

import pickle
import re
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError

import frappe


def _local_cache() -> dict:
	store = getattr(frappe.local, "cache", None)
	if store is None:
		store = {}
		try:
			frappe.local.cache = store
		except Exception:
			pass
	return store


class RedisWrapper(redis.Redis):
	"""Redis client with Frappe's site-prefixed, pickled, request-memoised key/value helpers."""

	def __call__(self) -> "RedisWrapper":
		"""frappe.cache() still works (v14 style)."""
		return self

	def connected(self) -> bool:
		try:
			return bool(self.ping())
		except RedisConnectionError:
			return False

	def make_key(self, key: str | bytes, user: str | bool | None = None, shared: bool = False) -> bytes:
		"""Site-namespaced key; ``user=True`` scopes to the session user."""
		if isinstance(key, bytes):
			return key
		if shared:
			return key.encode()
		if user:
			if user is True:
				user = frappe.session.user
			key = f"user:{user}:{key}"
		db_name = (getattr(frappe.local, "conf", None) or {}).get("db_name") or ""
		return f"{db_name}|{key}".encode()

	def set_value(
		self,
		key: str,
		val: Any,
		user: str | bool | None = None,
		expires_in_sec: int | None = None,
		shared: bool = False,
	) -> None:
		"""Pickle and SET (SETEX with expiry); unexpiring values are also memoised locally."""
		key = self.make_key(key, user, shared)
		if not expires_in_sec:
			_local_cache()[key] = val
		try:
			if expires_in_sec:
				self.setex(name=key, time=expires_in_sec, value=pickle.dumps(val))
			else:
				self.set(key, pickle.dumps(val))
		except RedisConnectionError:
			return

	def get_value(
		self,
		key: str,
		generator: Any = None,
		user: str | bool | None = None,
		expires: bool = False,
		shared: bool = False,
	) -> Any:
		"""Local memo, else unpickled GET; on a miss, ``generator()`` fills (and stores) the value."""
		original_key = key
		key = self.make_key(key, user, shared)
		store = _local_cache()
		if key in store and not expires:
			return store[key]
		try:
			raw = self.get(key)
		except RedisConnectionError:
			raw = None
		val = pickle.loads(raw) if raw is not None else None
		if val is None and generator:
			val = generator()
			self.set_value(original_key, val, user=user, shared=shared)
		elif not expires:
			store[key] = val
		return val

	def get_all(self, key: str) -> dict:
		return {k: self.get_value(k) for k in self.get_keys(key)}

	def get_keys(self, key: str) -> list[bytes]:
		"""Keys (already namespaced) starting with ``key``."""
		try:
			return self.keys(self.make_key(key + "*"))
		except RedisConnectionError:
			pattern = re.compile(re.escape(key) + ".*")
			return [k for k in _local_cache() if isinstance(k, bytes) and pattern.match(k.decode())]

	def delete_keys(self, key: str) -> None:
		"""Delete every key starting with ``key``."""
		try:
			self.delete_value(self.get_keys(key), make_keys=False)
		except RedisConnectionError:
			pass

	def delete_key(self, *args: Any, **kwargs: Any) -> None:
		self.delete_value(*args, **kwargs)

	def delete_value(
		self, keys: str | list | tuple, user: str | None = None, make_keys: bool = True, shared: bool = False
	) -> None:
		if not keys:
			return
		if not isinstance(keys, list | tuple):
			keys = (keys,)
		if make_keys:
			keys = [self.make_key(k, user=user, shared=shared) for k in keys]
		store = _local_cache()
		for key in keys:
			store.pop(key, None)
		try:
			self.delete(*keys)
		except RedisConnectionError:
			pass

	def lpush(self, key: str, value: Any) -> int:
		return super().lpush(self.make_key(key), value)

	def rpush(self, key: str, value: Any) -> int:
		return super().rpush(self.make_key(key), value)

	def lpop(self, key: str) -> Any:
		return super().lpop(self.make_key(key))

	def rpop(self, key: str) -> Any:
		return super().rpop(self.make_key(key))

	def llen(self, key: str) -> int:
		return super().llen(self.make_key(key))

	def lrange(self, key: str, start: int, stop: int) -> list:
		return super().lrange(self.make_key(key), start, stop)

	def ltrim(self, key: str, start: int, stop: int) -> Any:
		return super().ltrim(self.make_key(key), start, stop)

	def exists(self, *names: str, user: str | None = None, shared: bool | None = None) -> int:
		keys = [self.make_key(n, user=user, shared=shared) for n in names]
		try:
			return super().exists(*keys)
		except RedisConnectionError:
			return False

	def hset(self, name: str, key: str, value: Any, shared: bool = False, *args: Any, **kwargs: Any) -> None:
		if key is None:
			return
		_name = self.make_key(name, shared=shared)
		_local_cache().setdefault(_name, {})[key] = value
		try:
			super().hset(_name, key, pickle.dumps(value), *args, **kwargs)
		except RedisConnectionError:
			pass

	def hgetall(self, name: str) -> dict:
		value = super().hgetall(self.make_key(name))
		return {key: pickle.loads(val) for key, val in value.items()}

	def hget(self, name: str, key: str, generator: Any = None, shared: bool = False) -> Any:
		_name = self.make_key(name, shared=shared)
		store = _local_cache().setdefault(_name, {})
		if key in store:
			return store[key]
		value = None
		try:
			value = super().hget(_name, key)
		except RedisConnectionError:
			pass
		if value is not None:
			value = pickle.loads(value)
			store[key] = value
		elif generator:
			value = generator()
			self.hset(name, key, value, shared=shared)
		return value

	def hdel(self, name: str, key: str | list, shared: bool = False) -> None:
		_name = self.make_key(name, shared=shared)
		keys = key if isinstance(key, list | tuple) else [key]
		store = _local_cache().get(_name) or {}
		for k in keys:
			store.pop(k, None)
		try:
			super().hdel(_name, *keys)
		except RedisConnectionError:
			pass

	def hkeys(self, name: str) -> list:
		try:
			return super().hkeys(self.make_key(name))
		except RedisConnectionError:
			return []

	def sadd(self, name: str, *values: Any) -> int:
		return super().sadd(self.make_key(name), *values)

	def srem(self, name: str, *values: Any) -> int:
		return super().srem(self.make_key(name), *values)

	def sismember(self, name: str, value: Any) -> bool:
		return super().sismember(self.make_key(name), value)

	def spop(self, name: str) -> Any:
		return super().spop(self.make_key(name))

	def srandmember(self, name: str, count: int | None = None) -> Any:
		return super().srandmember(self.make_key(name), count)

	def smembers(self, name: str) -> set:
		return super().smembers(self.make_key(name))


def setup_cache() -> RedisWrapper:
	"""A RedisWrapper on conf.redis_cache."""
	return RedisWrapper.from_url(frappe.conf.redis_cache)
