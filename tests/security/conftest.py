"""Server processes for the security tests: gunicorn on a free port with tests/security/urls.py."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.security import rate_limit
from tests.processes import clean_env, free_port, manage, running_server, server_database


@pytest.fixture
def limits(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> Iterator[SettingsWrapper]:
    """Rate limits on, on a window store of this test only (Redis in the real-service run)."""
    settings.RATE_LIMIT_ENABLED = True
    store: rate_limit.Window
    if "redis" in django_settings.CACHES["default"]["BACKEND"].lower():
        from django_redis import get_redis_connection  # type: ignore[import-untyped]

        client = get_redis_connection("default")
        prefix = f"test-security-{uuid.uuid4().hex}:"
        store = rate_limit.RedisWindow(client, prefix)
    else:
        client, prefix, store = None, "", rate_limit.MemoryWindow()
    monkeypatch.setattr(rate_limit, "window_store", lambda: store)
    yield settings
    if client is not None:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


@contextmanager
def gunicorn(
    *, workers: int = 1, threads: int = 4, settings_module: str = "tests.security.server_settings", **variables: str
) -> Iterator[str]:
    """gunicorn (gthread) serving the test URLs; `variables` are its environment (service URLs...).

    Each server gets its own cache key prefix, so its rate-limit keys are its own on a shared Redis.
    """
    env = clean_env(
        DJANGO_SETTINGS_MODULE=settings_module,
        CACHE_KEY_PREFIX=f"test-security-{uuid.uuid4().hex[:8]}",
        LOG_LEVEL="WARNING",
        **variables,
    )
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "project.wsgi:application",
        "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads), "-k", "gthread",
    ]  # fmt: skip
    with running_server(command, port=port, env=env, ready_path="/health/live") as base_url:
        yield base_url


def raw_post(base_url: str, path: str, head: list[str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST over a raw socket (framing exactly as given): the status, headers and (unchunked) body."""
    host, port = base_url.removeprefix("http://").split(":")
    request = "\r\n".join([f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", *head])
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode() + b"\r\n\r\n")
        # The server may answer and close before reading a body it refuses.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(body)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    header_block, _, payload = received.partition(b"\r\n\r\n")
    lines = header_block.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        payload = unchunk(payload)
    return int(lines[0].split()[1]), headers, payload


def unchunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def chunked(data: bytes, size: int = 500) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


@dataclass(frozen=True)
class ServedDatabase:
    """The database of a server under test, read from the test process as it is (committed rows)."""

    url: str

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows `sql` (no parameters: SQLite and PostgreSQL spell them differently) selects."""
        if self.url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as connection:
                return connection.execute(sql).fetchall()
        with psycopg.connect(self.url) as connection:
            return connection.execute(sql).fetchall()


@contextmanager
def served_api(
    directory: Path, *, accent_auth_url: str, workers: int = 1, threads: int = 8
) -> Iterator[tuple[str, ServedDatabase]]:
    """gunicorn in production mode (DEBUG off) on its own migrated database, with this run's Redis and broker.

    Plain HTTP on loopback, so no redirect to HTTPS; rate limits are off (the clients are all
    127.0.0.1). Without Redis the cache is per process: one worker then, or a worker would serve
    a detail (and ETag) another worker's write made stale.
    """
    with server_database(directory, directory.name) as database_url:
        variables = {
            "DATABASE_URL": database_url,
            "ACCENT_AUTH_URL": accent_auth_url,
            "RATE_LIMIT_ENABLED": "false",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
        }
        for name in ("REDIS_URL", "CELERY_BROKER_URL"):
            if os.environ.get(name):
                variables[name] = os.environ[name]
        if "REDIS_URL" not in variables:
            workers = 1
        migrated = manage("migrate", "--noinput", env=clean_env(**variables), timeout=180)
        assert migrated.returncode == 0, migrated.stderr
        with gunicorn(workers=workers, threads=threads, settings_module="project.settings", **variables) as base_url:
            yield base_url, ServedDatabase(database_url)
