"""Failure drills: a real gunicorn, and dependencies the test starts on its own ports and then stops.

- Redis stopped under load: reads keep being served from the database (no 5xx), readiness
  says the cache is down, and caching resumes by itself when Redis is back.
- PostgreSQL unreachable: the API answers 503 problems, liveness stays 200.
- Accent-Auth stopped: tokens validated before keep working until their cache entry
  expires; a token never seen answers 503.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis import Redis

from devtools.accent_auth_standin import StandInAccentAuth
from tests.conftest import OwnRedisServer
from tests.processes import clean_env, free_port, manage
from tests.security.conftest import gunicorn

ACME = "00000000-0000-4000-8000-00000000000a"
DOCUMENTS = "/api/v1/documents/"


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('drills') / 'db.sqlite3'}"
    migrated = manage("migrate", "--noinput", env=clean_env(DATABASE_URL=url), timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    return url


@pytest.fixture
def own_accent_auth() -> Iterator[StandInAccentAuth]:
    server = StandInAccentAuth().start()
    try:
        yield server
    finally:
        server.stop()


def _login(auth: StandInAccentAuth, username: str) -> str:
    response = httpx.post(f"{auth.url}/token", auth=(username, username), json={"expiration": 600}, timeout=30)
    return str(response.json()["data"]["token"])


def test_postgresql_unreachable_answers_503_problems_and_liveness_stays_up(
    own_accent_auth: StandInAccentAuth,
) -> None:
    closed = free_port()
    database = f"postgres://postgres@127.0.0.1:{closed}/nowhere"
    with gunicorn(
        settings_module="project.settings",
        RATE_LIMIT_ENABLED="false",
        DATABASE_URL=database,
        ACCENT_AUTH_URL=own_accent_auth.url,
        DATABASE_CONNECT_TIMEOUT="1",
    ) as url:
        headers = {"X-Auth-Token": _login(own_accent_auth, "alice")}
        for response in (
            httpx.get(f"{url}{DOCUMENTS}", headers=headers, timeout=10),
            httpx.post(f"{url}{DOCUMENTS}", json={"title": "lost"}, headers=headers, timeout=10),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["code"] == "dependency_unavailable"
            assert response.headers["Retry-After"] == "5"
        assert httpx.get(f"{url}/health/live", timeout=30).status_code == 200
        ready = httpx.get(f"{url}/health/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"


def test_accent_auth_stopped_cached_tokens_work_until_expiry_unknown_ones_get_503(
    sqlite_url: str, own_accent_auth: StandInAccentAuth
) -> None:
    with gunicorn(
        settings_module="project.settings",
        RATE_LIMIT_ENABLED="false",
        DATABASE_URL=sqlite_url,
        ACCENT_AUTH_URL=own_accent_auth.url,
        ACCENT_AUTH_CACHE_TTL="10",  # room for stopping the stand-in and two requests on a loaded machine
        workers=1,
    ) as url:
        seen = {"X-Auth-Token": _login(own_accent_auth, "alice")}
        unseen = {"X-Auth-Token": _login(own_accent_auth, "bob")}
        assert httpx.get(f"{url}{DOCUMENTS}", headers=seen, timeout=30).status_code == 200
        validated_at = time.monotonic()
        # Closing the listener leaves kept-alive connections served by the stand-in's handler threads;
        # answering 503 on those too makes it down for every connection the service holds.
        own_accent_auth.set_unavailable(True)
        own_accent_auth.stop()
        assert httpx.get(f"{url}{DOCUMENTS}", headers=seen, timeout=10).status_code == 200, "served from cache"
        unknown = httpx.get(f"{url}{DOCUMENTS}", headers=unseen, timeout=10)
        assert unknown.status_code == 503
        assert unknown.headers["Content-Type"] == "application/problem+json"
        time.sleep(max(0.0, validated_at + 10.2 - time.monotonic()))  # cached before validated_at
        expired = httpx.get(f"{url}{DOCUMENTS}", headers=seen, timeout=10)
        assert expired.status_code == 503, "after its cache entry expires the token needs Accent-Auth again"


def test_redis_stopped_under_load_reads_come_from_the_database_and_caching_resumes(
    sqlite_url: str, own_redis_server: OwnRedisServer, own_accent_auth: StandInAccentAuth
) -> None:
    with gunicorn(
        settings_module="project.settings",
        RATE_LIMIT_ENABLED="false",
        DATABASE_URL=sqlite_url,
        REDIS_URL=own_redis_server.url,
        ACCENT_AUTH_URL=own_accent_auth.url,
        HEALTH_CACHE_SECONDS="0",
        REDIS_SOCKET_TIMEOUT="0.5",
        REDIS_CONNECT_TIMEOUT="0.5",
        workers=2,
    ) as url:
        headers = {"X-Auth-Token": _login(own_accent_auth, "root"), "Accent-Tenant": ACME}
        created = httpx.post(f"{url}{DOCUMENTS}", json={"title": "Under load"}, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        detail = f"{url}{DOCUMENTS}{created.json()['id']}/"
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(headers=headers, timeout=10) as client:
                while not stop.is_set():
                    statuses[client.get(detail).status_code] += 1

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(1.0)
            own_redis_server.stop()
            time.sleep(1.5)
            ready_while_down: Any = httpx.get(f"{url}/health/ready", timeout=10)
            own_redis_server.start()
            time.sleep(2.5)  # past the cache's outage back-off
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=20)
        assert set(statuses) == {200}, statuses
        assert statuses[200] > 20
        assert ready_while_down.status_code == 200, "the cache is optional: degraded, still ready"
        assert ready_while_down.json()["checks"]["cache"] != "ok"
        assert httpx.get(f"{url}/health/ready", timeout=30).json()["checks"]["cache"] == "ok"
        started = time.monotonic()
        assert httpx.get(detail, headers=headers, timeout=30).status_code == 200
        print(f"read after recovery took {time.monotonic() - started:.2f}s")
        redis = Redis.from_url(own_redis_server.url)
        assert redis.dbsize() > 0, "the restarted Redis is filled again without restarting the service"
        redis.close()
