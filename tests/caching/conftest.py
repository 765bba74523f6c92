"""Fixtures of the cache tests: a private namespace on whichever backend this run has.

With `REDIS_URL` set the tests run on that Redis under a unique `KEY_PREFIX` (removed afterwards,
never FLUSHDB); without it they run on the local-memory store. The same test checks both.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from django.conf import settings as django_settings
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.caching.store import CacheStore, get_store, reset_store
from project.backends import cache_settings
from project.environment import EnvReader

T = TypeVar("T")

REDIS_BACKEND = "django_redis.cache.RedisCache"
LOCMEM_BACKEND = "django.core.cache.backends.locmem.LocMemCache"


def uses_redis() -> bool:
    # The configured backend may be a wrapper (django-prometheus) around django-redis.
    return "redis" in str(django_settings.CACHES["default"]["BACKEND"]).lower()


def redis_cache_settings(url: str, prefix: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": REDIS_BACKEND,
            "LOCATION": url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }


def redis_cluster_cache_settings(url: str, prefix: str) -> dict[str, Any]:
    """`CACHES` for a Redis Cluster, as `project.backends` builds it from `REDIS_URL=redis+cluster://...`."""
    caches = cache_settings(EnvReader({"REDIS_URL": url, "CACHE_KEY_PREFIX": prefix}))
    caches["default"]["BACKEND"] = REDIS_BACKEND
    caches["default"]["OPTIONS"] |= {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}
    return caches


def remove_namespace(prefix: str) -> None:
    store = get_store()
    try:
        client = getattr(store, "client", None)  # a cluster's client connects when it is built
        if client is None:
            return
        # On a cluster the names start with a shard's hash tag (`{<prefix>:c:...}`); scan_iter visits every master.
        patterns = [f"{prefix}:*", "{" + f"{prefix}:*"] if isinstance(client, RedisCluster) else [f"{prefix}:*"]
        for pattern in patterns:
            for key in client.scan_iter(match=pattern, count=1000):
                client.unlink(key)
    except RedisConnectionError:
        pass  # a private Redis the test stopped: nothing of ours left in the shared one


@pytest.fixture
def namespace(settings: SettingsWrapper) -> Iterator[str]:
    """A unique KEY_PREFIX for this test; the store is rebuilt for it and emptied afterwards."""
    prefix = f"test-cache-{uuid.uuid4().hex[:12]}"
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = prefix
    settings.CACHES = caches
    settings.CACHING_OUTAGE_BACKOFF = 0.05
    try:
        yield prefix
    finally:
        if "redis" in settings.CACHES["default"]["BACKEND"].lower():
            remove_namespace(prefix)
        reset_store()


@pytest.fixture
def store(namespace: str) -> CacheStore:
    return get_store()


@pytest.fixture
def redis_store(redis_url: str, namespace: str) -> CacheStore:
    """The Redis store (tests that prove Redis-only behaviour)."""
    store = get_store()
    assert store.backend_name == "redis"
    return store


@pytest.fixture
def cluster_store(redis_cluster: Any, settings: SettingsWrapper, namespace: str) -> CacheStore:
    """The Redis store on the session's private three-master Redis Cluster (tests/conftest.py)."""
    settings.CACHES = redis_cluster_cache_settings(redis_cluster.url, namespace)
    store = get_store()
    assert store.backend_name == "redis"
    assert store.layout.shards > 0
    return store


@pytest.fixture(params=["local-memory", "redis"])
def each_store(request: pytest.FixtureRequest, settings: SettingsWrapper, namespace: str) -> CacheStore:
    """The same test on both stores: the local-memory one always, the Redis one where this run has Redis."""
    if request.param == "redis":
        settings.CACHES = redis_cache_settings(request.getfixturevalue("redis_url"), namespace)
    else:
        settings.CACHES = {"default": {"BACKEND": LOCMEM_BACKEND, "KEY_PREFIX": namespace}}
    store = get_store()
    assert store.backend_name == request.param
    return store


def in_another_thread(call: Callable[[], T]) -> Future[T]:
    """Run `call` in a new thread with its own database connection (another process, as far as the
    database is concerned); the connection is closed when it ends."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as error:  # handed to the test through the future
            future.set_exception(error)
        finally:
            connection.close()

    threading.Thread(target=run).start()
    return future
