"""The documents' real-time stream: their events, to subscribers of their tenant who may read them."""

from __future__ import annotations

from apps.documents import acl
from apps.realtime import Stream, declare_stream

__all__ = ["DOCUMENTS"]

DOCUMENTS = declare_stream(
    Stream(name="documents", events=("document.*",), subscribe_acl=acl.EVENTS, event_acl=acl.READ)
)
