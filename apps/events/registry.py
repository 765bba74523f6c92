"""Route each event type to exactly one handler: `@handles("document.created")`.

Handlers live in `<app>/event_handlers.py` modules, imported by `EventsConfig.ready()` in
every process (web, worker, scripts), so the relay and the workers agree on the routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from apps.events.errors import HandlerAlreadyRegistered, UnknownEventType
from apps.events.event import Event

__all__ = ["Handler", "handler_for", "handles", "registered_event_types", "unregister"]

Handler = Callable[[Event], None]
H = TypeVar("H", bound=Handler)

_handlers: dict[str, Handler] = {}


def _qualified_name(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def handles(event_type: str) -> Callable[[H], H]:
    """Register the decorated function as *the* handler of `event_type`.

    It runs inside a transaction with the record of the event's id, so its database
    effect happens once however often the event is delivered. Raise `TransientError`
    to be retried later, anything else dead-letters the event.
    """

    def register(handler: H) -> H:
        existing = _handlers.get(event_type)
        # Re-importing the same module (autoreload, tests) registers the same function again: fine.
        if existing is not None and _qualified_name(existing) != _qualified_name(handler):
            raise HandlerAlreadyRegistered(
                f"{event_type!r} is already handled by {_qualified_name(existing)}; one handler per event type"
            )
        _handlers[event_type] = handler
        return handler

    return register


def handler_for(event_type: str) -> Handler:
    try:
        return _handlers[event_type]
    except KeyError:
        raise UnknownEventType(f"no handler is registered for {event_type!r}") from None


def registered_event_types() -> list[str]:
    return sorted(_handlers)


def unregister(event_type: str) -> None:
    """Forget the handler of `event_type` (tests that register throwaway handlers)."""
    _handlers.pop(event_type, None)
