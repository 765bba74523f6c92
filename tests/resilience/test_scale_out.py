"""Two app processes behind one load balancer share what must be shared: invalidation and rate limits.

Two gunicorn servers (each its own processes, as two pods are) on one database and one Redis,
with the stand-in Accent-Auth: a write through one invalidates what the other cached, and the
per-IP rate limit counts the requests of both (docs/scaling.md). Needs Redis: without it each
process has its own local-memory cache and its own limits, which is what the embedded default is.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import clean_env, free_port, manage, running_server, server_database
from tests.realtime.test_server import login

pytestmark = [pytest.mark.process, pytest.mark.service("redis")]

LIMIT = 40  # per IP per minute, across both servers


@dataclass(frozen=True)
class Pods:
    first: str
    second: str


@contextmanager
def _two_pods(directory: Path, redis_url: str, accent_auth_standin: Any, **variables: str) -> Iterator[Pods]:
    """Two gunicorn servers (two workers each) of one service: one database, one Redis, one key prefix."""
    with server_database(directory, "scale_out") as database_url:
        env = clean_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            ACCENT_AUTH_URL=accent_auth_standin.url,
            CACHE_KEY_PREFIX=f"scale-out-{uuid.uuid4().hex[:8]}",  # one service: both pods share it
            LOG_LEVEL="WARNING",
            **variables,
        )
        migrated = manage("migrate", "--noinput", env=env, timeout=180)
        assert migrated.returncode == 0, migrated.stderr
        ports = free_port(), free_port()
        commands = [
            [sys.executable, "-m", "gunicorn", "project.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2"]
            for port in ports
        ]
        with (
            running_server(commands[0], port=ports[0], env=env, ready_path="/health/live") as first,
            running_server(commands[1], port=ports[1], env=env, ready_path="/health/live") as second,
        ):
            yield Pods(first, second)


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory, redis_url: str, accent_auth_standin: Any) -> Iterator[Pods]:
    directory = tmp_path_factory.mktemp("scale-out")
    with _two_pods(directory, redis_url, accent_auth_standin, RATE_LIMIT_ENABLED="false") as running:
        yield running


@pytest.fixture
def limited_pods(tmp_path: Path, redis_url: str, accent_auth_standin: Any) -> Iterator[Pods]:
    with _two_pods(tmp_path, redis_url, accent_auth_standin, RATE_LIMIT_PER_IP=f"{LIMIT}/minute") as running:
        yield running


def _titles(base_url: str, token: str) -> list[str]:
    response = httpx.get(f"{base_url}/api/v1/documents/", headers={"X-Auth-Token": token}, timeout=10)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["results"]]


def test_a_write_through_one_pod_invalidates_what_the_other_cached(pods: Pods, accent_auth_standin: Any) -> None:
    token = login(accent_auth_standin, "alice")
    before = _titles(pods.second, token)
    assert _titles(pods.second, token) == before, "served again (from the shared cache)"
    title = f"scale-out {uuid.uuid4().hex[:8]}"
    created = httpx.post(
        f"{pods.first}/api/v1/documents/", headers={"X-Auth-Token": token}, json={"title": title}, timeout=10
    )
    assert created.status_code == 201, created.text
    # Every worker process of the other pod reads the new list at once: no stale page after the commit.
    assert all(title in _titles(pods.second, token) for _ in range(6))
    renamed = httpx.patch(
        f"{pods.first}/api/v1/documents/{created.json()['id']}/",
        headers={"X-Auth-Token": token, "If-Match": created.headers["ETag"]},
        json={"title": f"{title} renamed"},
        timeout=10,
    )
    assert renamed.status_code == 200, renamed.text
    assert all(f"{title} renamed" in _titles(pods.second, token) for _ in range(6))
    assert all(title not in _titles(pods.second, token) for _ in range(6))


def test_the_rate_limit_counts_the_requests_of_both_pods(limited_pods: Pods) -> None:
    """In parallel, alternately on each pod: exactly LIMIT get through in all, the rest are 429 problems."""
    threads = 16
    barrier = threading.Barrier(threads)
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(timeout=20, limits=limits) as client:

        def send(index: int) -> int:
            if index < threads:
                barrier.wait(timeout=10)
            # Unauthenticated: a 401 counts as much as any answer, and costs no Accent-Auth call.
            response = client.get(f"{(limited_pods.first, limited_pods.second)[index % 2]}/api/v1/documents/")
            if response.status_code == 429:
                assert response.headers["Content-Type"] == "application/problem+json"
            return response.status_code

        with ThreadPoolExecutor(threads) as pool:
            statuses = Counter(pool.map(send, range(LIMIT * 2)))
    assert statuses[429] == LIMIT, statuses
    assert sum(count for status, count in statuses.items() if status != 429) == LIMIT, statuses
