"""The token cache on real Redis: TTL bounded by the token's life; a Redis that is down is skipped."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper
from redis.crc import key_slot

from apps.accent_auth import token_cache
from project.backends import cache_settings
from project.environment import EnvReader
from tests.processes import OwnRedisCluster, free_port

pytestmark = pytest.mark.urls("tests.accent_auth.urls")


def test_the_redis_ttl_never_exceeds_the_tokens_life(
    client: Client, accent_auth: Any, redis_url: str, settings: SettingsWrapper
) -> None:
    settings.ACCENT_AUTH_CACHE_TTL = 3600
    long_lived, short_lived = accent_auth.login("alice", expiration=7200), accent_auth.login("alice", expiration=30)
    for token in (long_lived, short_lived):
        assert client.get("/api/v1/probe/whoami/", headers={"X-Auth-Token": token}).status_code == 200
    assert 3590 <= cache.ttl(token_cache.token_key(long_lived)) <= 3600  # type: ignore[attr-defined]
    assert 0 < cache.ttl(token_cache.token_key(short_lived)) <= 30  # type: ignore[attr-defined]


def _redis_cache_on(port: int) -> dict[str, Any]:
    """A django-redis default cache on a local port where no Redis answers, with short timeouts."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }


def _redis_cluster_on(port: int) -> dict[str, Any]:
    """The same on a Redis Cluster URL whose only seed does not answer."""
    return cache_settings(EnvReader({"REDIS_URL": f"redis+cluster://127.0.0.1:{port}", "REDIS_CONNECT_TIMEOUT": "0.2"}))


@pytest.mark.parametrize("caches_on", [_redis_cache_on, _redis_cluster_on], ids=["redis", "redis-cluster"])
def test_a_redis_that_is_down_is_skipped(
    client: Client, accent_auth: Any, settings: SettingsWrapper, caches_on: Any
) -> None:
    settings.CACHES = caches_on(free_port())
    token = accent_auth.login("alice")
    for _ in range(2):
        assert client.get("/api/v1/probe/whoami/", headers={"X-Auth-Token": token}).status_code == 200
    assert accent_auth.calls("GET /token") == 2  # no cache: each request validated at Accent-Auth


def test_a_redis_that_is_down_is_logged_once_and_not_retried_within_the_cool_down(
    client: Client,
    accent_auth: Any,
    settings: SettingsWrapper,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real cool-down is 1 s: four requests on a loaded machine need not fit in it. An hour does,
    # and what is proven is the same (within the cool-down, no second attempt and no second log line).
    monkeypatch.setattr(token_cache._breaker, "cool_down", 3600.0)
    # A listener that accepts and never answers: each attempt the cache makes is one connection.
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(64)
        black_hole.settimeout(0.01)
        settings.CACHES = _redis_cache_on(black_hole.getsockname()[1])
        token = accent_auth.login("alice")
        for _ in range(4):
            assert client.get("/api/v1/probe/whoami/", headers={"X-Auth-Token": token}).status_code == 200
        attempts = []
        with contextlib.suppress(TimeoutError):
            while True:
                attempts.append(black_hole.accept()[0])
        for connection in attempts:
            connection.close()
    assert len(attempts) == 1, "one attempt opened the breaker; the others skipped the cache"
    assert accent_auth.calls("GET /token") == 4
    assert caplog.text.count("token cache unavailable") == 1


@pytest.mark.process
@pytest.mark.service("redis")
def test_the_token_cache_works_on_a_redis_cluster(
    client: Client, accent_auth: Any, redis_cluster: OwnRedisCluster, settings: SettingsWrapper
) -> None:
    settings.CACHES = cache_settings(EnvReader({"REDIS_URL": redis_cluster.url, "CACHE_KEY_PREFIX": "test-auth"}))
    token = accent_auth.login("alice")
    for _ in range(2):
        assert client.get("/api/v1/probe/whoami/", headers={"X-Auth-Token": token}).status_code == 200
    assert accent_auth.calls("GET /token") == 1  # the second request was served from the cluster
    info = token_cache.lookup(token).token
    assert info is not None
    token_cache.cache_tenant_decision(info, "tenant-b", allowed=True)
    # The token's entry and its tenant decision share a slot (hash tag): one MGET on one master.
    assert key_slot(token_cache.token_key(token).encode()) == key_slot(token_cache.tenant_key(token, "b").encode())
    found = token_cache.lookup(token, "tenant-b")
    assert found.token == info
    assert found.tenant_allowed is True
    token_cache.forget_token(token)
    assert token_cache.lookup(token).token is None
