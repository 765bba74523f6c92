"""Streams: what a WebSocket subscriber may ask for, which events it carries, and the ACLs that guard it.

A stream is declared once by its feature (`<app>/realtime.py`); the fan-out subscribes to its
event types and the consumer checks its ACLs, so neither names a feature. Each tenant has its own
group per stream: an event reaches only sockets of the event's tenant.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.utils.module_loading import autodiscover_modules

from apps.accent_auth.acl import AccessCheck, fill_required_acl
from apps.core.errors import PermissionDenied

__all__ = [
    "RecentEvents",
    "Stream",
    "declare_stream",
    "discover_streams",
    "stream_named",
    "streams",
    "streams_carrying",
]

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_streams: dict[str, Stream] = {}


@dataclass(frozen=True)
class Stream:
    """`name`: what a client subscribes to; `events`: the event types it carries (shell-style patterns).

    `subscribe_acl`: the ACL a token needs to subscribe. `event_acl`: the ACL it needs to receive one
    event, a template whose `{pk}` is the event's aggregate id (`documents.{pk}.read`).
    """

    name: str
    events: tuple[str, ...]
    subscribe_acl: str
    event_acl: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"stream name {self.name!r}: lowercase letters, digits, - and _, at most 40")
        if not self.events:
            raise ValueError(f"stream {self.name!r} carries no event type")

    def carries(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, pattern) for pattern in self.events)

    def group(self, tenant: uuid.UUID) -> str:
        """The channel-layer group of this stream's subscribers in `tenant`."""
        return f"{self.name}.{tenant.hex}"

    def demand_subscribe(self, tenant: uuid.UUID | None, check: AccessCheck) -> None:
        """Refuse (`PermissionDenied`) a token that acts in no tenant or lacks `subscribe_acl`.

        The one rule of both sockets: the events socket closes with 4403, a GraphQL subscription
        ends with the error.
        """
        if tenant is None:
            raise PermissionDenied("The token acts in no tenant: it can subscribe to nothing.")
        if not check.matches_required_access(self.subscribe_acl):
            raise PermissionDenied(f"Subscribing to {self.name!r} requires the ACL '{self.subscribe_acl}'.")

    def may_receive(self, check: AccessCheck, aggregate_id: str) -> bool:
        return check.matches_required_access(fill_required_acl(self.event_acl, {"pk": aggregate_id}))


class RecentEvents:
    """The last `size` event keys a subscriber was handed: a redelivered event is written once."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.keys: OrderedDict[str, None] = OrderedDict()

    def first_sight(self, key: str) -> bool:
        if key in self.keys:
            return False
        self.keys[key] = None
        if len(self.keys) > self.size:
            self.keys.popitem(last=False)
        return True


def declare_stream(stream: Stream) -> Stream:
    """Register `stream` (again, identically, is fine: modules are re-imported by autoreload and tests)."""
    existing = _streams.get(stream.name)
    if existing is not None and existing != stream:
        raise ValueError(f"two different streams are named {stream.name!r}")
    _streams[stream.name] = stream
    return stream


def discover_streams() -> tuple[Stream, ...]:
    """Import every installed app's `realtime` module (where streams are declared); the streams."""
    autodiscover_modules("realtime")
    return streams()


def streams() -> tuple[Stream, ...]:
    return tuple(_streams.values())


def stream_named(name: object) -> Stream | None:
    return _streams.get(name) if isinstance(name, str) else None


def streams_carrying(event_type: str) -> list[Stream]:
    return [stream for stream in _streams.values() if stream.carries(event_type)]
