"""Server processes for the security tests: gunicorn on a free port with tests/security/urls.py."""

from __future__ import annotations

import contextlib
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.security import rate_limit
from tests.processes import clean_env, free_port, running_server


@pytest.fixture
def limits(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> Iterator[SettingsWrapper]:
    """Rate limits on, on a window store of this test only (Redis in the real-service run)."""
    settings.RATE_LIMIT_ENABLED = True
    store: rate_limit.Window
    if "redis" in django_settings.CACHES["default"]["BACKEND"].lower():
        from django_redis import get_redis_connection

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
