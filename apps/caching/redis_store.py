"""The Redis store: django-redis's connection pool, one round trip (MGET) per read, Lua for every multi-key write.

Layout under `<CACHE_KEY_PREFIX>:c:` (see `KeyLayout`):
  e:<key>   the entry (SET ... PX ttl)
  t:<tag>   sorted set of entry keys scored by their expiry (ms), expiring after its last member
  gt:<tag>  tag generation, INCR'd by each invalidation of the tag
  gk:<key>  key generation, INCR'd by `invalidate_cache(key)` and write-through stores
  l:/r:     stampede lock / refresh-ahead token; x:<tag>:<id>  a tag set being drained

Every script touches a bounded number of keys (a fill: its own tags; a drain step: CHUNK members),
so no single call blocks Redis for more than a few milliseconds, whatever the data size.

On a Redis Cluster (`REDIS_URL=redis+cluster://...`, apps.caching.redis_cluster) the layout is
sharded (`KeyLayout.shards`): an entry, its key generation, and its shard's copy of each of its tag
sets and tag generations carry one hash tag, so every script and every MGET stays in one slot and
keeps its single-node atomicity. Invalidating a tag bumps and drains it in every shard; SCAN
(patterns, prune, stats) visits every master.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from django_redis import get_redis_connection  # type: ignore[import-untyped]
from redis import Redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import ClusterDownError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.caching.errors import CacheUnavailable
from apps.caching.keys import KeyLayout
from apps.caching.metrics import ERRORS
from apps.caching.store import KeysFound, PruneReport, StoreStats
from apps.core.breaker import Breaker

__all__ = ["CHUNK", "RedisStore"]

logger = logging.getLogger("apps.caching")

CHUNK = 1000
# Tag sets and generation keys outlive the entries they describe by this much.
TAG_GRACE_MS = 60_000
# A cluster whose master of a slot is gone (until a replica takes over) is down for that slot's keys.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError)
# The client django-redis hands out: one Redis, or a cluster (apps.caching.redis_cluster).
Client = Redis | RedisCluster

T = TypeVar("T")

# KEYS: entry, key generation, tag sets (m), tag generations (m)
# ARGV: payload, ttl ms, expiry score ms, now ms, mode (c: check, b: bump key gen, n: no guard),
#       generation ttl ms, key generation seen, tag generations seen (m)
_FILL = """
local m = (#KEYS - 2) / 2
local mode = ARGV[5]
if mode == 'c' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[7] then return 0 end
if mode ~= 'n' then
  for i = 1, m do
    if (redis.call('GET', KEYS[2 + m + i]) or '0') ~= ARGV[7 + i] then return 0 end
  end
end
local ttl = tonumber(ARGV[2])
if mode == 'b' then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 1, m do
  local tag = KEYS[2 + i]
  redis.call('ZADD', tag, ARGV[3], KEYS[1])
  -- drop a few expired members on every fill, so busy tags stay small without the prune command
  local old = redis.call('ZRANGEBYSCORE', tag, '-inf', ARGV[4], 'LIMIT', 0, 8)
  if #old > 0 then redis.call('ZREM', tag, unpack(old)) end
  if redis.call('PTTL', tag) < ttl + 60000 then redis.call('PEXPIRE', tag, ttl + 60000) end
end
return 1
"""

# KEYS: pairs of (tag generation, tag set), then the drain names (one per pair)
# ARGV: generation ttl ms. Returns the drain keys that now hold members to delete.
_BUMP_TAGS = """
local n = #KEYS / 3
local draining = {}
for i = 1, n do
  local generation, set, drain = KEYS[2 * i - 1], KEYS[2 * i], KEYS[2 * n + i]
  redis.call('INCR', generation)
  redis.call('PEXPIRE', generation, ARGV[1])
  if redis.call('EXISTS', set) == 1 then
    redis.call('RENAME', set, drain)
    redis.call('PEXPIRE', drain, 3600000)
    draining[#draining + 1] = drain
  end
end
return draining
"""

# KEYS: a drain set. ARGV: chunk size. Pops one chunk and unlinks its entries.
_DRAIN_CHUNK = """
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
if #popped == 0 then return {0, {}} end
local members = {}
for i = 1, #popped, 2 do members[#members + 1] = popped[i] end
return {redis.call('UNLINK', unpack(members)), members}
"""

# KEYS: pairs of (entry, key generation). ARGV: generation ttl ms.
_INVALIDATE_KEYS = """
local removed = 0
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
  removed = removed + redis.call('UNLINK', KEYS[i])
end
return removed
"""

# KEYS: a tag set. ARGV: now ms, chunk. Removes up to one chunk of expired members.
_PRUNE_CHUNK = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
return #old
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    backend_name = "redis"

    def __init__(
        self,
        alias: str,
        layout: KeyLayout,
        *,
        generation_ttl: float,
        outage_backoff: float,
        on_recovery: Callable[[RedisStore], None] | None = None,
    ) -> None:
        self.alias = alias
        self.layout = layout
        self.generation_ttl_ms = int(generation_ttl * 1000)
        self.breaker = Breaker("cache", cool_down=outage_backoff)
        self.on_recovery = on_recovery
        self._recovery_lock = threading.Lock()
        self._recovering = threading.local()
        self._client: Client | None = None
        self._scripts: dict[str, Script] = {}
        self._policy_checked = False

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        client = self._client
        if client is None:
            client = self._client = get_redis_connection(self.alias)
            for name, source in (
                ("fill", _FILL),
                ("bump_tags", _BUMP_TAGS),
                ("drain", _DRAIN_CHUNK),
                ("invalidate_keys", _INVALIDATE_KEYS),
                ("prune", _PRUNE_CHUNK),
                ("release", _RELEASE),
            ):
                self._scripts[name] = client.register_script(source)
        return client

    def _run(self, operation: str, call: Callable[[Client], T]) -> T:
        """Run `call`, turning connection and timeout errors into `CacheUnavailable` (others propagate)."""
        recovering = getattr(self._recovering, "active", False)
        if self.breaker.is_open and not recovering:
            if not self.breaker.allows():
                raise CacheUnavailable("Redis is down (backing off)")
            self._recover()
        try:
            result = call(self.client)
        except _UNAVAILABLE as error:
            self._failed(operation, error)
            raise CacheUnavailable(str(error)) from error
        if not recovering:
            self.breaker.record_success()
        return result

    def _failed(self, operation: str, error: BaseException) -> None:
        ERRORS.labels(operation, type(error).__name__).inc()
        self.breaker.record_failure(error)

    def _recover(self) -> None:
        """First call after an outage: replay what the outage swallowed before anything is read.

        Only the breaker's probe gets here: it pings and runs `on_recovery` (apps.caching.missed)
        while the others still skip Redis, so none of them serves an entry the replay is about to
        remove. The lock covers a probe that outlived its cool-down and met the next one.
        """
        with self._recovery_lock:
            if not self.breaker.is_open:
                return  # another thread recovered meanwhile
            try:
                self.client.ping()
            except _UNAVAILABLE as error:
                self._failed("ping", error)
                raise CacheUnavailable(str(error)) from error
            if self.on_recovery is not None:
                self._recovering.active = True
                try:
                    self.on_recovery(self)
                finally:
                    self._recovering.active = False
            self.breaker.record_success()

    def _run_script(self, operation: str, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        def call(client: Client) -> Any:
            return self._scripts[name](keys=list(keys), args=list(args), client=client)

        return self._run(operation, call)

    # -- reads ------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        # The hot path: one GET, no wrapper layers.
        if self.breaker.is_open:
            return cast("bytes | None", self._run("get", lambda client: client.get(self.layout.entry(key))))
        try:
            return cast("bytes | None", self.client.get(self.layout.entry(key)))
        except _UNAVAILABLE as error:
            self._failed("get", error)
            raise CacheUnavailable(str(error)) from error

    def snapshot(self, key: str, tags: Sequence[str]) -> list[bytes]:
        if not self._policy_checked:
            self._warn_on_eviction_policy()
        shard = self.layout.shard(key)
        names = [self.layout.key_generation(key), *(self.layout.tag_generation(tag, shard) for tag in tags)]
        values = self._run("snapshot", lambda client: client.mget(names))
        return [cast("bytes", value) if value is not None else b"0" for value in values]

    def get_and_snapshot(self, key: str, tags: Sequence[str]) -> tuple[bytes | None, list[bytes]]:
        # One MGET of the entry and its generations: a cold read pays one round trip, not two.
        if not self._policy_checked:
            self._warn_on_eviction_policy()
        shard = self.layout.shard(key)
        names = [
            self.layout.entry(key),
            self.layout.key_generation(key),
            *(self.layout.tag_generation(tag, shard) for tag in tags),
        ]
        payload, *generations = self._run("get", lambda client: client.mget(names))
        snapshot = [cast("bytes", value) if value is not None else b"0" for value in generations]
        return cast("bytes | None", payload), snapshot

    # -- fills ------------------------------------------------------------------------------
    def fill(
        self,
        key: str,
        payload: bytes,
        ttl: float,
        tags: Sequence[str],
        snapshot: Sequence[bytes] | None,
        *,
        bump_key: bool = False,
    ) -> bool:
        now_ms = int(time.time() * 1000)
        ttl_ms = max(1, int(ttl * 1000))
        mode = "n" if snapshot is None else ("b" if bump_key else "c")
        seen = list(snapshot) if snapshot is not None else [b"0"] * (len(tags) + 1)
        shard = self.layout.shard(key)
        keys = [
            self.layout.entry(key),
            self.layout.key_generation(key),
            *(self.layout.tag_set(tag, shard) for tag in tags),
            *(self.layout.tag_generation(tag, shard) for tag in tags),
        ]
        args = [payload, ttl_ms, now_ms + ttl_ms, now_ms, mode, self.generation_ttl_ms, *seen]
        return bool(self._run_script("fill", "fill", keys, args))

    # -- locks ------------------------------------------------------------------------------
    def acquire(self, name: str, ttl: float) -> str | None:
        token = uuid.uuid4().hex
        acquired = self._run("lock", lambda client: client.set(name, token, nx=True, px=max(1, int(ttl * 1000))))
        return token if acquired else None

    def release(self, name: str, token: str) -> None:
        self._run_script("lock", "release", [name], [token])

    # -- invalidation -----------------------------------------------------------------------
    def invalidate_keys(self, keys: Sequence[str], *, dry_run: bool = False, found: KeysFound | None = None) -> int:
        removed = 0
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start : start + CHUNK])
            entries = [self.layout.entry(key) for key in chunk]
            if dry_run or found is not None:
                live = self._existing(entries)
                if found is not None and live:
                    found([self.layout.logical(entry) for entry in live])
                if dry_run:
                    removed += len(live)
                    continue
            for shard_keys in self._by_shard(chunk):
                pairs = [
                    name for key in shard_keys for name in (self.layout.entry(key), self.layout.key_generation(key))
                ]
                removed += int(self._run_script("invalidate", "invalidate_keys", pairs, [self.generation_ttl_ms]))
        return removed

    def _by_shard(self, keys: list[str]) -> list[list[str]]:
        """`keys` grouped so that each group's names share a slot (one group on a single Redis)."""
        if not self.layout.shards:
            return [keys]
        groups: dict[int, list[str]] = {}
        for key in keys:
            groups.setdefault(self.layout.shard(key), []).append(key)
        return list(groups.values())

    def _existing(self, entries: Sequence[str]) -> list[str]:
        def check(client: Client) -> list[Any]:
            pipeline = client.pipeline(transaction=False)
            for entry in entries:
                pipeline.exists(entry)
            return pipeline.execute()

        return [entry for entry, exists in zip(entries, self._run("invalidate", check), strict=True) if exists]

    def invalidate_tags(self, tags: Sequence[str], *, dry_run: bool = False, found: KeysFound | None = None) -> int:
        if dry_run:
            return self._count_tag_members(tags, found)
        removed = 0
        for start in range(0, len(tags), CHUNK // 3):
            chunk = list(tags[start : start + CHUNK // 3])
            unique = uuid.uuid4().hex
            # Every shard is bumped before any is drained: from the first drain on, no shard accepts
            # a fill computed before this invalidation.
            draining = []
            for shard in self.layout.shard_ids():
                keys = [
                    name
                    for tag in chunk
                    for name in (self.layout.tag_generation(tag, shard), self.layout.tag_set(tag, shard))
                ]
                keys += [self.layout.draining(tag, unique, shard) for tag in chunk]
                draining += self._run_script("invalidate", "bump_tags", keys, [self.generation_ttl_ms])
            for drain in draining:
                removed += self._drain(drain.decode() if isinstance(drain, bytes) else str(drain), found)
        return removed

    def _drain(self, drain: str, found: KeysFound | None) -> int:
        """Delete the entries of a renamed tag set, one bounded chunk per call."""
        removed = 0
        while True:
            count, members = self._run_script("invalidate", "drain", [drain], [CHUNK])
            if not members:
                return removed
            removed += int(count)
            if found is not None:
                found([self.layout.logical(member.decode()) for member in members])

    def _count_tag_members(self, tags: Sequence[str], found: KeysFound | None) -> int:
        seen: set[str] = set()
        for tag, shard in ((tag, shard) for tag in tags for shard in self.layout.shard_ids()):
            for batch in self._zscan(self.layout.tag_set(tag, shard)):
                fresh = [entry for entry in batch if entry not in seen]
                live = self._existing(fresh)
                seen.update(live)
                if found is not None and live:
                    found([self.layout.logical(entry) for entry in live])
        return len(seen)

    def _zscan(self, name: str) -> Iterator[list[str]]:
        cursor = 0
        while True:
            cursor, items = self._run(
                "scan",
                lambda client, c=cursor: client.zscan(name, c, count=CHUNK),  # type: ignore[misc]
            )
            if items:
                yield [member.decode() for member, _ in items]
            if cursor == 0:
                return

    def _scan(self, match: str) -> Iterator[list[str]]:
        if self.layout.shards:  # a sharded layout is a cluster's (apps.caching.store)
            yield from self._scan_cluster(match)
            return
        cursor = 0
        while True:
            cursor, keys = self._run(
                "scan",
                lambda client, c=cursor: client.scan(c, match=match, count=CHUNK),  # type: ignore[misc]
            )
            if keys:
                yield [key.decode() for key in keys]
            if cursor == 0:
                return

    def _primaries(self) -> list[Any]:
        def primaries(client: Client) -> list[Any]:
            return list(cast("RedisCluster", client).get_primaries())  # type: ignore[no-untyped-call]

        return self._run("scan", primaries)

    def _scan_cluster(self, match: str) -> Iterator[list[str]]:
        """SCAN every master in turn (a cluster node's SCAN sees only its own slots)."""
        for node in self._primaries():
            cursor = 0
            while True:
                cursors, keys = self._run(
                    "scan",
                    lambda cluster, c=cursor, n=node: cluster.scan(c, match=match, count=CHUNK, target_nodes=n),  # type: ignore[misc]
                )
                if keys:
                    yield [key.decode() for key in keys]
                cursor = int(cursors[node.name])
                if cursor == 0:
                    break

    def invalidate_pattern(self, pattern: str, *, dry_run: bool = False, found: KeysFound | None = None) -> int:
        """SCAN the namespace in chunks and UNLINK what matches. Not generation-guarded: use tags for that."""
        removed = 0
        for batch in self._scan(self.layout.space_glob() + "e:" + pattern):
            if found is not None:
                found([self.layout.logical(entry) for entry in batch])
            if dry_run:
                removed += len(batch)
            else:
                removed += int(self._run("invalidate", lambda client, b=batch: client.unlink(*b)))  # type: ignore[misc]
        return removed

    # -- maintenance ------------------------------------------------------------------------
    def prune(self) -> PruneReport:
        """Remove expired members from every tag set; finish drains an interrupted invalidation left."""
        report = PruneReport()
        now_ms = int(time.time() * 1000)
        for batch in self._scan(self.layout.space_glob() + "t:*"):
            for tag_set in batch:
                report.tag_sets += 1
                while True:
                    removed = int(self._run_script("prune", "prune", [tag_set], [now_ms, CHUNK]))
                    report.members_removed += removed
                    if removed < CHUNK:
                        break
        for batch in self._scan(self.layout.space_glob() + "x:*"):
            for drain in batch:
                report.orphaned_drains += 1
                report.entries_removed += self._drain(drain, None)
        return report

    def stats(self) -> StoreStats:
        counts = {"entries": 0, "tag_sets": 0, "tag_members": 0, "generations": 0, "locks": 0, "draining": 0}
        kinds = {"e": "entries", "t": "tag_sets", "gt": "generations", "gk": "generations", "l": "locks"}
        kinds |= {"r": "locks", "x": "draining"}
        start = self.layout.kind_start()
        for batch in self._scan(self.layout.space_glob() + "*"):
            tag_sets = []
            for key in batch:
                kind = kinds.get(key[start:].split(":", 1)[0])
                if kind is not None:
                    counts[kind] += 1
                if kind == "tag_sets":
                    tag_sets.append(key)
            if tag_sets:

                def cards(client: Client, names: list[str] = tag_sets) -> list[Any]:
                    pipeline = client.pipeline(transaction=False)
                    for name in names:
                        pipeline.zcard(name)
                    return pipeline.execute()

                counts["tag_members"] += sum(int(n) for n in self._run("stats", cards))
        memory = self._memory_info("stats")
        server = {
            "used_memory_human": str(memory.get("used_memory_human", "")),
            "maxmemory_policy": str(memory.get("maxmemory_policy", "")),
        }
        return StoreStats(backend=self.backend_name, namespace=self.layout.namespace, counts=counts, server=server)

    def _warn_on_eviction_policy(self) -> None:
        """Once per process, on the first miss (never at start-up): see apps.caching.checks."""
        self._policy_checked = True
        try:
            policy = self.eviction_policy()
        except CacheUnavailable:
            self._policy_checked = False  # ask again once Redis answers
            raise
        if policy is not None and policy.startswith("allkeys-"):
            logger.warning(
                "Redis maxmemory-policy is %s: it may evict tag sets before their entries; use volatile-lru", policy
            )

    def eviction_policy(self) -> str | None:
        memory = self._memory_info("info")
        policy = memory.get("maxmemory_policy")
        return str(policy) if policy is not None else None

    def _memory_info(self, operation: str) -> dict[str, Any]:
        """INFO memory of the Redis, or of the first master of a cluster with the worst eviction policy."""

        def info(client: Client) -> dict[str, Any]:
            if not isinstance(client, RedisCluster):
                return client.info("memory")
            per_master = client.info("memory", target_nodes=RedisCluster.PRIMARIES)
            masters = [cast("dict[str, Any]", found) for found in per_master.values()]
            allkeys = [found for found in masters if str(found.get("maxmemory_policy", "")).startswith("allkeys-")]
            return (allkeys or masters)[0]

        return self._run(operation, info)
