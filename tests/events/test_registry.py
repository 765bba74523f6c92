"""Subscribers: any number per event type, patterns like `document.*`, each once, named stably."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.events import Event, HandlerAlreadyRegistered, handles
from apps.events.registry import handler_name, handlers_for, registered_event_types, unregister
from tests.events.handlers import RECORD, record

TYPE = "test.registry.thing_happened"


@pytest.fixture
def throwaway() -> Iterator[None]:
    yield
    for pattern in (TYPE, "test.registry.*", "test.registry.other"):
        unregister(pattern)


def first(event: Event) -> None: ...


def second(event: Event) -> None: ...


def test_an_event_type_routes_to_its_subscriber_by_its_stable_name() -> None:
    assert handlers_for(RECORD) == [("tests.events.handlers.record", record)]
    assert handler_name(record) == "tests.events.handlers.record"
    assert RECORD in registered_event_types()


@pytest.mark.usefixtures("throwaway")
def test_several_subscribers_and_a_pattern_all_receive_the_type_each_once_in_name_order() -> None:
    handles(TYPE)(second)
    handles(TYPE)(first)
    handles("test.registry.*", TYPE)(first)  # matched twice: still run once
    assert [handler for _, handler in handlers_for(TYPE)] == [first, second]
    assert [handler for _, handler in handlers_for("test.registry.other")] == [first]
    assert handlers_for("test.elsewhere.thing_happened") == []


@pytest.mark.usefixtures("throwaway")
def test_unregistering_one_subscriber_keeps_the_others() -> None:
    handles(TYPE)(first)
    handles(TYPE)(second)
    unregister(TYPE, first)
    assert [handler for _, handler in handlers_for(TYPE)] == [second]


@pytest.mark.usefixtures("throwaway")
def test_registering_the_same_function_again_is_harmless() -> None:
    handles(TYPE)(first)
    handles(TYPE)(first)
    assert handlers_for(TYPE) == [(handler_name(first), first)]


@pytest.mark.usefixtures("throwaway")
def test_two_different_handlers_under_one_name_are_refused() -> None:
    handles(TYPE)(first)

    def clash(event: Event) -> None: ...

    clash.__qualname__ = first.__qualname__
    with pytest.raises(HandlerAlreadyRegistered, match="give them different names"):
        handles(TYPE)(clash)
    assert handlers_for(TYPE) == [(handler_name(first), first)]


def test_handles_needs_a_type() -> None:
    with pytest.raises(TypeError):
        handles()
