"""The embedded-default store: the same semantics as `RedisStore`, in this process's memory.

One lock makes every operation atomic, as a Lua script is in Redis. Tag sets map entry → expiry
(the sorted-set score in Redis), generations guard fills the same way, locks carry a token.
Patterns follow Redis's glob dialect (`apps.caching.redis_glob`), not `fnmatch`'s.
Tag memory is bounded as in Redis: each fill sheds a few expired members of the tags it touches,
and once the members outnumber what the entries could hold a sweep drops every member whose entry
expired or was evicted (amortised: the next sweep waits until the count doubles).
Per process: `manage.py` commands run in their own process and see an empty store.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence

from apps.caching.keys import KeyLayout
from apps.caching.redis_glob import RedisGlob
from apps.caching.store import KeysFound, PruneReport, StoreStats

__all__ = ["LocalMemoryStore"]

_ZERO = b"0"
# Expired members a fill drops from each of its tags, as the Redis fill script does.
_SHED_PER_FILL = 8


class LocalMemoryStore:
    backend_name = "local-memory"

    def __init__(self, layout: KeyLayout, *, max_entries: int, generation_ttl: float) -> None:
        self.layout = layout
        self.max_entries = max_entries
        self.generation_ttl = generation_ttl
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._tags: dict[str, dict[str, float]] = {}
        self._generations: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._tag_members = 0
        self._sweep_at = max_entries * 2

    # -- reads ------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[1] <= time.time():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return found[0]

    def _generation(self, name: str, now: float) -> bytes:
        found = self._generations.get(name)
        if found is None or found[1] <= now:
            return _ZERO
        return str(found[0]).encode()

    def _bump(self, name: str, now: float) -> None:
        current = self._generations.get(name)
        value = current[0] + 1 if current is not None and current[1] > now else 1
        self._generations[name] = (value, now + self.generation_ttl)

    def snapshot(self, key: str, tags: Sequence[str]) -> list[bytes]:
        now = time.time()
        with self._lock:
            return [self._generation("k:" + key, now), *(self._generation("t:" + tag, now) for tag in tags)]

    def get_and_snapshot(self, key: str, tags: Sequence[str]) -> tuple[bytes | None, list[bytes]]:
        return self.get(key), self.snapshot(key, tags)

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
        now = time.time()
        expires = now + ttl
        with self._lock:
            if snapshot is not None:
                if not bump_key and self._generation("k:" + key, now) != snapshot[0]:
                    return False
                for tag, seen in zip(tags, snapshot[1:], strict=True):
                    if self._generation("t:" + tag, now) != seen:
                        return False
            if bump_key:
                self._bump("k:" + key, now)
            self._entries[key] = (payload, expires)
            self._entries.move_to_end(key)
            for tag in tags:
                members = self._tags.setdefault(tag, {})
                self._tag_members -= len(members)
                members.pop(key, None)  # re-added last: members stay in fill order, oldest first
                members[key] = expires
                self._shed(members, now)
                self._tag_members += len(members)
            self._evict(now)
        return True

    @staticmethod
    def _shed(members: dict[str, float], now: float) -> None:
        expired = [key for key, expires in itertools.islice(members.items(), _SHED_PER_FILL) if expires <= now]
        for key in expired:
            del members[key]

    def _evict(self, now: float) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        if len(self._generations) > self.max_entries * 4:
            self._generations = {k: v for k, v in self._generations.items() if v[1] > now}
        if self._tag_members > self._sweep_at:
            self._sweep_tags(now)
            self._sweep_at = max(self.max_entries * 2, self._tag_members * 2)

    def _sweep_tags(self, now: float) -> int:
        """Drop members whose entry expired or was evicted, and tags left empty. Returns members removed."""
        removed = 0
        for tag in list(self._tags):
            members = self._tags[tag]
            dead = [key for key, expires in members.items() if expires <= now or key not in self._entries]
            for key in dead:
                del members[key]
            removed += len(dead)
            if not members:
                del self._tags[tag]
        self._tag_members -= removed
        return removed

    # -- locks ------------------------------------------------------------------------------
    def acquire(self, name: str, ttl: float) -> str | None:
        now = time.time()
        with self._lock:
            held = self._locks.get(name)
            if held is not None and held[1] > now:
                return None
            token = uuid.uuid4().hex
            self._locks[name] = (token, now + ttl)
            return token

    def release(self, name: str, token: str) -> None:
        with self._lock:
            held = self._locks.get(name)
            if held is not None and held[0] == token:
                del self._locks[name]

    # -- invalidation -----------------------------------------------------------------------
    def _live(self, key: str, now: float) -> bool:
        found = self._entries.get(key)
        return found is not None and found[1] > now

    def _remove(self, keys: list[str], dry_run: bool, found: KeysFound | None, now: float) -> int:
        live = [key for key in keys if self._live(key, now)]
        if not dry_run:
            for key in keys:
                self._entries.pop(key, None)
        if found is not None and live:
            found(live)
        return len(live)

    def invalidate_keys(self, keys: Sequence[str], *, dry_run: bool = False, found: KeysFound | None = None) -> int:
        now = time.time()
        with self._lock:
            if not dry_run:
                for key in keys:
                    self._bump("k:" + key, now)
            return self._remove(list(keys), dry_run, found, now)

    def invalidate_tags(self, tags: Sequence[str], *, dry_run: bool = False, found: KeysFound | None = None) -> int:
        now = time.time()
        with self._lock:
            members: list[str] = []
            for tag in tags:
                if dry_run:
                    members.extend(self._tags.get(tag, {}))
                else:
                    self._bump("t:" + tag, now)
                    dropped = self._tags.pop(tag, {})
                    self._tag_members -= len(dropped)
                    members.extend(dropped)
            return self._remove(list(dict.fromkeys(members)), dry_run, found, now)

    def invalidate_pattern(self, pattern: str, *, dry_run: bool = False, found: KeysFound | None = None) -> int:
        now = time.time()
        with self._lock:
            glob = RedisGlob(pattern)
            matching = [key for key in self._entries if glob.matches(key)]
            return self._remove(matching, dry_run, found, now)

    # -- maintenance ------------------------------------------------------------------------
    def prune(self) -> PruneReport:
        now = time.time()
        report = PruneReport()
        with self._lock:
            report.tag_sets = len(self._tags)
            report.members_removed = self._sweep_tags(now)
            dead = [key for key, (_, expires) in self._entries.items() if expires <= now]
            for key in dead:
                del self._entries[key]
            report.entries_removed = len(dead)
        return report

    def stats(self) -> StoreStats:
        now = time.time()
        with self._lock:
            return StoreStats(
                backend=self.backend_name,
                namespace=self.layout.namespace,
                counts={
                    "entries": sum(1 for _, expires in self._entries.values() if expires > now),
                    "tag_sets": len(self._tags),
                    "tag_members": sum(len(members) for members in self._tags.values()),
                    "generations": len(self._generations),
                    "locks": sum(1 for _, expires in self._locks.values() if expires > now),
                },
                server={"max_entries": str(self.max_entries)},
            )

    def eviction_policy(self) -> str | None:
        return None
