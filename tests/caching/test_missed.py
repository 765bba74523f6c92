"""A Redis outage swallows an invalidation: recorded in the database, replayed when Redis is back.

The partition is real: a private redis-server behind a TCP proxy the test cuts, so Redis keeps
its data (the stale entry) through the outage, as it does behind a network failure.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection, transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.caching import cache_key, cached, invalidate_cache, invalidate_pattern, invalidate_tags
from apps.caching.models import MissedInvalidation
from apps.caching.store import get_store, reset_store
from apps.caching.tasks import replay_missed_invalidations
from tests.caching.conftest import in_another_thread, redis_cache_settings
from tests.conftest import OwnRedisServer
from tests.processes import TcpProxy, clean_env, manage

pytestmark = pytest.mark.django_db(transaction=True)

BACKOFF = 0.05


@pytest.fixture
def partition(own_redis_server: OwnRedisServer, settings: SettingsWrapper, namespace: str) -> Iterator[TcpProxy]:
    """The service reaches the private Redis through a proxy: `stop()` is a partition, Redis keeps its data."""
    proxy = TcpProxy(("127.0.0.1", own_redis_server.port)).start()
    settings.CACHES = redis_cache_settings(f"redis://127.0.0.1:{proxy.port}/0", namespace)
    settings.CACHING_OUTAGE_BACKOFF = BACKOFF
    try:
        yield proxy
    finally:
        proxy.stop()
        reset_store()


@pytest.fixture
def first_name(namespace: str) -> Callable[[int], str]:
    @cached(key_prefix="missed", ttl=300, tags=lambda pk: [f"user:{pk}"])
    def read(pk: int) -> str:
        return str(User.objects.values_list("first_name", flat=True).get(pk=pk))

    return read


def _rename(pk: int, name: str) -> None:
    with transaction.atomic():
        User.objects.filter(pk=pk).update(first_name=name)
        invalidate_tags([f"user:{pk}"])  # runs at commit, and finds Redis unreachable


def _after_the_backoff() -> None:
    time.sleep(BACKOFF * 2)


def test_an_invalidation_swallowed_by_a_partition_is_replayed_before_the_next_read(
    partition: TcpProxy, first_name: Callable[[int], str], own_redis_server: OwnRedisServer
) -> None:
    pk = User.objects.create(username="ann", first_name="Ann").pk
    assert first_name(pk) == "Ann"  # filled
    partition.stop()
    _rename(pk, "Anna")
    assert list(MissedInvalidation.objects.values_list("kind", "target")) == [("tag", f"user:{pk}")]
    assert redis.Redis.from_url(own_redis_server.url).exists(get_store().layout.entry(cache_key("missed", pk)))
    partition.start()
    _after_the_backoff()
    assert first_name(pk) == "Anna"  # not the entry Redis kept through the partition
    assert first_name(pk) == "Anna"
    assert not MissedInvalidation.objects.exists()


def test_every_kind_of_invalidation_is_recorded_once_per_target(partition: TcpProxy) -> None:
    partition.stop()
    for _ in range(3):
        invalidate_tags(["a", "b"])
        invalidate_cache("doc:1")
        invalidate_pattern("doc:*")
    recorded = sorted(MissedInvalidation.objects.values_list("kind", "target"))
    assert recorded == [("key", "doc:1"), ("pattern", "doc:*"), ("tag", "a"), ("tag", "b")]


def test_a_restarted_process_gets_the_replay_from_the_periodic_task(
    partition: TcpProxy, first_name: Callable[[int], str]
) -> None:
    pk = User.objects.create(username="bo", first_name="Bo").pk
    first_name(pk)
    partition.stop()
    _rename(pk, "Bob")
    reset_store()  # the process that saw the outage is gone; this one never saw it
    partition.start()
    assert replay_missed_invalidations() == 1  # what Celery beat runs every CACHING_REPLAY_INTERVAL
    assert first_name(pk) == "Bob"
    assert not MissedInvalidation.objects.exists()


def test_replay_by_another_process_through_prune_cache_tags(
    partition: TcpProxy, first_name: Callable[[int], str], namespace: str, postgres: None
) -> None:
    pk = User.objects.create(username="cy", first_name="Cy").pk
    first_name(pk)
    partition.stop()
    _rename(pk, "Cyd")
    partition.start()
    database = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + str(connection.settings_dict["NAME"]))
    env = clean_env(
        DATABASE_URL=urlunsplit(database), REDIS_URL=f"redis://127.0.0.1:{partition.port}/0", CACHE_KEY_PREFIX=namespace
    )
    result = manage("prune_cache_tags", env=env)
    assert result.returncode == 0, result.stderr
    assert "replayed 1 invalidation(s) missed in an outage" in result.stdout
    reset_store()  # this process never noticed: only the other one replayed
    assert first_name(pk) == "Cyd"


def test_a_redis_restart_that_lost_its_data_still_replays_cleanly(
    own_redis_server: OwnRedisServer, settings: SettingsWrapper, namespace: str, first_name: Callable[[int], str]
) -> None:
    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)
    settings.CACHING_OUTAGE_BACKOFF = BACKOFF
    pk = User.objects.create(username="di", first_name="Di").pk
    first_name(pk)
    own_redis_server.stop()
    _rename(pk, "Diana")
    own_redis_server.start()
    _after_the_backoff()
    assert first_name(pk) == "Diana"
    assert not MissedInvalidation.objects.exists()
    reset_store()


def test_while_the_replay_runs_no_thread_serves_the_old_entry(
    partition: TcpProxy, first_name: Callable[[int], str], monkeypatch: Any
) -> None:
    import threading

    from apps.caching import missed

    pk = User.objects.create(username="ed", first_name="Ed").pk
    first_name(pk)
    partition.stop()
    _rename(pk, "Edd")
    partition.start()
    _after_the_backoff()
    replay_started = threading.Event()
    original = missed.replay_missed

    def slow_replay(store: Any) -> int:
        replay_started.set()
        time.sleep(0.3)  # a replay with many rows: the other thread must wait for it, not read past it
        return original(store)

    monkeypatch.setattr(missed, "replay_missed", slow_replay)

    def other_reader() -> str:
        replay_started.wait(5)
        return first_name(pk)

    elsewhere = in_another_thread(other_reader)
    assert first_name(pk) == "Edd"
    assert elsewhere.result(timeout=30) == "Edd"


def test_an_invalidation_missed_on_an_event_loop_is_recorded_too(partition: TcpProxy) -> None:
    partition.stop()

    async def write() -> int:
        return invalidate_tags(["from-async"])  # Django allows no queries here: the record is written by a thread

    assert asyncio.run(write()) == 0
    assert MissedInvalidation.objects.filter(kind="tag", target="from-async").exists()
