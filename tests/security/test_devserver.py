"""`manage.py runserver` (what `make run` serves) answers bodies and unknown API URLs as gunicorn does.

A real runserver process, DEBUG on as in development, with a 2 KiB body limit: chunked
bodies arrive whole, over the limit they are a 413 problem, broken framing a 400 problem,
a kept-alive connection is not confused by them, and /api/ URLs that match no route are
problem+json 404s, not Django's debug page.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import ROOT, clean_env, free_port, manage, running_server
from tests.security.conftest import chunked, raw_post


@pytest.fixture(scope="module")
def devserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = Path(tmp_path_factory.mktemp("devserver")) / "db.sqlite3"
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.security.server_settings",
        DATABASE_URL=f"sqlite:///{database}",
        REQUEST_MAX_BODY_BYTES="2048",
        RATE_LIMIT_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    assert manage("migrate", "--noinput", env=env, timeout=180).returncode == 0
    port = free_port()
    command = [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"]
    with running_server(command, port=port, env=env, ready_path="/health/live") as base_url:
        yield base_url


def test_a_chunked_body_within_the_limit_arrives_whole(devserver: str) -> None:
    body = json.dumps({"title": "y" * 1500}).encode()
    status, _, payload = raw_post(devserver, "/test/echo-body/", ["Transfer-Encoding: chunked"], chunked(body))
    assert status == 200, payload
    assert json.loads(payload) == {"received": len(body)}


def test_a_body_over_the_limit_is_a_413_problem_chunked_or_declared(devserver: str) -> None:
    body = json.dumps({"title": "x" * 5000}).encode()
    for head, framed in [(["Transfer-Encoding: chunked"], chunked(body)), ([f"Content-Length: {len(body)}"], body)]:
        status, headers, payload = raw_post(devserver, "/test/echo-body/", head, framed)
        assert status == 413, (head, payload)
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(payload)["code"] == "request_too_large"


def test_a_malformed_chunked_body_is_a_400_problem(devserver: str) -> None:
    status, headers, payload = raw_post(devserver, "/test/echo-body/", ["Transfer-Encoding: chunked"], b"zz\r\n{}\r\n")
    assert status == 400, payload
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(payload)["code"] == "malformed_request"


def test_a_kept_alive_connection_reads_the_request_after_a_chunked_one(devserver: str) -> None:
    host, port = devserver.removeprefix("http://").split(":")
    first = b"POST /test/echo-body/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"abc")
    second = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(first + second)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 2, received
    assert b'{"received": 3}' in received


def test_unknown_api_urls_are_problem_404s_under_debug(devserver: str) -> None:
    for method, path in [("GET", "/api/v1/nope/"), ("POST", "/api/v1/documents"), ("DELETE", "/api/nothing")]:
        response = httpx.request(method, f"{devserver}{path}", timeout=30)
        assert response.status_code == 404, (method, path)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["instance"] == path
    assert "text/html" in httpx.get(f"{devserver}/nope/", timeout=30).headers["Content-Type"], (
        "outside /api/: Django's page"
    )
