"""Ready-made consumers: `invalidate_tags_on(event_type, tags)` drops cache tags when an event arrives.

    invalidate_tags_on("document.updated", lambda event: [f"document:{event.aggregate_id}"])

The worker that handles the event clears the tags in the shared Redis, so every web
process stops serving the stale entry (cross-process invalidation). The invalidation
runs when the handler's transaction commits (`apps.caching` queues it to on_commit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from apps.caching import invalidate_tags
from apps.events.event import Event
from apps.events.registry import Handler, handles

__all__ = ["invalidate_tags_on"]


def invalidate_tags_on(event_type: str, tags: Callable[[Event], Iterable[str]]) -> Handler:
    """Register the handler of `event_type` that invalidates `tags(event)`; returns it."""

    def invalidate(event: Event) -> None:
        invalidate_tags(tags(event))

    invalidate.__qualname__ = f"invalidate_tags_on[{event_type}]"
    return handles(event_type)(invalidate)
