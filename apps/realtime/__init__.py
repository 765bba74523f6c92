"""Real-time notifications over WebSocket (`/ws/v1/events/`): domain events pushed to subscribers.

A feature declares what its subscribers may see once, in `<app>/realtime.py`:

    DOCUMENTS = declare_stream(Stream(
        name="documents", events=("document.*",), subscribe_acl="documents.events.read",
        event_acl="documents.{pk}.read",
    ))

Events reach sockets from the outbox path (relay → broker → worker → channel layer), so a
write in any process notifies every subscriber of every web process. docs/realtime.md.
"""

from apps.realtime.streams import Stream, declare_stream, streams

__all__ = ["Stream", "declare_stream", "streams"]
