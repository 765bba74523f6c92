"""The limiter itself: exact under threads, sliding, failing open when Redis is down, on both stores."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from limits.storage import RedisClusterStorage
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper
from redis import Redis
from redis.cluster import ClusterNode, RedisCluster

from apps.core.metric_names import metric_name
from apps.security import rate_limit
from apps.security.rate_limit import MemoryWindow, RedisClusterWindow, RedisWindow, Window, window_store
from apps.security.rates import Rate
from project.backends import cache_settings
from project.environment import EnvReader
from tests.conftest import OwnRedisServer
from tests.processes import OwnRedisCluster, free_port


@pytest.fixture
def redis_window(redis_url: str) -> Iterator[RedisWindow]:
    client = Redis.from_url(redis_url)
    prefix = f"test-security-{uuid.uuid4().hex}:"
    try:
        yield RedisWindow(client, prefix)
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def cluster_window(redis_cluster: OwnRedisCluster) -> Iterator[RedisClusterWindow]:
    """The window on a private three-master Redis Cluster (`window_store()`'s choice for `redis+cluster://`)."""
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in redis_cluster.ports])  # type: ignore[no-untyped-call]
    prefix = f"test-security-{uuid.uuid4().hex}:"
    try:
        yield RedisClusterWindow([("127.0.0.1", port) for port in redis_cluster.ports], prefix)
    finally:
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture(
    params=[
        "memory",
        "redis",
        pytest.param("redis-cluster", marks=[pytest.mark.process, pytest.mark.service("redis")]),
    ]
)
def window(request: pytest.FixtureRequest) -> Window:
    if request.param == "memory":
        return MemoryWindow()
    store: Window = request.getfixturevalue("redis_window" if request.param == "redis" else "cluster_window")
    return store


def test_exactly_the_limit_is_allowed_under_parallel_hits(window: Window) -> None:
    rate = Rate(limit=37, seconds=60)
    barrier = threading.Barrier(16)

    def burst(_: int) -> list[bool]:
        barrier.wait(timeout=10)
        return [window.hit("burst", rate).allowed for _ in range(10)]

    with ThreadPoolExecutor(16) as pool:
        outcomes = [allowed for results in pool.map(burst, range(16)) for allowed in results]
    assert outcomes.count(True) == 37
    assert len(outcomes) == 160


def test_decisions_count_down_and_say_when_to_retry(window: Window) -> None:
    rate = Rate(limit=3, seconds=60)
    decisions = [window.hit("countdown", rate) for _ in range(4)]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[1].reset == 0
    assert 59 < decisions[3].reset <= 60
    assert decisions[3].retry_after == 60
    assert window.hit("another-key", rate).allowed, "keys are limited separately"


def test_the_window_slides(window: Window) -> None:
    rate = Rate(limit=2, seconds=1)
    assert [window.hit("slide", rate).allowed for _ in range(3)] == [True, True, False]
    time.sleep(1.05)
    assert window.hit("slide", rate).allowed


def test_memory_window_forgets_the_least_recent_keys_beyond_its_bound() -> None:
    window = MemoryWindow(max_keys=2)
    rate = Rate(limit=1, seconds=60)
    for key in ("a", "b", "c"):
        assert window.hit(key, rate).allowed
    assert window.hit("a", rate).allowed, "a was dropped to keep the bound"
    assert not window.hit("c", rate).allowed


def _unavailable_count() -> float:
    return REGISTRY.get_sample_value(metric_name("rate_limit_unavailable_total")) or 0.0


def test_redis_down_fails_open_with_a_metric_and_one_log_line_then_recovers(
    own_redis_server: OwnRedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis.from_url(own_redis_server.url, socket_connect_timeout=0.5, socket_timeout=0.5)
    window = RedisWindow(client, "test-security:")
    rate = Rate(limit=1, seconds=60)
    assert window.hit("k", rate).allowed
    assert not window.hit("k", rate).allowed
    own_redis_server.stop()
    before = _unavailable_count()
    with caplog.at_level(logging.WARNING, logger="apps.security"):
        decisions = [window.hit("k", rate) for _ in range(5)]
    assert all(d.allowed and d.degraded for d in decisions)
    assert _unavailable_count() - before == 5
    assert [r.getMessage() for r in caplog.records].count(
        next(r.getMessage() for r in caplog.records if "unavailable" in r.getMessage())
    ) == 1
    own_redis_server.start()
    time.sleep(1.1)  # past the back-off
    with caplog.at_level(logging.WARNING, logger="apps.security"):
        recovered = window.hit("k", rate)
    assert recovered.allowed, "a fresh Redis starts an empty window"
    assert not recovered.degraded
    assert not window.hit("k", rate).allowed, "limiting again, no restart"
    assert any("available again" in r.getMessage() for r in caplog.records)
    client.close()


def test_a_cluster_that_does_not_answer_fails_open_behind_the_breaker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each attempt at the cluster builds its client (which reads the slot map): count those, not seconds.
    attempts: list[str] = []
    storage = RedisClusterStorage

    def counted(uri: str, **options: Any) -> Any:
        attempts.append(uri)
        return storage(uri, **options)

    monkeypatch.setattr(rate_limit, "RedisClusterStorage", counted)
    window = RedisClusterWindow([("127.0.0.1", free_port())], "test-security-down:", socket_connect_timeout=0.2)
    window.breaker.cool_down = 3600.0  # the real 1 s could pass between two hits on a loaded machine
    first = window.hit("client", Rate(limit=1, seconds=60))
    assert first.allowed
    assert first.degraded
    assert len(attempts) == 1
    assert window.hit("client", Rate(limit=1, seconds=60)).degraded
    assert len(attempts) == 1, "the breaker skips the cluster: no second connect attempt"


def test_a_redis_cluster_url_selects_the_cluster_window(settings: SettingsWrapper) -> None:
    settings.CACHES = cache_settings(EnvReader({"REDIS_URL": f"redis+cluster://127.0.0.1:{free_port()}"}))
    assert isinstance(window_store(), RedisClusterWindow)
