"""Test-only event types and their handlers, imported by the test process and by the real worker.

Effects are rows of `tests.testapp.Label` named after the event id, written in the handler's
transaction, so a test counts effects in the database the worker shares with it.
"""

from __future__ import annotations

import time

import structlog
from django.db import connection

from apps.events import Event, PermanentError, TransientError, handles, invalidate_tags_on
from tests.testapp.models import Label

RECORD = "test.events.record"
FLAKY = "test.events.flaky"
BROKEN = "test.events.broken"
INVALIDATE = "test.events.invalidate"
BACKEND = "test.events.backend"
HOLD = "test.events.hold"


def failure_switch(aggregate_id: str) -> str:
    """While a Label of this name exists, FLAKY events about `aggregate_id` fail transiently."""
    return f"fail:{aggregate_id}"


@handles(RECORD)
def record(event: Event) -> None:
    Label.objects.create(name=str(event.id))


@handles(FLAKY)
def flaky(event: Event) -> None:
    if Label.objects.filter(name=failure_switch(event.aggregate_id)).exists():
        raise TransientError("the dependency is down (test switch)")
    Label.objects.create(name=str(event.id))


@handles(BROKEN)
def broken(event: Event) -> None:
    Label.objects.create(name=str(event.id))  # rolled back with the failure
    raise PermanentError("this event can never be handled")


@handles(BACKEND)
def record_backend(event: Event) -> None:
    """Names the delivering connection by the backend key its server sent at login.

    The key, not `SELECT pg_backend_pid()`: behind PgBouncer each transaction may run on another server
    process, while the key (PgBouncer's own, per client connection) still names this connection.
    """
    connection.ensure_connection()
    Label.objects.create(name=f"{backend_label(event)}{connection.connection.info.backend_pid}")


def backend_label(event: Event) -> str:
    """The start of the label `record_backend` writes for `event` (PgBouncer's keys have 11 characters)."""
    return f"be:{event.id.hex}:"


def release_switch(event: Event) -> str:
    """HOLD's handler for `event` waits until a Label of this name exists."""
    return f"release:{event.id.hex}"


@handles(HOLD)
def hold(event: Event) -> None:
    """Writes its effect (uncommitted), logs `test_event_holding`, then waits up to 60 s to be released.

    A worker to kill in the middle of a task: its transaction and its unacknowledged message are
    what the broker and the database make of a process that vanished.
    """
    Label.objects.create(name=str(event.id))
    structlog.get_logger(__name__).info("test_event_holding", event_id=str(event.id))
    deadline = time.monotonic() + 60
    while not Label.objects.filter(name=release_switch(event)).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.05)


invalidate_tags_on(INVALIDATE, lambda event: [str(event.payload["tag"])])


def effects(event: Event) -> int:
    return Label.objects.filter(name=str(event.id)).count()
