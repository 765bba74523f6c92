"""One handler per event type."""

from __future__ import annotations

import pytest

from apps.events import Event, HandlerAlreadyRegistered, handles
from apps.events.registry import handler_for, registered_event_types, unregister
from tests.events.handlers import RECORD, record


def test_each_event_type_routes_to_its_one_handler() -> None:
    assert handler_for(RECORD) is record
    assert RECORD in registered_event_types()


def test_a_second_handler_for_a_type_is_refused() -> None:
    with pytest.raises(HandlerAlreadyRegistered, match="one handler per event type"):

        @handles(RECORD)
        def another(event: Event) -> None: ...

    assert handler_for(RECORD) is record


def test_registering_the_same_function_again_is_harmless() -> None:
    def handler(event: Event) -> None: ...

    try:
        handles("test.events.twice")(handler)
        handles("test.events.twice")(handler)
        assert handler_for("test.events.twice") is handler
    finally:
        unregister("test.events.twice")
