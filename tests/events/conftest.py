"""Fixtures of the events tests: test handlers registered, the relay's broker circuit closed, own queues."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection
from pytest_django.fixtures import Settings as SettingsWrapper

import tests.events.handlers  # noqa: F401 - registers the test-only event types
from apps.events import background_relay, relay
from apps.events.dead_letters import declare_topology
from project.celery import app
from tests.broker_channel import amqp_channel


@pytest.fixture(autouse=True)
def _broker_circuit_closed() -> Iterator[None]:
    relay.broker_breaker().reset()
    yield
    # A run the test started in the background must not outlive the test (its database, its settings).
    assert background_relay.wait_until_idle(timeout=30), "the background relay is still busy"
    relay.broker_breaker().reset()


@pytest.fixture
def eager() -> Iterator[None]:
    """The embedded default's Celery mode (no broker), whatever this run's environment says."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def queue_names(suffix: str) -> dict[str, str]:
    """Settings naming the event queues of one test run on the shared broker."""
    return {
        "EVENTS_QUEUE": f"test-events-{suffix}",
        "EVENTS_DEAD_LETTER_EXCHANGE": f"test-dlx-{suffix}",
        "EVENTS_DEAD_LETTER_QUEUE": f"test-dlq-{suffix}",
        "CELERY_TASK_DEFAULT_QUEUE": f"test-tasks-{suffix}",
    }


def delete_declared(broker_url: str, names: dict[str, str]) -> None:
    with Connection(broker_url, connect_timeout=5) as broker:
        channel = amqp_channel(broker.channel())
        for name in (names["EVENTS_QUEUE"], names["EVENTS_DEAD_LETTER_QUEUE"], names["CELERY_TASK_DEFAULT_QUEUE"]):
            channel.queue_delete(name)
        for name in (names["EVENTS_QUEUE"], names["EVENTS_DEAD_LETTER_EXCHANGE"], names["CELERY_TASK_DEFAULT_QUEUE"]):
            channel.exchange_delete(name)
        channel.close()


@pytest.fixture
def event_queues(broker_url: str, settings: SettingsWrapper) -> Iterator[dict[str, str]]:
    """Celery on the real RabbitMQ (not eager) with queues of this test only, declared, deleted after."""
    names = queue_names(uuid.uuid4().hex[:10])
    for name, value in names.items():
        setattr(settings, name, value)
    settings.CELERY_BROKER_URL = broker_url
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    declare_topology(broker_url=broker_url)
    try:
        yield names
    finally:
        app.conf.task_always_eager = previous
        delete_declared(broker_url, names)


@pytest.fixture
def black_hole_broker(settings: SettingsWrapper) -> Iterator[str]:
    """CELERY_BROKER_URL on a socket that listens and never answers (connects hang), Celery not eager."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes the handshakes; nothing ever reads or answers
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{listener.getsockname()[1]}//"
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield settings.CELERY_BROKER_URL
    finally:
        assert background_relay.wait_until_idle(timeout=30)
        app.conf.task_always_eager = previous
        listener.close()
