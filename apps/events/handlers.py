"""Ready-made consumers: `invalidate_tags_on(event_type, tags)` drops cache tags when an event arrives.

    invalidate_tags_on("catalog.price_changed", lambda event: [f"product:{event.aggregate_id}"])

For entries made stale by something this process did not write: an event another service
publishes, a change a task makes outside the core models. A write through the core models
needs none of this: its model's declaration (`apps.core.side_effects`) invalidates at commit.
The invalidation runs when the handler's transaction commits (`apps.caching` queues it to on_commit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from apps.caching import invalidate_tags
from apps.events.event import Event
from apps.events.registry import Handler, handles

__all__ = ["invalidate_tags_on"]


def invalidate_tags_on(event_type: str, tags: Callable[[Event], Iterable[str]]) -> Handler:
    """Subscribe a handler of `event_type` (or a pattern) that invalidates `tags(event)`; returns it.

    Named after the module that calls this and the type: one such subscriber per module and type.
    """

    def invalidate(event: Event) -> None:
        invalidate_tags(tags(event))

    invalidate.__module__ = getattr(tags, "__module__", None) or __name__
    invalidate.__qualname__ = f"invalidate_tags_on[{event_type}]"
    return handles(event_type)(invalidate)
