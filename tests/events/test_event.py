"""The event on the wire: plain JSON that round-trips."""

from __future__ import annotations

import json
import uuid

import pytest
from django.utils import timezone

from apps.events import Event


def test_an_event_round_trips_through_json() -> None:
    event = Event(
        id=uuid.uuid4(),
        type="t",
        version=3,
        occurred_at=timezone.now(),
        aggregate="a",
        aggregate_id="7",
        payload={"n": [1, {"x": None}]},
        actor="user",
        tenant=uuid.uuid4(),
        request_id="r",
    )
    assert Event.from_message(json.loads(json.dumps(event.to_message()))) == event


@pytest.mark.parametrize("broken", [{}, {"id": "not-a-uuid"}, {"payload": [1]}])
def test_a_malformed_message_raises(broken: dict[str, object]) -> None:
    message: dict[str, object] = {"id": str(uuid.uuid4()), "type": "t", "version": 1}
    message |= {"occurred_at": timezone.now().isoformat(), "aggregate": "a", "aggregate_id": "1"}
    message = {} if not broken else message | broken
    with pytest.raises((KeyError, ValueError)):
        Event.from_message(message)  # type: ignore[arg-type]
