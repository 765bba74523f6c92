"""Subscribe handlers to event types: `@handles("document.created")`, `@handles("document.*")`.

An event type has any number of subscribers, each named by its qualified name
(`module.function`): the name keys its record of the events it has handled
(`HandledEvent`), so one subscriber's failure or retry never runs another's effect again.
A pattern is a shell-style glob over the type (`document.*`, `*`).

Handlers live in `<app>/event_handlers.py` modules, imported by `EventsConfig.ready()` in
every process (web, worker, scripts), so the relay and the workers agree on the routes.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from functools import cache
from typing import TypeVar

from apps.events.errors import HandlerAlreadyRegistered
from apps.events.event import Event

__all__ = ["Handler", "handler_name", "handlers_for", "handles", "registered_event_types", "unregister"]

Handler = Callable[[Event], None]
H = TypeVar("H", bound=Handler)

# pattern -> {handler name -> handler}
_subscriptions: dict[str, dict[str, Handler]] = {}


def handler_name(handler: Handler) -> str:
    """The stable name of a subscriber: its module and qualified name."""
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def _defined_at(handler: Handler) -> tuple[str, int] | None:
    code = getattr(handler, "__code__", None)
    return None if code is None else (code.co_filename, code.co_firstlineno)


def handles(*patterns: str) -> Callable[[H], H]:
    """Subscribe the decorated function to every event type matching one of `patterns`.

    It runs inside a transaction with the record of (event id, its name), so its database
    effect happens once however often the event is delivered, whatever the other subscribers
    do. Raise `TransientError` to be retried later, anything else dead-letters the event.
    """
    if not patterns:
        raise TypeError("handles() needs at least one event type or pattern")

    def register(handler: H) -> H:
        name = handler_name(handler)
        for pattern in patterns:
            subscribers = _subscriptions.setdefault(pattern, {})
            existing = subscribers.get(name)
            # The same function imported again (autoreload, tests) replaces itself; two different ones
            # under one name would share one record of handled events.
            if existing is not None and existing is not handler and _defined_at(existing) != _defined_at(handler):
                raise HandlerAlreadyRegistered(
                    f"two handlers of {pattern!r} are named {name}; give them different names "
                    "(the name keys the record of the events each has handled)"
                )
            subscribers[name] = handler
        _matching.cache_clear()
        return handler

    return register


@cache
def _matching(event_type: str) -> tuple[tuple[str, Handler], ...]:
    found: dict[str, Handler] = {}
    for pattern, subscribers in _subscriptions.items():
        if pattern == event_type or fnmatchcase(event_type, pattern):
            found.update(subscribers)
    return tuple(sorted(found.items()))


def handlers_for(event_type: str) -> list[tuple[str, Handler]]:
    """`(name, handler)` of every subscriber of `event_type`, each once, in name order (maybe none)."""
    return list(_matching(event_type))


def registered_event_types() -> list[str]:
    """The types and patterns that have subscribers."""
    return sorted(pattern for pattern, subscribers in _subscriptions.items() if subscribers)


def unregister(pattern: str, handler: Handler | None = None) -> None:
    """Forget `handler`'s subscription to `pattern`, or every subscriber of it (tests' throwaway handlers)."""
    subscribers = _subscriptions.get(pattern, {})
    if handler is None:
        subscribers.clear()
    else:
        subscribers.pop(handler_name(handler), None)
    _matching.cache_clear()
