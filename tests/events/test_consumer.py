"""consume(): the handler's effect and the processed-event record commit together, once."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from apps.core.context import current_actor, current_request_id, current_tenant
from apps.events import Event, PermanentError, UnknownEventType, handles
from apps.events.consumer import consume
from apps.events.models import ProcessedEvent
from apps.events.registry import unregister
from tests.events.handlers import BROKEN, RECORD, effects

pytestmark = pytest.mark.django_db


def make_event(event_type: str = RECORD, **fields: object) -> Event:
    values: dict[str, object] = {"id": uuid.uuid4(), "type": event_type, "version": 1, "occurred_at": timezone.now()}
    values |= {"aggregate": "label", "aggregate_id": "1"} | fields
    return Event(**values)  # type: ignore[arg-type]


def test_a_second_delivery_of_the_same_event_has_no_effect() -> None:
    event = make_event()
    assert consume(event) == "handled"
    assert consume(event) == "duplicate"
    assert effects(event) == 1
    assert ProcessedEvent.objects.filter(event_id=event.id).count() == 1


def test_a_failing_handler_leaves_neither_effect_nor_record() -> None:
    event = make_event(BROKEN)
    with pytest.raises(PermanentError):
        consume(event)
    assert effects(event) == 0
    assert not ProcessedEvent.objects.filter(event_id=event.id).exists()


def test_the_handler_runs_as_the_events_actor_tenant_and_request() -> None:
    seen: list[tuple[object, ...]] = []

    @handles("test.events.context")
    def capture(event: Event) -> None:
        seen.append((current_actor(), current_tenant(), current_request_id()))

    tenant = uuid.uuid4()
    try:
        consume(make_event("test.events.context", actor="user-5", tenant=tenant, request_id="req-5"))
        anonymous = make_event("test.events.context")
        consume(anonymous)
    finally:
        unregister("test.events.context")
    assert seen == [("user-5", tenant, "req-5"), (None, None, str(anonymous.id))]
    assert current_actor() is None, "nothing leaks out of the handler"


def test_an_event_nobody_handles_is_a_permanent_error() -> None:
    with pytest.raises(UnknownEventType):
        consume(make_event("test.events.nobody"))
