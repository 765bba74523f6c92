"""Fixtures that start or reach real things: backing services, server processes.

Tests that need a real service take one of the `*_url` fixtures below. In the
embedded run (no service URLs in the environment) such a test is skipped; with
`TEST_REQUIRE_SERVICES=1` (CI's real-service run) a missing service fails the test
instead, and any skip at all fails the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.processes import TcpProxy

REQUIRE_SERVICES = os.environ.get("TEST_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def _need(variable: str, what: str) -> str:
    value = os.environ.get(variable, "").strip()
    if value:
        return value
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in this run but {variable} is not set")
    pytest.skip(f"needs {what}: set {variable}")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis the suite may use (its test keys are namespaced and removed)."""
    return _need("REDIS_URL", "Redis")


@pytest.fixture(scope="session")
def broker_url() -> str:
    """URL of the real RabbitMQ broker."""
    return _need("CELERY_BROKER_URL", "RabbitMQ")


@pytest.fixture
def broker_proxy(broker_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy to the real RabbitMQ that the test cuts (`stop()`) or black-holes (`stall()`)."""
    from kombu import Connection

    proxy = TcpProxy(("127.0.0.1", Connection(broker_url).port or 5672)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def postgres(db: None) -> None:
    """Marks a test that proves PostgreSQL-only behaviour (EXPLAIN plans, ON CONFLICT)."""
    if connection.vendor != "postgresql":
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL is required in this run but DATABASE_URL does not point at it")
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: SettingsWrapper) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _rate_limits_off(settings: SettingsWrapper) -> None:
    """The suite sends many requests from 127.0.0.1; tests of the limits turn them back on (tests/security)."""
    settings.RATE_LIMIT_ENABLED = False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRE_SERVICES:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"TEST_REQUIRE_SERVICES=1: {len(skipped)} test(s) skipped; every test must run here")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class OwnRedisServer:
    """A private `redis-server` on a free port that a test may stop and start (never the shared one)."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import socket

        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def own_redis_server() -> Iterator[OwnRedisServer]:
    """A running private Redis (needs the `redis-server` binary) that the test can stop."""
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("redis-server is required in this run")
        pytest.skip("needs the redis-server binary")
    server = OwnRedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def accent_auth_standin() -> Iterator[Any]:
    """The stand-in Accent-Auth (devtools.accent_auth_standin), served over real HTTP on a free port."""
    from devtools.accent_auth_standin import StandInAccentAuth

    server = StandInAccentAuth().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def accent_auth(accent_auth_standin: Any, settings: SettingsWrapper) -> Iterator[Any]:
    """Point ACCENT_AUTH_URL at the stand-in (healthy, counters at zero) for one test.

    `accent_auth.login("alice", expiration=60)` returns a fresh token over HTTP; what the
    tokens left in the cache is dropped afterwards (the suite may share a Redis).
    """
    import httpx

    from apps.accent_auth import token_cache

    issued: list[str] = []

    def login(username: str, *, expiration: int = 300) -> str:
        response = httpx.post(
            f"{accent_auth_standin.url}/token", auth=(username, username), json={"expiration": expiration}
        )
        response.raise_for_status()
        token = str(response.json()["data"]["token"])
        issued.append(token)
        return token

    accent_auth_standin.reset()
    settings.ACCENT_AUTH_URL = accent_auth_standin.url
    accent_auth_standin.login = login
    try:
        yield accent_auth_standin
    finally:
        accent_auth_standin.reset()
        for token in issued:
            token_cache.forget_token(token)
