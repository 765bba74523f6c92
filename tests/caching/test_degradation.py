"""Redis stops (a private redis-server this test owns): served, logged once, counted; recovers by itself."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from apps.caching import cached, invalidate_tags
from apps.caching.store import get_store, reset_store
from tests.caching.conftest import redis_cache_settings


def _errors() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "service_cache_errors":
            total += sum(sample.value for sample in metric.samples if sample.name.endswith("_total"))
    return total


@pytest.mark.usefixtures("redis_url")
def test_an_outage_degrades_to_computing_and_recovers_without_restart(
    own_redis_server: Any, settings: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)
    settings.CACHING_OUTAGE_BACKOFF = 0.05
    calls: list[int] = []

    @cached(key_prefix="outage", ttl=60, tags=lambda n: ["outage"], lock=True)
    def value(n: int) -> int:
        calls.append(n)
        return n

    assert value(1) == 1
    assert value(1) == 1
    assert calls == [1]

    own_redis_server.stop()
    errors_before = _errors()
    with caplog.at_level(logging.WARNING, logger="apps.caching"):
        started = time.monotonic()
        results = [value(1) for _ in range(20)]
        elapsed = time.monotonic() - started
        assert invalidate_tags(["outage"]) == 0  # the write goes on; the entry expires by its TTL
    assert results == [1] * 20
    assert calls == [1] * 21  # computed each time, served
    assert elapsed < 3  # back-off: not 20 socket timeouts
    assert caplog.text.count("cache unavailable") == 1  # once per outage
    assert _errors() > errors_before

    own_redis_server.start()  # an empty Redis on the same port
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="apps.caching"):
        deadline = time.monotonic() + 5
        while get_store().outage.down and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.06)
            value(2)
    assert "cache available again" in caplog.text
    calls.clear()
    value(3), value(3)
    assert calls == [3]
    reset_store()
