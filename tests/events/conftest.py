"""Fixtures of the events tests: test handlers registered, the relay's broker circuit closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.events.handlers  # noqa: F401 - registers the test-only event types
from apps.events import relay


@pytest.fixture(autouse=True)
def _broker_circuit_closed() -> Iterator[None]:
    relay._mark_broker(down=False)
    yield
    relay._mark_broker(down=False)
