"""`@cached`: cache a function's result, for sync and async functions and methods.

A call goes: build the logical key → one read of the entry and of the generations of the key
and its tags (an MGET; a hit ends here; with `lock=True` the generations are read after the
lock is taken) → on a miss, run the function, store value + tag membership in one Lua
call that refuses the write if any generation moved (an invalidation happened meanwhile).
Inside `transaction.atomic()` the store waits for the commit, so nothing computed from
uncommitted rows reaches the cache; and once the transaction invalidated an entry's key or tags,
its reads of that entry run the function (they see their own writes) and leave the cache alone
(`apps.caching.uncommitted`). Redis errors degrade: the function runs and its result is served
uncached.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction

from apps.caching.errors import CacheUnavailable
from apps.caching.keys import cache_key, tag_list
from apps.caching.metrics import ERRORS, FILLS, HITS, MISSES, register_prefix
from apps.caching.serialization import decode, encode
from apps.caching.store import CacheStore, get_store
from apps.caching.strategies import CacheStrategy
from apps.caching.tasks import store_cache_entry
from apps.caching.uncommitted import bypasses, has_uncommitted
from apps.core.replica_router import reads_from_primary

__all__ = ["cached"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("apps.caching")

_LOCK_POLL_FIRST = 0.005
_LOCK_POLL_MAX = 0.05


@dataclass
class _Lookup:
    hit: bool
    value: Any = None
    refresh_token: str | None = None
    degraded: bool = False
    snapshot: list[bytes] | None = None  # read with the entry, when a miss goes straight to the function


@dataclass
class _Ticket:
    key: str
    tags: list[str]
    snapshot: list[bytes] | None = None
    lock_name: str | None = None
    lock_token: str | None = None
    degraded: bool = False
    found: bool = False
    value: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Engine:
    """Everything `@cached` does around the function call, independent of sync/async."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        key_prefix: str,
        ttl: float,
        tags: Callable[..., Iterable[str]] | None,
        strategy: CacheStrategy,
        key_builder: Callable[..., str] | None,
        condition: Callable[[Any], bool] | None,
        lock: bool,
        lock_timeout: float,
        refresh_after: float,
        guard_stale_writes: bool,
    ) -> None:
        self.key_prefix = key_prefix
        self.ttl = ttl
        self.tags = tags
        self.strategy = strategy
        self.key_builder = key_builder
        self.condition = condition
        self.lock = lock
        self.lock_timeout = lock_timeout
        self.refresh_after = refresh_after
        self.guard = guard_stale_writes
        self.signature = inspect.signature(func)
        parameters = list(self.signature.parameters)
        # Methods: the instance is not part of the default key (pass key_builder to include its state).
        self.skip_first = bool(parameters) and parameters[0] in {"self", "cls"}
        self.has_defaults = any(p.default is not p.empty for p in self.signature.parameters.values())
        self.reads_cache = strategy in (CacheStrategy.CACHE_ASIDE, CacheStrategy.REFRESH_AHEAD)
        # A miss without the lock runs the function next: read the generations it is guarded by
        # with the entry (one round trip for a miss instead of two; a hit reads two more keys).
        self.snapshot_with_read = guard_stale_writes and self.reads_cache and not lock
        self.hits = HITS.labels(key_prefix)
        self.misses = MISSES.labels(key_prefix)
        self.stored = FILLS.labels(key_prefix, "stored")
        self.stale = FILLS.labels(key_prefix, "stale")
        register_prefix(key_prefix)

    def bypasses(self, key: str, args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
        """The open transaction invalidated this entry: read around the cache (one context lookup when not)."""
        return self.reads_cache and has_uncommitted() and bypasses(key, _tag_list(self, args, kwargs))

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self.key_builder is not None:
            return self.key_builder(*args, **kwargs)
        if kwargs or self.has_defaults:
            args, kwargs = _canonical_call(self.signature, args, kwargs)
        if self.skip_first:
            args = args[1:]
        return cache_key(self.key_prefix, *args, **kwargs)

    # -- steps (each sync; the async wrapper runs them in a thread) --------------------------
    def lookup(self, store: CacheStore, key: str, tag_list: list[str] | None = None) -> _Lookup:
        """One read of the entry; with `tag_list` (`snapshot_with_read`), of its generations too."""
        snapshot = None
        try:
            if tag_list is None:
                payload = store.get(key)
            else:
                payload, snapshot = store.get_and_snapshot(key, tag_list)
        except CacheUnavailable:
            return _Lookup(hit=False, degraded=True)
        if payload is None:
            self.misses.inc()
            return _Lookup(hit=False, snapshot=snapshot)
        value, refresh_at = decode(payload)
        self.hits.inc()
        if refresh_at is None or time.time() < refresh_at:
            return _Lookup(hit=True, value=value)
        try:
            token = store.acquire(store.layout.refresh_token(key), self.lock_timeout)
        except CacheUnavailable:
            token = None
        return _Lookup(hit=True, value=value, refresh_token=token)

    def begin(self, store: CacheStore, key: str, tag_list: list[str], lookup: _Lookup | None) -> _Ticket:
        ticket = _Ticket(key=key, tags=tag_list)
        if lookup is not None and lookup.degraded:
            ticket.degraded = True
            return ticket
        if lookup is not None and lookup.refresh_token is not None:
            ticket.lock_name, ticket.lock_token = store.layout.refresh_token(key), lookup.refresh_token
        try:
            if self.lock and self.reads_cache and ticket.lock_token is None:
                self._take_lock(store, ticket)
                if ticket.found:
                    return ticket
            if self.guard:
                # Read before the entry was (a miss): older than now, so at worst a fill is refused.
                read = lookup.snapshot if lookup is not None and not lookup.hit else None
                ticket.snapshot = read if read is not None else store.snapshot(key, tag_list)
        except CacheUnavailable:
            ticket.degraded = True
        return ticket

    def _take_lock(self, store: CacheStore, ticket: _Ticket) -> None:
        """Stampede protection: one caller computes; the others wait (bounded) for its value."""
        name = store.layout.lock(ticket.key)
        token = store.acquire(name, self.lock_timeout)
        deadline = time.monotonic() + self.lock_timeout
        pause = _LOCK_POLL_FIRST
        while token is None and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, _LOCK_POLL_MAX)
            payload = store.get(ticket.key)
            if payload is not None:
                ticket.found, ticket.value = True, decode(payload)[0]
                return
            # The holder finished without storing (error, refused write) or its lock expired.
            token = store.acquire(name, self.lock_timeout)
        if token is None:
            return  # waited long enough: compute without the lock
        ticket.lock_name, ticket.lock_token = name, token
        payload = store.get(ticket.key)  # filled between our miss and our lock?
        if payload is not None:
            ticket.found, ticket.value = True, decode(payload)[0]
            self.release(store, ticket)

    def release(self, store: CacheStore, ticket: _Ticket) -> None:
        if ticket.lock_name is not None and ticket.lock_token is not None:
            with contextlib.suppress(CacheUnavailable):  # the lock expires by itself
                store.release(ticket.lock_name, ticket.lock_token)
            ticket.lock_token = None

    def finish(self, store: CacheStore, ticket: _Ticket, value: Any) -> None:
        """Store `value` (now, at commit, or through Celery) and release any lock."""
        try:
            if ticket.degraded or (self.condition is not None and not self.condition(value)):
                return
            refresh_at = time.time() + self.ttl * self.refresh_after
            payload = encode(value, refresh_at if self.strategy is CacheStrategy.REFRESH_AHEAD else None)
            if self.strategy is CacheStrategy.WRITE_BEHIND:
                self._after_commit(functools.partial(self._publish, ticket, payload))
            else:
                self._after_commit(functools.partial(self._store, store, ticket, payload))
        finally:
            self.release(store, ticket)

    def _after_commit(self, action: Callable[[], None]) -> None:
        if transaction.get_connection(DEFAULT_DB_ALIAS).in_atomic_block:
            transaction.on_commit(action, using=DEFAULT_DB_ALIAS)
        else:
            action()

    def _store(self, store: CacheStore, ticket: _Ticket, payload: bytes) -> None:
        bump = self.strategy is CacheStrategy.WRITE_THROUGH
        try:
            stored = store.fill(ticket.key, payload, self.ttl, ticket.tags, ticket.snapshot, bump_key=bump)
        except CacheUnavailable:
            return
        (self.stored if stored else self.stale).inc()

    def _publish(self, ticket: _Ticket, payload: bytes) -> None:
        snapshot = [generation.decode() for generation in ticket.snapshot] if ticket.snapshot is not None else None
        try:
            # A dedicated queue (CACHING_WRITE_BEHIND_QUEUE) lets a deployment give cache stores their own workers.
            options: dict[str, Any] = {}
            if queue := getattr(settings, "CACHING_WRITE_BEHIND_QUEUE", None):
                options["queue"] = queue
            store_cache_entry.apply_async(
                **options,
                kwargs={
                    "key": ticket.key,
                    "payload": base64.b64encode(payload).decode(),
                    "ttl": self.ttl,
                    "tags": ticket.tags,
                    "snapshot": snapshot,
                    "prefix": self.key_prefix,
                },
            )
        except Exception as error:  # the broker (or an eager run) failed: the entry is just not cached
            ERRORS.labels("write_behind", type(error).__name__).inc()
            logger.warning("write-behind store of %s not queued: %s", ticket.key, error)


def cached(
    *,
    key_prefix: str,
    ttl: float = 300,
    tags: Callable[..., Iterable[str]] | None = None,
    strategy: CacheStrategy = CacheStrategy.CACHE_ASIDE,
    key_builder: Callable[..., str] | None = None,
    condition: Callable[[Any], bool] | None = None,
    lock: bool = False,
    lock_timeout: float = 10.0,
    refresh_after: float = 0.75,
    guard_stale_writes: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache the decorated function's result under `<key_prefix>:<args>` for `ttl` seconds.

    tags: called with the function's arguments, returns the tags of the entry (`invalidate_tags`).
    key_builder: called with the function's arguments, returns the whole logical key (use `cache_key`).
    condition: called with the result; the result is stored only when it returns true.
    lock: stampede protection; one caller computes a missing entry, the others wait up to `lock_timeout`.
    refresh_after: fraction of `ttl` after which REFRESH_AHEAD refreshes early.
    guard_stale_writes: refuse to store a value computed before an invalidation of its key or tags.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"ttl must be a positive, finite number of seconds, not {ttl!r}")
    if not 0 < refresh_after < 1:
        raise ValueError("refresh_after must be between 0 and 1")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        engine = _Engine(
            func,
            key_prefix=key_prefix,
            ttl=ttl,
            tags=tags,
            strategy=strategy,
            key_builder=key_builder,
            condition=condition,
            lock=lock,
            lock_timeout=lock_timeout,
            refresh_after=refresh_after,
            guard_stale_writes=guard_stale_writes,
        )
        if inspect.iscoroutinefunction(func):
            return cast("Callable[P, R]", _async_wrapper(engine, cast("Callable[P, Awaitable[Any]]", func)))
        return _sync_wrapper(engine, func)

    return decorate


def _is_default(value: Any, parameter: inspect.Parameter) -> bool:
    # Type-exact: False == 0 == 0.0 in Python, yet they are different arguments (and keys).
    default = parameter.default
    return default is not parameter.empty and (value is default or (type(value) is type(default) and value == default))


def _canonical_call(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """One spelling of a call: `f(1)`, `f(1, None)`, `f(a=1, b=None)` are one entry and one key.

    Arguments that can go by position do, up to the last one that differs from its default
    (defaults in between are spelt out); keyword-only arguments equal to their default are left
    out. So the key of a call that only passes what it must is `cache_key(prefix, *those)`.
    """
    bound = signature.bind(*args, **kwargs)
    positional: list[Any] = []
    defaults_so_far: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        given = name in bound.arguments
        if parameter.kind is parameter.VAR_POSITIONAL:
            positional += [*defaults_so_far, *bound.arguments.get(name, ())]
            defaults_so_far = []
        elif parameter.kind is parameter.VAR_KEYWORD:
            keywords.update(bound.arguments.get(name, {}))
        elif parameter.kind is parameter.KEYWORD_ONLY:
            if given and not _is_default(bound.arguments[name], parameter):
                keywords[name] = bound.arguments[name]
        elif given and not _is_default(bound.arguments[name], parameter):
            positional += [*defaults_so_far, bound.arguments[name]]
            defaults_so_far = []
        else:
            defaults_so_far.append(bound.arguments[name] if given else parameter.default)
    return tuple(positional), keywords


def _tag_list(engine: _Engine, args: Sequence[Any], kwargs: dict[str, Any]) -> list[str]:
    if engine.tags is None:
        return []
    return tag_list(engine.tags(*args, **kwargs), what=f"tags of @cached(key_prefix={engine.key_prefix!r})")


def _sync_wrapper(engine: _Engine, func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store = get_store()
        key = engine.key(args, kwargs)
        if engine.bypasses(key, args, kwargs):
            return func(*args, **kwargs)
        lookup = None
        tags = _tag_list(engine, args, kwargs) if engine.snapshot_with_read else None
        if engine.reads_cache:
            lookup = engine.lookup(store, key, tags)
            if lookup.hit and lookup.refresh_token is None:
                return cast("R", lookup.value)
        ticket = engine.begin(store, key, _tag_list(engine, args, kwargs) if tags is None else tags, lookup)
        if ticket.found:
            return cast("R", ticket.value)
        try:
            with reads_from_primary():  # a lagging replica's answer must not be cached (apps.core.replica_router)
                value = func(*args, **kwargs)
        except BaseException:
            engine.release(store, ticket)
            raise
        engine.finish(store, ticket, value)
        return value

    return wrapper


def _async_wrapper(engine: _Engine, func: Callable[P, Awaitable[Any]]) -> Callable[P, Awaitable[Any]]:
    # Redis calls run in a worker thread (the client is synchronous); the local-memory store does no I/O.
    async def off_loop(store: CacheStore, call: Callable[..., Any], *args: Any) -> Any:
        if store.backend_name == "local-memory":
            return call(*args)
        return await asyncio.to_thread(call, *args)

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        store = get_store()
        key = engine.key(args, kwargs)
        if engine.bypasses(key, args, kwargs):
            return await func(*args, **kwargs)
        lookup = None
        tags = _tag_list(engine, args, kwargs) if engine.snapshot_with_read else None
        if engine.reads_cache:
            lookup = await off_loop(store, engine.lookup, store, key, tags)
            if lookup.hit and lookup.refresh_token is None:
                return lookup.value
        tags = _tag_list(engine, args, kwargs) if tags is None else tags
        ticket = await off_loop(store, engine.begin, store, key, tags, lookup)
        if ticket.found:
            return ticket.value
        try:
            with reads_from_primary():
                value = await func(*args, **kwargs)
        except BaseException:
            await off_loop(store, engine.release, store, ticket)
            raise
        await off_loop(store, engine.finish, store, ticket, value)
        return value

    return wrapper
