"""Fixtures of the events tests: test handlers registered, the relay's broker circuit closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.events.handlers  # noqa: F401 - registers the test-only event types
from apps.events import relay
from project.celery import app


@pytest.fixture(autouse=True)
def _broker_circuit_closed() -> Iterator[None]:
    relay._mark_broker(down=False)
    yield
    relay._mark_broker(down=False)


@pytest.fixture
def eager() -> Iterator[None]:
    """The embedded default's Celery mode (no broker), whatever this run's environment says."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous
