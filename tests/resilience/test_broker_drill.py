"""Drill: RabbitMQ goes away under a running service. Writes still succeed; their events are delivered later.

The service (gunicorn) reaches RabbitMQ through a TCP proxy on its own port; stopping the
proxy is the outage. Queue names are unique to the run and deleted afterwards.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Connection

from tests.processes import TcpProxy, manage
from tests.security.conftest import gunicorn

ACME = "00000000-0000-4000-8000-00000000000a"


@pytest.fixture
def broker_proxy(broker_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", Connection(broker_url).port or 5672)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _outbox(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT event_type, status FROM events_outbox ORDER BY occurred_at"))


def test_writes_succeed_while_rabbitmq_is_down_and_their_events_are_delivered_after_it_returns(
    broker_url: str, broker_proxy: TcpProxy, accent_auth_standin: Any, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    database = tmp_path / "drill.sqlite3"
    broker_via_proxy = f"amqp://guest:guest@127.0.0.1:{broker_proxy.port}//"
    variables = {
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": broker_via_proxy,
        "CELERY_BROKER_CONNECTION_TIMEOUT": "1",
        "EVENTS_QUEUE": f"drill-events-{suffix}",
        "CELERY_TASK_DEFAULT_QUEUE": f"drill-tasks-{suffix}",
        "EVENTS_DEAD_LETTER_EXCHANGE": f"drill-dlx-{suffix}",
        "EVENTS_DEAD_LETTER_QUEUE": f"drill-dlq-{suffix}",
        "ACCENT_AUTH_URL": accent_auth_standin.url,
        "RATE_LIMIT_ENABLED": "false",
    }
    assert manage("migrate", "--noinput", env=variables | _inherited(), timeout=180).returncode == 0
    accent_auth_standin.reset()
    token = httpx.post(f"{accent_auth_standin.url}/token", auth=("alice", "alice"), json={}).json()["data"]["token"]
    try:
        with gunicorn(settings_module="project.settings", **variables) as base_url:
            broker_proxy.stop()  # RabbitMQ is gone for the service
            for index in range(3):
                started = time.monotonic()
                response = httpx.post(
                    f"{base_url}/api/v1/documents/",
                    json={"title": f"written during the outage {index}"},
                    headers={"X-Auth-Token": token},
                    timeout=30,
                )
                assert response.status_code == 201, response.text
                assert time.monotonic() - started < 10, "a write must not wait long on a broker that is down"
            assert _outbox(database) == [("document.created", "pending")] * 3

            broker_proxy.start()  # RabbitMQ is back; the relay (beat or events_relay) catches up
            relayed = manage("events_relay", "--once", env=variables | _inherited(), timeout=120)
            assert relayed.returncode == 0, relayed.stderr
            assert _outbox(database) == [("document.created", "sent")] * 3
            with Connection(broker_url) as connection:
                queue = connection.default_channel.queue_declare(variables["EVENTS_QUEUE"], passive=True)
            assert queue.message_count == 3, "each event reached the broker exactly once"
    finally:
        with Connection(broker_url) as connection:
            channel = connection.default_channel
            for name in ("EVENTS_QUEUE", "CELERY_TASK_DEFAULT_QUEUE", "EVENTS_DEAD_LETTER_QUEUE"):
                channel.queue_delete(variables[name])
            channel.exchange_delete(variables["EVENTS_DEAD_LETTER_EXCHANGE"])


def _inherited() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
