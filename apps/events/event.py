"""The domain event: what happened, to which aggregate, on whose behalf. Immutable, JSON on the wire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

__all__ = ["Event", "JSONValue", "Payload"]

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
Payload: TypeAlias = dict[str, JSONValue]


@dataclass(frozen=True)
class Event:
    """One domain event. `id` is a UUIDv7 (time-ordered), unique across redeliveries and replays."""

    id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    aggregate: str
    aggregate_id: str
    payload: Payload = field(default_factory=dict)
    actor: str | None = None
    tenant: uuid.UUID | None = None
    request_id: str | None = None

    def to_message(self) -> dict[str, JSONValue]:
        """The task argument sent to the broker (plain JSON, nothing pickled)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "aggregate": self.aggregate,
            "aggregate_id": self.aggregate_id,
            "payload": self.payload,
            "actor": self.actor,
            "tenant": str(self.tenant) if self.tenant is not None else None,
            "request_id": self.request_id,
        }

    @classmethod
    def from_message(cls, message: dict[str, JSONValue]) -> Event:
        """Rebuild the event a relay sent; `KeyError`/`ValueError` on a malformed message (permanent)."""
        tenant = message.get("tenant")
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            raise ValueError("event payload must be a JSON object")
        return cls(
            id=uuid.UUID(str(message["id"])),
            type=str(message["type"]),
            version=int(str(message["version"])),
            occurred_at=datetime.fromisoformat(str(message["occurred_at"])),
            aggregate=str(message["aggregate"]),
            aggregate_id=str(message["aggregate_id"]),
            payload=payload,
            actor=str(message["actor"]) if message.get("actor") is not None else None,
            tenant=uuid.UUID(str(tenant)) if tenant is not None else None,
            request_id=str(message["request_id"]) if message.get("request_id") is not None else None,
        )
