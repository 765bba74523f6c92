"""Drill: RabbitMQ goes away under a running service. Writes still succeed, at once; their events are delivered later.

The service (gunicorn) reaches RabbitMQ through a TCP proxy on its own port; stopping the
proxy is the outage, stalling it a black-holed broker (connections accepted, never
answered). Queue names are unique to the run and deleted afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Connection

from tests.broker_channel import amqp_channel, queue_depth
from tests.processes import SERVICE_VARIABLES, TcpProxy, manage
from tests.security.conftest import gunicorn


@dataclass
class Drill:
    """The service's environment (SQLite file, broker through the proxy, own queues) and a user's token."""

    database: Path
    variables: dict[str, str]
    token: str

    def outbox(self) -> list[tuple[str, str]]:
        with sqlite3.connect(self.database) as db:
            return list(db.execute("SELECT event_type, status FROM events_outbox ORDER BY occurred_at"))

    def timed(self, method: str, url: str, **options: Any) -> float:
        """Seconds the request took; it must succeed."""
        started = time.monotonic()
        response = httpx.request(method, url, headers={"X-Auth-Token": self.token}, timeout=30, **options)
        assert response.is_success, response.text
        return time.monotonic() - started

    def relay_once(self) -> None:
        """What beat's relay or `events_relay` does when the broker is back."""
        relayed = manage("events_relay", "--once", env=self.variables | _inherited(), timeout=120)
        assert relayed.returncode == 0, relayed.stderr

    def queue_depth(self, broker_url: str) -> int:
        with Connection(broker_url) as connection:
            return queue_depth(connection.default_channel, self.variables["EVENTS_QUEUE"])


@pytest.fixture
def drill(broker_url: str, broker_proxy: TcpProxy, accent_auth_standin: Any, tmp_path: Path) -> Iterator[Drill]:
    suffix = uuid.uuid4().hex[:8]
    database = tmp_path / "drill.sqlite3"
    variables = {
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": broker_proxy.url(broker_url),  # same vhost as the checks below
        "CELERY_BROKER_CONNECTION_TIMEOUT": "1",
        "EVENTS_RELAY_INTERVAL": "1",
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
        yield Drill(database, variables, token)
    finally:
        with Connection(broker_url) as connection:
            channel = amqp_channel(connection.default_channel)
            for name in ("EVENTS_QUEUE", "CELERY_TASK_DEFAULT_QUEUE", "EVENTS_DEAD_LETTER_QUEUE"):
                channel.queue_delete(variables[name])
            channel.exchange_delete(variables["EVENTS_DEAD_LETTER_EXCHANGE"])


def test_writes_succeed_while_rabbitmq_is_down_and_their_events_are_delivered_after_it_returns(
    broker_url: str, broker_proxy: TcpProxy, drill: Drill
) -> None:
    with gunicorn(settings_module="project.settings", **drill.variables) as base_url:  # type: ignore[arg-type]  # URLs only
        broker_proxy.stop()  # RabbitMQ is gone for the service
        for index in range(3):
            elapsed = drill.timed("POST", f"{base_url}/api/v1/documents/", json={"title": f"outage {index}"})
            assert elapsed < 10, "a write must not wait long on a broker that is down"
        assert drill.outbox() == [("document.created", "pending")] * 3

        broker_proxy.start()  # RabbitMQ is back; the relay (beat or events_relay) catches up
        drill.relay_once()
        assert drill.outbox() == [("document.created", "sent")] * 3
        assert drill.queue_depth(broker_url) == 3, "each event reached the broker exactly once"


def test_a_black_holed_broker_never_makes_a_write_wait_and_its_events_go_out_when_it_answers(
    broker_url: str, broker_proxy: TcpProxy, drill: Drill
) -> None:
    broker_proxy.stall()  # connections to "RabbitMQ" are accepted and never answered
    # Each connect to the black hole costs the connect timeout: 10 s here (1 s elsewhere), so a write that
    # waited on one is far from a write that is merely slow on a loaded machine.
    variables = drill.variables | {"CELERY_BROKER_CONNECTION_TIMEOUT": "10"}
    with gunicorn(settings_module="project.settings", **variables) as base_url:  # type: ignore[arg-type]  # URLs only
        documents = f"{base_url}/api/v1/documents/"
        drill.timed("GET", documents)  # warms the token cache and the worker
        baseline = max(drill.timed("GET", documents) for _ in range(3))  # the same stack, no event
        writes = []
        for index in range(3):
            writes.append(drill.timed("POST", documents, json={"title": f"black hole {index}"}))
            time.sleep(1.2)  # past EVENTS_RELAY_INTERVAL: the relay tries the broker again
        # A connect to the black hole costs CELERY_BROKER_CONNECTION_TIMEOUT (10 s) at least, each try.
        assert max(writes) < baseline + 3.0, f"writes {writes} s, reads {baseline} s"
        assert drill.outbox() == [("document.created", "pending")] * 3

        broker_proxy.start()  # the broker answers again
        drill.relay_once()
        assert drill.outbox() == [("document.created", "sent")] * 3
        assert drill.queue_depth(broker_url) == 3, "each event reached the broker exactly once"


def _inherited() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
